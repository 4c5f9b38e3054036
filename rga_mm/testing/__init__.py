"""Helpers for tests and benchmarks, as ``mmengine.testing``: fake re-ID batches, the peak
memory and the fastest time of a piece of code, the plain reference implementation of
the evaluation's rank metrics that the fast one is checked and timed against, a tool
script loaded as a module, and every tensor of a training checkpoint.

Not imported by ``import rga_mm``.
"""
from .checkpoint_tensors import checkpoint_tensors
from .fake_data import batch_label_refusal, fake_reid_batch
from .memory import TensorMemoryTracker, process_peak_rise
from .reference_metrics import plain_rank_metrics
from .scripts import load_script
from .timing import fastest_seconds

__all__ = ['TensorMemoryTracker', 'batch_label_refusal', 'checkpoint_tensors', 'fake_reid_batch',
           'fastest_seconds', 'load_script', 'plain_rank_metrics', 'process_peak_rise']
