"""Deployment: ONNX export of rga_mm's models, checked with ONNX Runtime (the ``deploy``
extra)."""
from .onnx_export import (
    RELATIVE_TOLERANCE,
    Difference,
    ExportedFile,
    ExportedForward,
    ExportError,
    Preprocessing,
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
    'Preprocessing', 'compare_with_onnxruntime', 'describe_output', 'export_onnx',
    'prepare_for_export', 'preprocessing_of', 'relative_difference', 'require_deploy'
]
