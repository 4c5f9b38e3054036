"""The checks of a built mmseg segmentor that rga_mm's tools and ``init_model`` run before its
first forward (:func:`check_segmentor`): its heads take what its RGA neck gives them
(:func:`~rga_mm.models.necks.check_heads_fit_neck`) and its ``test_cfg`` names an inference
mmseg can run (:func:`check_test_cfg`).

mmseg's ``EncoderDecoder`` reads ``model.test_cfg`` only when it first predicts, at the first
validation, possibly hours into training: a ``mode`` other than ``'whole'`` and ``'slide'``
then fails mmseg's assertion, and ``'slide'`` without ``crop_size`` or ``stride`` (each an
(h, w) pair: the window and the step between windows) fails with an ``AttributeError``, with
one int for either with a ``TypeError``, and with a stride longer than the window, on an
image more than two windows long, with an assertion on the pixels no window covered.
"""
import difflib
import sys
from collections.abc import Sequence

from torch import nn

from rga_mm.checks import is_positive_int
from rga_mm.errors import ConfigError
from .necks import check_heads_fit_neck

TEST_MODES = ('whole', 'slide')  # what EncoderDecoder.inference runs
SLIDE_KEYS = {'crop_size': 'the (h, w) size of its windows',
              'stride': 'the (h, w) step between its windows'}


def check_segmentor(segmentor: nn.Module) -> None:
    """ConfigError unless the heads of ``segmentor`` fit its RGA neck and its ``test_cfg``
    names an inference it runs; models of other kinds pass."""
    check_heads_fit_neck(segmentor)
    check_test_cfg(segmentor)


def check_test_cfg(segmentor: nn.Module) -> None:
    """ConfigError naming the key, unless the ``test_cfg`` of a segmentor inferring as
    mmseg's ``EncoderDecoder`` does has a ``mode`` of :data:`TEST_MODES` and, for
    ``'slide'``, ``crop_size`` and ``stride`` pairs of positive ints. Segmentors with their
    own inference (mmseg's ``DepthEstimator`` has more modes), a missing ``test_cfg`` or
    ``mode`` (mmseg's to judge) and other models pass."""
    test_cfg = getattr(segmentor, 'test_cfg', None)
    if not _infers_as_encoder_decoder(segmentor) or not test_cfg or 'mode' not in test_cfg:
        return
    mode = test_cfg['mode']
    if mode not in TEST_MODES:
        raise ConfigError(_bad_mode_message(mode))
    if mode == 'slide':
        _check_slide_keys(test_cfg)


def _infers_as_encoder_decoder(segmentor: nn.Module) -> bool:
    """Whether ``segmentor`` runs mmseg's ``EncoderDecoder.inference`` (an EncoderDecoder or
    a subclass keeping it, as CascadeEncoderDecoder). Looked up in ``sys.modules``: a
    segmentor of that kind means mmseg is imported, and a re-ID run need not import it."""
    module = sys.modules.get('mmseg.models.segmentors.encoder_decoder')
    encoder_decoder = getattr(module, 'EncoderDecoder', None)
    return (encoder_decoder is not None
            and getattr(type(segmentor), 'inference', None) is encoder_decoder.inference)


def _bad_mode_message(mode: object) -> str:
    """The sentence for a ``model.test_cfg.mode`` outside :data:`TEST_MODES`, suggesting the
    closest mode to a misspelt one."""
    allowed = ' or '.join(repr(name) for name in TEST_MODES)
    close = difflib.get_close_matches(mode, TEST_MODES, n=1) if isinstance(mode, str) else []
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    return (f"model.test_cfg.mode={mode!r} is not a test mode of mmseg's EncoderDecoder: set "
            f'model.test_cfg.mode to {allowed}{hint}')


def _check_slide_keys(test_cfg: dict) -> None:
    """ConfigError naming the ``crop_size`` or ``stride`` that sliding inference lacks or
    cannot unpack as (h, w) positive ints."""
    missing = [key for key in SLIDE_KEYS if key not in test_cfg]
    if missing:
        keys = ' and '.join(f'model.test_cfg.{key}' for key in missing)
        meanings = ' and '.join(SLIDE_KEYS[key] for key in missing)
        raise ConfigError(
            f"model.test_cfg.mode='slide' needs {keys} ({meanings}), which the config does not "
            f"set: set {keys} to (h, w) pairs, as mmseg's configs do (crop_size=(769, 769) "
            f'and stride=(513, 513) for 769×769 training crops)')
    for key, meaning in SLIDE_KEYS.items():
        if not _is_size_pair(test_cfg[key]):
            raise ConfigError(
                f"model.test_cfg.{key}={test_cfg[key]!r} but model.test_cfg.mode='slide' needs "
                f'{meaning}, two positive ints: set model.test_cfg.{key}=(h, w)')
    crop, stride = tuple(test_cfg['crop_size']), tuple(test_cfg['stride'])
    if stride[0] > crop[0] or stride[1] > crop[1]:
        raise ConfigError(
            f'model.test_cfg.stride={stride} steps further than the windows of '
            f'model.test_cfg.crop_size={crop} reach: on an image more than two windows long, '
            f'pixels between windows would get no prediction (mmseg stops on them at its '
            f'first validation); set a stride of at most the crop size, as mmseg\'s configs '
            f'do (crop_size=(769, 769), stride=(513, 513))')


def _is_size_pair(value: object) -> bool:
    """Whether ``value`` is a sequence of two positive ints, such as (769, 769)."""
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
            and all(is_positive_int(item) for item in value))
