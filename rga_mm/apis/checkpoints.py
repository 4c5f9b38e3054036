"""Reading checkpoint files safely and checking that they fit the model they are meant for.

One path for every tool that takes weights (``tools/test.py``, ``tools/train.py``'s
``load_from`` and ``--resume``, ``tools/visualization/vis_attention.py``,
:func:`rga_mm.apis.init_model`):

1. :func:`read_checkpoint` reads the file with ``torch.load(weights_only=True)`` (a file
   from elsewhere cannot run pickled code; ``rga_mm.utils.setup_env`` allowlists what the
   Runner's own checkpoints need) and names the file in one sentence when it is empty,
   truncated, no checkpoint at all, or holds no state dict; it tells mmengine's
   ``last_checkpoint`` (a text file naming the last checkpoint) and a run's folder from a
   checkpoint, naming the file to give, and a URL that cannot be downloaded from one that
   holds no checkpoint.
2. :func:`check_resumable` refuses, for ``--resume``, a file that holds weights only.
3. :func:`check_checkpoint_fits` refuses a state dict whose tensor names or shapes differ
   from the model's. mmengine's Runner loads ``load_from`` with ``strict=False``: it logs
   the missing keys and goes on with random weights, so a wrong checkpoint gives a wrong
   number with exit status 0. Partial loading stays possible on purpose: ``--partial-load``
   in the tools, ``strict=False`` in :func:`rga_mm.apis.init_model`,
   :func:`rga_mm.apis.get_model` and :class:`rga_mm.apis.ReIDInferencer` (the refusal names
   both); even then a state dict that fills none of the model's tensors is refused. Where
   only the class count of a head differs (a checkpoint trained on other data), the refusal
   also names the ``num_classes`` to build the model with, for the tools and the API alike.

mmengine has the loading (``CheckpointLoader``, ``load_state_dict``) but none of these
checks, so they are written here; the loading itself stays mmengine's.
"""
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.error import HTTPError, URLError

import torch
from mmengine.runner import CheckpointLoader
from torch import nn

from rga_mm.checks import is_int
from rga_mm.models.backbones.stage_attention import as_model_reads

# the two ways to load a checkpoint partially: the tools' option and the API's argument
PARTIAL_HINT = ('if it is meant to fill only part of the model, pass --partial-load to a '
                'command-line tool, or strict=False to rga_mm.apis.init_model, get_model or '
                'ReIDInferencer, to load just the tensors whose names and shapes match')
