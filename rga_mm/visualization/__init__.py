"""Pictures of what RGA attends to (spatial gates, CAMs), of training curves and of
gallery searches (ranked lists) and of data batches."""
from .attention_visualizer import AttentionVisualizer
from .batch_grid import BatchGridVisualizer
from .explain import AttentionExplanation, explain_attention, explain_packed_item
from .grad_cam import GradCAM, class_activation_map
from .log_curves import (
    default_keys,
    draw_curves,
    find_scalar_logs,
    load_scalar_log,
    load_scalar_logs,
    plot_curves,
)
from .output_names import unique_stems
from .ranked_list import RankedListVisualizer
from .spatial_gates import SpatialGateRecorder

__all__ = ['AttentionExplanation', 'AttentionVisualizer', 'BatchGridVisualizer', 'GradCAM',
           'RankedListVisualizer',
           'SpatialGateRecorder', 'class_activation_map', 'default_keys', 'draw_curves',
           'explain_attention', 'explain_packed_item', 'find_scalar_logs', 'load_scalar_log',
           'load_scalar_logs', 'plot_curves', 'unique_stems']
