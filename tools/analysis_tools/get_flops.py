"""Parameters and FLOPs of a config's model, counted by mmengine's analysis module.

FLOPs follow mmengine's (fvcore's) convention: one multiply-add counts as one FLOP.
mmengine's warnings about the operators its FLOP counter does not count (elementwise ones)
are shown; its warning that RGA's 1×1 convolution modules were never called is not: RGA runs
them fused, through their weights, and their FLOPs are in the total. (Only the FLOP counter
runs: mmengine's activation counter, whose own list of unsupported operators would name
BatchNorm and adaptive pooling, which the FLOPs count, is not used.)

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--cfg-options k=v ...]
"""
import argparse
from collections.abc import Sequence

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.config import Config
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


def short_count(value: int) -> str:
    """``value`` with three significant digits in thousands (K), millions (M), billions (G)
    or trillions (T), e.g. ``5.07G``; as it is below a thousand."""
    for prefix, scale in (('T', 10**12), ('G', 10**9), ('M', 10**6), ('K', 10**3)):
        if abs(value) >= scale:
            return f'{value / scale:.3g}{prefix}'
    return str(value)


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
    analyzer = FlopAnalyzer(TensorForward(model), (torch.zeros(1, 3, height, width), ))
    # RGA's gates run their 1×1 ConvModules fused (one convolution over their stacked
    # weights, the BatchNorm folded in), calling their weights, not the modules: the counter
    # would list each as never called, though their FLOPs are in the total
    analyzer.uncalled_modules_warnings(False)
    try:
        flops = analyzer.total()
    except ValueError as error:  # e.g. a size the model's attention was not built for
        raise SystemExit(f'{size_origin(model.cfg, args.shape, height, width)}: '
                         f'{error}') from None
    except RuntimeError as error:  # e.g. a pooling that the size leaves with no output
        raise SystemExit(misfit_sentence(size_origin(model.cfg, args.shape, height, width),
                                         height, width, error)) from None
    params = parameter_count(model)['']
    print(f'Input shape: (3, {height}, {width})')
    print(f'Params: {params} ({short_count(params)})')
    print(f'FLOPs: {flops} ({short_count(flops)}, one multiply-add = one FLOP)')


if __name__ == '__main__':
    main()