# the first bytes of the files torch.save writes: a zip archive, or the legacy format's
# pickled magic number
TORCH_FILE_HEADS = (b'PK\x03\x04', b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19')
# the suffixes of config files: a config's text given as the checkpoint (the two arguments
# swapped) fails as an unsafe pickle when its first character is a pickle opcode ('c')
CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')
# the text file in a work dir that names the Runner's last checkpoint, and the largest
# size read as such a pointer (a path, not a checkpoint)
POINTER_NAME = 'last_checkpoint'
POINTER_MAX_BYTES = 4096
# a key of the official RGA code's re-ID network (microsoft/Relation-Aware-Global-Attention-
# Networks), which tools/model_converters/rga_official_to_mm.py converts
OFFICIAL_RGA_KEY = re.compile(r'^(module\.)?backbone\.rga_att[1-4]\.')
# BatchNorm counters that torch itself fills in when a checkpoint lacks them
OPTIONAL_KEY_SUFFIXES = ('num_batches_tracked', )


class CheckpointError(ValueError):
    """A checkpoint file that cannot serve as asked; the message names the file."""


def _first(names: Iterable[str], count: int = 3) -> str:
    names = list(names)
    shown = ', '.join(names[:count])
    return f'{shown}, ...' if len(names) > count else shown


def _unsafe_detail(error: Exception) -> str:
    """The line of torch's weights-only error that says what was refused."""
    text = str(error)
    for pattern in (r'(Unsupported global: GLOBAL \S+)', r"(refusing getattr\([^\n]*\))"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return ''


def _load_failure(error: Exception) -> str:
    """torch.load's error in a few words (its weights-only errors run to paragraphs)."""
    text = str(error).strip()
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1].strip()
    line = text.splitlines()[0][:200] if text else ''
    return f'{type(error).__name__}: {line}' if line else type(error).__name__


def _out_of_memory(error: Exception) -> bool:
    """Whether torch.load failed for want of memory: torch's CPU allocator raises a
    RuntimeError (``DefaultCPUAllocator: can't allocate memory``), not a MemoryError."""
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def _torch_load(path: str) -> object:
    """torch.load(weights_only=True); any failure but running out of memory (a MemoryError,
    also for torch's allocator error) or being denied the file is put down to the file's
    content: torch and pickle raise many exception types for a corrupt or foreign file (a
    truncated archive gives an OSError)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except MemoryError:
        raise
    except PermissionError as error:
        raise CheckpointError(f'cannot read checkpoint {path}: {error.strerror}') from None
    except Exception as error:
        if _out_of_memory(error):
            raise MemoryError(f'cannot allocate the memory to read checkpoint {path} '
                              f'({_load_failure(error)})') from error
        if Path(path).suffix.lower() in CONFIG_SUFFIXES and not _has_torch_head(path):
            raise CheckpointError(
                f'{path} is a config file, not a checkpoint: give the config first and the '
                f'checkpoint (.pth) second') from None
        unsafe = _unsafe_detail(error)
        if unsafe:
            raise CheckpointError(
                f'checkpoint {path} holds Python objects that safe loading refuses, because '
                f'rebuilding them could run code (Weights only load failed: {unsafe}); load '
                f'only checkpoints from a source you trust, saved as tensors') from None
        pointer = _pointer_refusal(path)
        if pointer:
            raise CheckpointError(pointer) from None
        reason = _load_failure(error)
        if _has_torch_head(path):
            raise CheckpointError(
                f'checkpoint {path} ({os.path.getsize(path)} bytes) is a PyTorch file that '
                f'is truncated or corrupt ({reason}); it was probably cut short while being '
                f'written or copied: copy it again or use another checkpoint') from None
        raise CheckpointError(
            f'{path} is not a PyTorch checkpoint: torch.load cannot read it ({reason}); give '
            f'a .pth file written by torch.save or by the Runner') from None


def _has_torch_head(path: str) -> bool:
    """Whether the file ``path`` starts as torch.save's files do (zip or legacy format)."""
    with open(path, 'rb') as file:
        head = file.read(len(TORCH_FILE_HEADS[1]))
    return any(head.startswith(magic) for magic in TORCH_FILE_HEADS)


def _pointer_target(path: str) -> str | None:
    """The checkpoint path a pointer file ``path`` holds: the one line of mmengine's
    ``last_checkpoint``, or of any small text file whose line names an existing ``.pth``
    file; None for any other file."""
    try:
        if os.path.getsize(path) > POINTER_MAX_BYTES:
            return None
        with open(path, encoding='utf-8') as file:
            named = file.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not named or '\n' in named or '\0' in named:
        return None
    if Path(path).name == POINTER_NAME:
        return named
    is_checkpoint = named.lower().endswith('.pth') and Path(named).is_file()
    return named if is_checkpoint else None


def _pointer_refusal(path: str) -> str | None:
    """The sentence refusing ``path`` as a pointer to a checkpoint (:func:`_pointer_target`),
    naming the file it points to; None when it is none."""
    target = _pointer_target(path)
    if target is None:
        return None
    what = ("mmengine's pointer to the last checkpoint" if Path(path).name == POINTER_NAME
            else "a text file naming a checkpoint, as mmengine's last_checkpoint does")
    if Path(target).is_file():
        return f'{path} is {what}, not a checkpoint: give {target}, the file it names, instead'
    return (f'{path} is {what}, not a checkpoint, and the file it names, {target}, does not '
            f'exist: give a checkpoint file (.pth) instead')


def _download_failure(error: OSError) -> str:
    """Why a download failed, in a few words: the HTTP status ('HTTP Error 404: Not
    Found'), the OS's reason for a failed connection ('Connection refused') or for a failed
    write to the download folder, else the first line of ``error``."""
    if isinstance(error, HTTPError):
        return str(error)
    reason = error.reason if isinstance(error, URLError) else error
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason).strip().splitlines()[0] if str(reason).strip() else type(error).__name__


def _download_checkpoint(url: str) -> object:
    """The checkpoint at ``url`` (``https://``, ``torchvision://`` ...), fetched by
    mmengine's ``CheckpointLoader``; a download that fails (no network, a refused
    connection, an HTTP error) is a :class:`CheckpointError` naming the URL and why."""
    try:
        return CheckpointLoader.load_checkpoint(url, map_location='cpu')
    except OSError as error:  # URLError and HTTPError are OSErrors
        raise CheckpointError(
            f'could not download checkpoint {url} ({_download_failure(error)}): download the '
            f'file where it can be reached (a browser, curl) and give its path '
            f'instead') from None


