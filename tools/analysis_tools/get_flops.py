"""Parameters and FLOPs of a config's model, counted by mmengine's analysis module.

FLOPs follow mmengine's (fvcore's) convention: one multiply-add counts as one FLOP.
mmengine's warnings about the operators it does not count (elementwise ones) are shown; its
warning that RGA's 1×1 convolution modules were never called is not: RGA runs them fused,
through their weights, and their FLOPs are in the total.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--cfg-options k=v ...]
"""
import argparse
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from torch import nn

from rga_mm.apis import init_model
from rga_mm.deployment.arguments import add_shape_argument, config_size_key, input_shape
from rga_mm.engine.launch import CfgOptionsAction, load_config_with_options
from rga_mm.errors import first_line


class TensorForward(nn.Module):
    """Call a model on a bare image tensor: ``mode='tensor'`` for OpenMMLab models."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The model's output for a (B, 3, H, W) batch."""
        if isinstance(self.model, BaseModel):
            return self.model(inputs, mode='tensor')
        return self.model(inputs)


# how mmengine's counter opens its warning about submodules the traced forward never called
UNCALLED_WARNING = 'The following submodules of the model were never called'


class _UncalledModulesFilter(logging.Filter):
    """Drops mmengine's uncalled-submodules warning: RGA's gates run their 1×1 ConvModules
    fused (one convolution over their stacked weights, the BatchNorm folded in), calling
    their weights, not the modules, so the counter lists every such module as never called
    although their FLOPs are counted, by operation, in the total."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(UNCALLED_WARNING)


@contextmanager
def without_uncalled_modules_warning() -> Iterator[None]:
    """Within the block, mmengine's logger drops :class:`_UncalledModulesFilter`'s warning;
    its warnings about operators it does not count (elementwise ones) still show."""
    logger = MMLogger.get_current_instance()
    uncalled = _UncalledModulesFilter()
    logger.addFilter(uncalled)
    try:
        yield
    finally:
        logger.removeFilter(uncalled)


def size_origin(cfg: Config, shape: Sequence[int] | None, height: int, width: int) -> str:
    """Where the input size came from, to open an error message: ``--shape H W``, or the
    config's ``input_size`` (else ``crop_size``) when no ``--shape`` was given."""
    if shape:
        return f'--shape {height} {width}'
    return (f"the config's {config_size_key(cfg)} ({height}, {width}), used as no --shape "
            f"was given")


def misfit_sentence(origin: str, height: int, width: int, error: RuntimeError) -> str:
    """One sentence for a forward that fails at the input size: where the size came from
    (``origin``), the size, and the first line of the model's own error message."""
    return (f'{origin}: the model cannot run on a {height}×{width} input '
            f'({first_line(error, named=True)}); pass a --shape it can take')


def main(argv: Sequence[str] | None = None) -> None:
    """Print the parameters and FLOPs of the config's model at ``--shape`` (or the
    config's size)."""
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a model.')
    parser.add_argument('config', help='config file of the model to count')
    add_shape_argument(parser, help="input size (default: the config's input_size, else its "
                       'crop_size)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, default={},
                        help='override config entries, as in tools/train.py')
    args = parser.parse_args(argv)
    try:
        model = init_model(load_config_with_options(args.config, args.cfg_options))
    except (FileNotFoundError, ImportError, ValueError) as error:
        raise SystemExit(str(error)) from None
    height, width = input_shape(model.cfg, args.shape)
    try:
        with without_uncalled_modules_warning():
            info = get_model_complexity_info(
                TensorForward(model), inputs=(torch.zeros(1, 3, height, width),),
                show_table=False, show_arch=False)
    except ValueError as error:  # e.g. a size the model's attention was not built for
        raise SystemExit(f'{size_origin(model.cfg, args.shape, height, width)}: '
                         f'{error}') from None
    except RuntimeError as error:  # e.g. a pooling that the size leaves with no output
        raise SystemExit(misfit_sentence(size_origin(model.cfg, args.shape, height, width),
                                         height, width, error)) from None
    print(f'Input shape: (3, {height}, {width})')
    print(f"Params: {info['params']} ({info['params_str']})")
    print(f"FLOPs: {info['flops']} ({info['flops_str']}, one multiply-add = one FLOP)")


if __name__ == '__main__':
    main()
