"""What a run leaves in its work dir: mmengine's Runner, kept from overwriting a config it
reads and from leaving the folder of a run that never started.

mmengine's Runner writes the config it runs into its work dir under the config's file name.
rga_mm's own-data flow (docs/reid.md, "Train on your own data") runs the later commands on
that saved file, ``work_dirs/<run>/<config>.py``, whose work dir is the same folder: a
``tools/test.py`` of it then wrote its test-time changes (``load_from``, the ranked lists of
``--show-dir``) over the training run's config, and every later command read them. mmengine
has no setting for this, so the tools build a :class:`ConfigKeepingRunner` instead, which
writes the config as mmengine does except

* never over the file the run's config was read from (the run's config is still recorded,
  as by every Runner, by its visualizer's backends: mmengine's default ``LocalVisBackend``
  writes ``<work_dir>/<timestamp>/vis_data/config.py``);
* for a run that only tests (``replaces_saved_config=False``, tools/test.py), never over a
  config already saved in the work dir, a training run's;
* only when its training or testing starts (:class:`ConfigSavedWhenStarted`): a run that
  the tools refuse after building its Runner (a resume whose config changed, a classifier
  too small for its data, a metric option of the wrong type) leaves the saved config of the
  run it refused to change as it was, and writes none where there was none.

mmengine makes the run's folder, ``<work_dir>/<timestamp>``, first thing in the Runner's
``__init__``; a run whose Runner fails to build, or that is refused before its training or
testing starts (:func:`discarded_on_error`), removes it again, and the work dir where the
Runner made it, so that a mistyped config or a refused resume leaves no folder behind that
looks like a run. Its log then holds no
more than the environment and the config: the error itself is on the terminal.
"""
import os
import os.path as osp
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mmengine.dist import is_main_process
from mmengine.runner import Runner
from torch.nn import Module


class ConfigKeepingRunner(Runner):
    """mmengine's ``Runner`` whose :meth:`dump_config` keeps the config files above (module
    docstring); ``replaces_saved_config`` False for a run that only tests."""

    replaces_saved_config = True

    def __init__(self, *args, **kwargs) -> None:
        work_dir = kwargs.get('work_dir')
        self._makes_work_dir = isinstance(work_dir, str) and not osp.isdir(work_dir)
        with discarded_on_error(self):
            super().__init__(*args, **kwargs)

    def discard_run_folder(self) -> None:
        """Remove this run's folder (``<work_dir>/<timestamp>``), if it has one, and the
        work dir itself where the Runner made it and it is left empty, on the main process:
        for a run that ends before training or testing starts."""
        log_dir = getattr(self, '_log_dir', None)
        if log_dir is not None and is_main_process():
            shutil.rmtree(log_dir, ignore_errors=True)
            if self._makes_work_dir:
                with suppress(OSError):  # not empty: the run wrote something else there
                    os.rmdir(self._work_dir)

    def dump_config(self) -> None:
        """Save the config in the work dir as mmengine does, unless that would overwrite
        the config file the run read or (for a test) a config saved there before; then
        log where the run's config is recorded instead."""
        source = self.cfg.filename
        target = osp.join(self.work_dir, osp.basename(source)) if source else None
        if target is not None and osp.exists(target) and (
                not self.replaces_saved_config
                or (osp.exists(source) and osp.samefile(source, target))):
            self.logger.info(f'the config {target} is kept as it is; this run\'s config is '
                             f'recorded by the visualizer\'s backends (a LocalVisBackend '
                             f'writes {osp.join(self.log_dir, "vis_data", "config.py")})')
            return
        super().dump_config()


class ConfigSavedWhenStarted(ConfigKeepingRunner):
    """:class:`ConfigKeepingRunner` that saves its config when its run starts
    (:meth:`save_due_config`, called by the subclasses' ``train`` or ``test``), not when
    mmengine's ``__init__`` ends: a run refused in between leaves the work dir as it was."""

    _config_due = False

    def dump_config(self) -> None:
        self._config_due = True

    def save_due_config(self) -> None:
        """Save the config, once, as :meth:`ConfigKeepingRunner.dump_config` does."""
        if self._config_due:
            self._config_due = False
            super().dump_config()


class ConfigKeepingTestRunner(ConfigSavedWhenStarted):
    """The Runner of a run that only tests: it keeps a config saved in the work dir by a
    training run, and saves its own, where there is none, when testing starts."""

    replaces_saved_config = False

    def test(self) -> dict:
        self.save_due_config()
        return super().test()


class ConfigKeepingTrainRunner(ConfigSavedWhenStarted):
    """The Runner of a training run: it saves its config when training starts."""

    def train(self) -> Module:
        self.save_due_config()
        return super().train()


@contextmanager
def discarded_on_error(runner: ConfigKeepingRunner) -> Iterator[None]:
    """Remove ``runner``'s run folder if the block raises (any exception, a refusal's
    ``SystemExit`` included): for the checks between building a Runner and starting it."""
    try:
        yield
    except BaseException:
        runner.discard_run_folder()
        raise
