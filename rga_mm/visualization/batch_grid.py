"""The picture of a data batch: its images as the model receives them, in a labelled grid.

mmpretrain's and mmseg's ``browse_dataset`` tools draw one sample at a time; a re-ID batch is
a unit of its own (P identities × K images, which the batch-hard triplet loss compares), so
:class:`BatchGridVisualizer` draws a whole batch in one picture: row after row of ``columns``
cells, each a thumbnail under a label of up to ``label_lines`` lines. The labels are drawn by
mmengine's ``Visualizer.draw_texts``, so the picture can go to any of its backends through
``add_image``.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.visualization import Visualizer

from rga_mm.registry import VISUALIZERS
from .thumbnails import checked_thumbnail_size, thumbnail

LINE_HEIGHT = 13  # pixels per line of a label
CELL_GAP = 4  # white pixels between cells
LABEL_FONT_SIZE = 7


@VISUALIZERS.register_module()
class BatchGridVisualizer(Visualizer):
    """mmengine Visualizer that draws a batch of images in a grid, each under its label.

    Args:
        thumbnail_size: (height, width) every image is resized to, in pixels.
        label_lines: lines of text above each thumbnail, 1 or more.
        **kwargs: :class:`mmengine.visualization.Visualizer` arguments.
    """

    def __init__(self, name: str = 'batch_grid_visualizer',
                 thumbnail_size: tuple[int, int] = (128, 64), label_lines: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if label_lines < 1:
            raise ValueError(f'label_lines must be 1 or more, got {label_lines}')
        self.thumbnail_size = checked_thumbnail_size(thumbnail_size)
        self.label_lines = label_lines
        self.label_height = label_lines * LINE_HEIGHT

    def cell_origin(self, index: int, columns: int) -> tuple[int, int]:
        """(top, left) in pixels of cell ``index``'s label; its thumbnail starts
        ``label_height`` rows lower."""
        row, column = divmod(index, columns)
        height, width = self.thumbnail_size
        return row * (self.label_height + height + CELL_GAP), column * (width + CELL_GAP)

    def canvas_size(self, num_images: int, columns: int) -> tuple[int, int]:
        """(height, width) in pixels of the picture of ``num_images`` in ``columns``."""
        rows = -(-num_images // columns)
        height, width = self.thumbnail_size
        return (rows * (self.label_height + height) + (rows - 1) * CELL_GAP,
                min(columns, num_images) * (width + CELL_GAP) - CELL_GAP)

    def draw_grid(self, images: Sequence[np.ndarray], labels: Sequence[str],
                  columns: int) -> np.ndarray:
        """Draw ``images`` row by row, ``columns`` to a row, each under its label.

        Args:
            images: (H, W, 3) uint8 RGB images, any sizes (each is resized to
                ``thumbnail_size``).
            labels: one per image, at most ``label_lines`` lines.
            columns: cells per row, 1 or more.

        Returns:
            (h, w, 3) uint8 RGB picture of size :meth:`canvas_size`.
        """
        if len(images) != len(labels) or not images:
            raise ValueError(f'draw_grid needs one label per image and at least one image, '
                             f'got {len(images)} images and {len(labels)} labels')
        if columns < 1:
            raise ValueError(f'draw_grid needs 1 or more columns, got {columns}')
        longer = [label for label in labels if label.count('\n') >= self.label_lines]
        if longer:
            raise ValueError(f'draw_grid draws labels of at most {self.label_lines} lines '
                             f'(label_lines), got {longer[0]!r}')
        canvas = np.full((*self.canvas_size(len(images), columns), 3), 255, np.uint8)
        height, width = self.thumbnail_size
        origins = [self.cell_origin(index, columns) for index in range(len(images))]
        for image, (top, left) in zip(images, origins):
            first_row = top + self.label_height
            canvas[first_row:first_row + height, left:left + width] = thumbnail(
                image, self.thumbnail_size, 'draw_grid')
        self.set_image(canvas)
        self.draw_texts(list(labels), np.array([(left + 1, top + 1) for top, left in origins]),
                        font_sizes=LABEL_FONT_SIZE, colors='black')
        return self.get_image()
