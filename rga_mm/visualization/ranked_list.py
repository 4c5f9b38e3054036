"""The picture of a gallery search: the query, then its k nearest gallery images.

``query | #1 | #2 | ... | #k``: every image is shown at one thumbnail size, under a label
(``query``; rank and distance for the results) and inside a frame that says whether the
result is the query's identity — green for a true match, red for a false one, grey when
identities are unknown; the query's frame is blue.

mmpretrain's ``UniversalVisualizer.visualize_image_retrieval`` draws retrieval results too,
but it ranks a full (G,) similarity vector per query through a prototype ``BaseDataset``,
lays images out on a matplotlib figure of its own size and has neither rank labels nor
right/wrong frames; :class:`RankedListVisualizer` draws a given ranked list on a canvas of
known size. The frames are painted into the canvas (exact pixels); the labels are drawn by
mmengine's ``Visualizer.draw_texts``, and the result can go to any of its backends through
``add_image``.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.visualization import Visualizer

from rga_mm.registry import VISUALIZERS
from .thumbnails import checked_thumbnail_size, thumbnail

LABEL_HEIGHT = 26  # pixels above each thumbnail: two lines of text
FRAME_WIDTH = 3  # pixels of the coloured frame around each thumbnail
RESULT_GAP = 4  # white pixels between results
QUERY_GAP = 16  # white pixels between the query and the first result
LABEL_FONT_SIZE = 7
QUERY_COLOUR = (30, 90, 230)  # RGB
MATCH_COLOURS = {True: (0, 170, 0), False: (220, 0, 0), None: (160, 160, 160)}


@VISUALIZERS.register_module()
class RankedListVisualizer(Visualizer):
    """mmengine Visualizer that draws a query and its ranked gallery images in one row.

    Args:
        thumbnail_size: (height, width) every image is resized to, in pixels.
        **kwargs: :class:`mmengine.visualization.Visualizer` arguments (``name``,
            ``vis_backends``, ``save_dir``).
    """

    def __init__(self, name: str = 'ranked_list_visualizer',
                 thumbnail_size: tuple[int, int] = (128, 64), **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.thumbnail_size = checked_thumbnail_size(thumbnail_size)

    def canvas_size(self, num_results: int) -> tuple[int, int]:
        """(height, width) in pixels of the picture of a query and ``num_results`` results."""
        panel_height, panel_width = (size + 2 * FRAME_WIDTH for size in self.thumbnail_size)
        width = (1 + num_results) * panel_width + max(num_results - 1, 0) * RESULT_GAP
        return LABEL_HEIGHT + panel_height, width + (QUERY_GAP if num_results else 0)

    def draw_ranked_list(self, query: np.ndarray, results: Sequence[np.ndarray],
                         distances: Sequence[float],
                         matches: Sequence[bool | None] | None = None) -> np.ndarray:
        """Draw one query's ranked list.

        Args:
            query: (H, W, 3) uint8 RGB image.
            results: the ranked gallery images, (H, W, 3) uint8 RGB each, nearest first.
            distances: the distance of each result to the query.
            matches: per result, True (same identity as the query), False, or None
                (unknown); default: all unknown.

        Returns:
            (h, w, 3) uint8 RGB picture of size :meth:`canvas_size` ``(len(results))``.
        """
        if len(distances) != len(results) or (matches is not None
                                              and len(matches) != len(results)):
            raise ValueError(f'draw_ranked_list got {len(results)} results, '
                             f'{len(distances)} distances and '
                             f'{"no" if matches is None else len(matches)} matches')
        matches = [None] * len(results) if matches is None else list(matches)
        height, width = self.canvas_size(len(results))
        canvas = np.full((height, width, 3), 255, np.uint8)
        labels: list[str] = ['query\n']
        lefts = [0]
        self._paste(canvas, 0, query, QUERY_COLOUR)
        left = self._panel_width() + QUERY_GAP
        for rank, (image, distance, match) in enumerate(zip(results, distances, matches), 1):
            self._paste(canvas, left, image, MATCH_COLOURS[match])
            labels.append(f'#{rank}\n{distance:.4g}')
            lefts.append(left)
            left += self._panel_width() + RESULT_GAP
        self.set_image(canvas)
        self.draw_texts(labels, np.array([(x + 1, 1) for x in lefts]),
                        font_sizes=LABEL_FONT_SIZE, colors='black')
        return self.get_image()

    def _panel_width(self) -> int:
        return self.thumbnail_size[1] + 2 * FRAME_WIDTH

    def _paste(self, canvas: np.ndarray, left: int, image: np.ndarray,
               colour: tuple[int, int, int]) -> None:
        """Frame of ``colour`` and the resized image inside it, at column ``left``."""
        resized = thumbnail(image, self.thumbnail_size, 'draw_ranked_list')
        thumb_height, thumb_width = self.thumbnail_size
        canvas[LABEL_HEIGHT:, left:left + self._panel_width()] = colour
        top = LABEL_HEIGHT + FRAME_WIDTH
        canvas[top:top + thumb_height,
               left + FRAME_WIDTH:left + FRAME_WIDTH + thumb_width] = resized