def state_dict_of(checkpoint: dict) -> dict:
    """The state dict of a checkpoint dict (``checkpoint['state_dict']``, or the dict itself
    when it is a bare state dict), with a ``module.`` prefix (a data-parallel wrapper's)
    removed."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {k.removeprefix('module.'): v for k, v in state_dict.items()}


def check_checkpoint_file(path: str) -> None:
    """A FileNotFoundError naming ``path`` unless it is a file: a folder (with the
    checkpoint its ``last_checkpoint`` names, where it has one naming a file) or nothing."""
    if Path(path).is_dir():
        pointer = Path(path) / POINTER_NAME
        latest = _pointer_target(str(pointer)) if pointer.is_file() else None
        if latest and Path(latest).is_file():
            raise FileNotFoundError(f'checkpoint {path} is a folder; give a checkpoint file '
                                    f'instead, e.g. {latest}, the last checkpoint its '
                                    f'{POINTER_NAME} names')
        raise FileNotFoundError(f'checkpoint {path} is a folder; give a checkpoint file '
                                f'(.pth) in it')
    if not Path(path).is_file():
        raise FileNotFoundError(f'checkpoint file {path} does not exist')


def read_checkpoint(path: str) -> dict:
    """The whole checkpoint dict in ``path``, read with ``torch.load(weights_only=True)``.

    Accepts what the Runner writes (``meta``, ``state_dict``, ``optimizer``, ...),
    ``{'state_dict': ...}`` and a bare state dict. A path with ``://`` (a URL,
    ``torchvision://`` ...) is fetched by mmengine's ``CheckpointLoader``.

    Raises:
        FileNotFoundError: no such file, or a folder (named with the checkpoint its
            ``last_checkpoint`` names, where it has one).
        CheckpointError: one sentence naming the file and what it is instead: empty,
            truncated or corrupt, no PyTorch file, mmengine's ``last_checkpoint`` (with the
            file it names), objects refused by safe loading, or no state dict of tensors in
            it; or naming the URL that could not be downloaded and why.
    """
    path = str(path)
    if '://' in path:
        checkpoint = _download_checkpoint(path)
    else:
        check_checkpoint_file(path)
        if os.path.getsize(path) == 0:
            raise CheckpointError(
                f'checkpoint {path} is an empty file (0 bytes), not a checkpoint; it was '
                f'probably cut short while being written: use another checkpoint')
        checkpoint = _torch_load(path)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'{path} holds a {type(checkpoint).__name__}, not a checkpoint (a dict with a '
            f"'state_dict' of tensors, or a dict of tensors itself)")
    state_dict = checkpoint.get('state_dict', checkpoint)
    if isinstance(state_dict, dict) and not state_dict:
        raise CheckpointError(
            f'{path} holds an empty state dict (no tensors at all); it was probably saved '
            f'from an empty model or cut down by hand: use another checkpoint')
    if (not isinstance(state_dict, dict)
            or not any(isinstance(v, torch.Tensor) for v in state_dict.values())):
        raise CheckpointError(_no_state_dict_sentence(path, checkpoint))
    return checkpoint


def _no_state_dict_sentence(path: str, checkpoint: dict) -> str:
    """Why the dict ``checkpoint`` in ``path`` holds no state dict: a checkpoint saved as
    the ``'state_dict'`` of another, or keys of another layout (named at the level where
    tensors were looked for)."""
    inner = checkpoint.get('state_dict')
    if isinstance(inner, dict) and isinstance(inner.get('state_dict'), dict):
        return (f"{path} holds a checkpoint inside a checkpoint: its tensors are under "
                f"['state_dict']['state_dict']; save the inner one (checkpoint['state_dict']) "
                f'as the file')
    where, keys = (("its 'state_dict' is", inner) if isinstance(inner, dict) else
                   ('it is', checkpoint))
    return (f"{path} holds no state dict: {where} a dict with keys ({_first(keys, 5)}) instead "
            f"of a 'state_dict' of tensors or a dict of tensors; convert it first (see "
            f'tools/model_converters/)')


def load_state_dict_file(checkpoint: str) -> dict:
    """The state dict of a checkpoint file (:func:`read_checkpoint`, :func:`state_dict_of`)."""
    return state_dict_of(read_checkpoint(checkpoint))


def check_resumable(checkpoint: dict, path: str) -> None:
    """Refuse a checkpoint training cannot resume from (mmengine's ``Runner.resume`` needs
    ``meta`` with the epoch and iteration, and the message hub)."""
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'message_hub' not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} holds weights only (no 'meta' with the epoch and iteration, "
            f'no optimizer or message hub state), so training cannot resume from it; to '
            f'start a new run from these weights, pass --cfg-options load_from={path} '
            f'instead of --resume')
    missing = [key for key in ('epoch', 'iter') if key not in meta]
    if missing:
        raise CheckpointError(f"checkpoint {path} cannot be resumed: its 'meta' lacks "
                              f'{missing}; resume from a checkpoint the Runner wrote')


def checkpoint_key_mismatch(model: nn.Module, state_dict: dict) -> tuple[list[str], list[str]]:
    """(model keys the state dict lacks, state dict keys the model lacks), in model order
    and file order; BatchNorm's ``num_batches_tracked`` counters may be missing."""
    expected = model.state_dict()
    missing = [k for k in _required_keys(expected) if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    return missing, unexpected


def _required_keys(model_state: dict) -> list[str]:
    return [k for k in model_state if not k.endswith(OPTIONAL_KEY_SUFFIXES)]


def check_checkpoint_keys(model: nn.Module, state_dict: dict, path: str = 'checkpoint',
                          fix: str = PARTIAL_HINT) -> None:
    """Raise naming how many keys (and the first few) the checkpoint misses or adds, and
    how many of the keys both have hold a tensor of another shape, ending in ``fix``."""
    missing, unexpected = checkpoint_key_mismatch(model, state_dict)
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"misses {len(missing)} of the model's "
                     f'{len(_required_keys(model.state_dict()))} keys '
                     f'({_first(missing)})')
    if unexpected:
        parts.append(f'has {len(unexpected)} keys the model does not have '
                     f'({_first(unexpected)})')
    reshaped = _reshaped_keys(model, state_dict)
    if reshaped:
        parts.append(f'holds {_tensors(len(reshaped))} of other shapes than the model\'s '
                     f'({_first(reshaped)})')
    listed = ', '.join(parts[:-1]) + (' and ' if len(parts) > 1 else '') + parts[-1]
    origin = (f'it is a checkpoint of the official RGA code: convert it first with '
              f'python tools/model_converters/rga_official_to_mm.py {path} CONVERTED.pth'
              if any(OFFICIAL_RGA_KEY.match(key) for key in unexpected) else
              f'it was saved from another model or config, and {fix}')
    raise CheckpointError(
        f'checkpoint {path} does not fit the model built from the config: it {listed}; '
        f'{origin}')


