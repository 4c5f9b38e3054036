"""Deployment: ONNX export of rga_mm's models, checked with ONNX Runtime (the ``deploy``
extra), and the ``--shape`` option its tool shares with tools/analysis_tools/get_flops.py."""
from .arguments import add_shape_argument, positive_int_arg
from .onnx_export import (
    RELATIVE_TOLERANCE,
    Difference,
    ExportedFile,
    ExportedForward,
    ExportError,
    Preprocessing,
    check_opset,
    compare_with_onnxruntime,
    describe_output,
    export_onnx,
    prepare_for_export,
    preprocessing_of,
    relative_difference,
    require_deploy,
)

__all__ = [
    'RELATIVE_TOLERANCE', 'Difference', 'ExportError', 'ExportedFile', 'ExportedForward',
    'Preprocessing', 'add_shape_argument', 'check_opset', 'compare_with_onnxruntime',
    'describe_output', 'export_onnx', 'positive_int_arg', 'prepare_for_export', 'preprocessing_of',
    'relative_difference', 'require_deploy'
]
