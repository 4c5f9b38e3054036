"""A config whose text is formatted once per distinct content, not at every request.

mmengine's ``Config.pretty_text`` renders the config as Python and formats the result with
yapf on every call, and a run asks for it many times: the Runner's dumped ``config.py``, the
log's ``Config:`` block, each visualizer backend's ``add_config``, the message hub before
training, and the ``meta`` of every checkpoint; ``tools/test.py`` asks again. yapf takes
0.2 to 0.5 s per call on a 2-core machine, so a short tool run spent seconds formatting the
same text. (mmengine's ``format_python_code=False`` would skip yapf, but its
``Config.fromfile`` drops that argument for every config that is not a lazy-import one, and
the files written would lose their layout.)

:class:`OnceFormattedConfig` returns exactly the text mmengine gives: the formatted text is a
function of the unformatted one (yapf of mmengine's rendering of ``to_dict()``), so the
unformatted rendering, which costs about a millisecond, keys a small cache of formatted
texts; when it is full the oldest text leaves it. mmengine copies a config as its own
class (``copy.deepcopy`` in the Runner, pickling for data-loader workers), so every copy
keeps the cache.
"""
from mmengine.config import Config

MAX_CACHED_TEXTS = 16


class OnceFormattedConfig(Config):
    """``mmengine.config.Config`` whose :attr:`pretty_text` runs yapf once per content."""

    # (unformatted text, whether to format) → pretty_text, shared by all configs
    _formatted_texts: dict[tuple[str, bool], str] = {}

    @classmethod
    def of(cls, cfg: Config) -> 'OnceFormattedConfig':
        """``cfg`` (its dict, file name, text and the rest of its state) as this class: a
        shallow copy, as ``Config.copy`` makes one."""
        once_formatted = cls.__new__(cls)
        once_formatted.__dict__.update(cfg.copy().__dict__)
        return once_formatted

    @property
    def pretty_text(self) -> str:
        """The config as formatted Python text, as ``Config.pretty_text`` gives it."""
        key = (Config(self.to_dict(), format_python_code=False).pretty_text,
               self._format_python_code)
        text = self._formatted_texts.get(key)
        if text is None:
            text = super().pretty_text
            if len(self._formatted_texts) >= MAX_CACHED_TEXTS:
                del self._formatted_texts[next(iter(self._formatted_texts))]
            self._formatted_texts[key] = text
        return text