def check_checkpoint_shapes(model: nn.Module, state_dict: dict, path: str = 'checkpoint',
                            fix: str = PARTIAL_HINT) -> None:
    """Raise naming the first tensor whose shape differs between checkpoint and model, and
    how many more do, ending in ``fix``; where only heads' class counts differ, the sentence
    first names the ``num_classes`` options that build the model the checkpoint fits
    (:func:`class_count_options`)."""
    reshaped = _reshaped_keys(model, state_dict)
    if not reshaped:
        return
    key, expected = reshaped[0], model.state_dict()[reshaped[0]]
    more = f' (and {_tensors(len(reshaped) - 1)} more)' if len(reshaped) > 1 else ''
    options = class_count_options(model, state_dict, reshaped)
    cause = ('the checkpoint was trained for another number of classes: '
             f'{_class_count_hint(options)}; ' if options else
             'the checkpoint was trained with another configuration (input size, number of '
             'classes, ...), and ')
    raise CheckpointError(
        f'{path}: checkpoint tensor {key!r} has shape {tuple(state_dict[key].shape)} but the '
        f'model built from the config expects {tuple(expected.shape)}{more}; {cause}{fix}')


def class_count_options(model: nn.Module, state_dict: dict, reshaped: list[str]
                        ) -> dict[str, int]:
    """``{'model.<head>.num_classes': N}`` for the heads of ``model`` whose class count alone
    makes the tensors ``reshaped`` differ, N read from the checkpoint's tensors; empty unless
    every such tensor belongs to a head with an int ``num_classes`` (mmpretrain's and
    rga_mm's classification heads, mmseg's decode heads) and differs from the model's in
    its first dimension alone, the head's class count, by one count per head."""
    expected = model.state_dict()
    heads = _class_heads(model)
    counts: dict[str, set[int]] = {}
    for key in reshaped:
        head = next((name for name in heads if key.startswith(f'{name}.')), None)
        saved, built = tuple(state_dict[key].shape), tuple(expected[key].shape)
        if head is None or saved[1:] != built[1:] or built[0] != heads[head]:
            return {}
        counts.setdefault(head, set()).add(saved[0])
    if any(len(found) > 1 for found in counts.values()):
        return {}
    return {f'model.{head}.num_classes': found.pop() for head, found in counts.items()}


