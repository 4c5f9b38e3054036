"""The input size of every re-ID config (paper §4.1.1), stated here and nowhere else.

The model bases (models/reid_r50-ls1-256x128.py) derive each stage's map size and with it
the ``spatial_size`` of every size-aware attention; the data base
(datasets/reid_256x128.py) derives the resize, the training crop and its padding.
"""
input_size = (256, 128)  # (height, width)