def _class_heads(model: nn.Module) -> dict[str, int]:
    """Dotted name → ``num_classes`` of each module of ``model`` that has an int one and
    lies in no other such module."""
    heads: dict[str, int] = {}
    for name, module in model.named_modules():
        count = getattr(module, 'num_classes', None)
        inside = any(name.startswith(f'{head}.') for head in heads)
        if name and is_int(count) and not inside:
            heads[name] = count
    return heads


def _class_count_hint(options: dict[str, int]) -> str:
    """How to build the model with the class counts ``options``, for the tools and the
    API."""
    settings = ' '.join(f'{key}={value}' for key, value in options.items())
    return (f'pass --cfg-options {settings} to a command-line tool, or cfg_options='
            f'{options!r} to rga_mm.apis.init_model, get_model or ReIDInferencer, to build the '
            f'model it fits')


def _tensors(count: int) -> str:
    return f'{count} tensor' if count == 1 else f'{count} tensors'


def _reshaped_keys(model: nn.Module, state_dict: dict) -> list[str]:
    """The keys of both whose checkpoint tensor has another shape than the model's, in file
    order."""
    expected = model.state_dict()
    return [key for key, value in state_dict.items()
            if key in expected and isinstance(value, torch.Tensor)
            and tuple(value.shape) != tuple(expected[key].shape)]


def check_checkpoint_fits(model: nn.Module, state_dict: dict, path: str = 'checkpoint',
                          strict: bool = True, fix: str = PARTIAL_HINT) -> None:
    """With ``strict``, refuse a state dict whose tensor shapes or names differ from the
    model's; without, accept any state dict that fills at least one of the model's tensors
    (mmengine's ``load_state_dict(strict=False)`` then loads the tensors whose names and
    shapes match and logs the others). Names are compared as the model reads them on
    loading (a plain model's checkpoint fills a StageAttentionBackbone's ``backbone.``).
    A strict refusal ends in ``fix``: by default how to load partially on purpose."""
    state_dict = as_model_reads(model, state_dict)
    if strict:  # names first: a checkpoint of another model is named as such, with counts
        check_checkpoint_keys(model, state_dict, path, fix)
        check_checkpoint_shapes(model, state_dict, path, fix)
    else:
        check_checkpoint_overlaps(model, state_dict, path)


def partial_load_note(model: nn.Module, state_dict: dict, path: str = 'checkpoint'
                      ) -> str | None:
    """One line on what loading ``state_dict`` partially leaves out: how many of the model's
    tensors it fills and which keep their initial values, and the checkpoint's tensors the
    model has no place for (the first few of each); None when it fills the whole model. It
    stands in for mmengine's log of every key, which runs to tens of kilobytes."""
    state_dict = as_model_reads(model, state_dict)
    missing, unexpected = checkpoint_key_mismatch(model, state_dict)
    kept = missing + _reshaped_keys(model, state_dict)
    if not kept and not unexpected:
        return None
    total = len(_required_keys(model.state_dict()))
    parts = [f"{total - len(kept)} of the model's {total} tensors loaded from {path}"]
    if kept:
        parts.append(f'{len(kept)} keep their initial values ({_first(kept)})')
    if unexpected:
        parts.append(f"{len(unexpected)} of the checkpoint's are not the model's "
                     f'({_first(unexpected)})')
    return 'partial load: ' + '; '.join(parts)


def check_checkpoint_overlaps(model: nn.Module, state_dict: dict,
                              path: str = 'checkpoint') -> None:
    """Raise when not one of the model's tensors has its name and shape in the state dict:
    loading it partially would leave the whole model with its initial weights."""
    expected = model.state_dict()
    required = _required_keys(expected)
    if not required or any(_fits(state_dict.get(key), expected[key]) for key in required):
        return
    raise CheckpointError(
        f"checkpoint {path} shares no tensor with the model built from the config: none of "
        f"the model's {len(required)} tensors has its name and shape in it (it has "
        f'{_first(state_dict)}), so even partial loading would load nothing; it is likely a '
        f'checkpoint of another model: give one saved from this model or config')


def _fits(value: object, expected: torch.Tensor) -> bool:
    return isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(expected.shape)
