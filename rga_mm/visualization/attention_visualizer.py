"""The picture of what RGA attends to (paper Fig. 3): one row of titled panels per image.

``input | <RGA module 1> gate | ... | <RGA module n> gate | CAM``. Each map is upsampled
(bilinear) to the displayed image and overlaid as a heat map with mmengine's
``Visualizer.draw_featmap``; heat maps are min–max normalised per panel, so each gate panel's
title gives the gate's actual range. Titles are drawn with ``Visualizer.draw_texts``; a
runner's visualizer sends the picture to its backends (local files, TensorBoard, ...) with
``add_image``, as :class:`rga_mm.engine.hooks.AttentionVisualizationHook` does.
"""

from typing import Any

import cv2
import numpy as np
import torch.nn.functional as F
from mmengine.visualization import Visualizer
from torch import Tensor

from rga_mm.registry import VISUALIZERS
from .explain import AttentionExplanation

TITLE_HEIGHT = 30  # pixels above each panel: two lines of text
PANEL_GAP = 4  # white pixels between panels
TITLE_FONT_SIZE = 9
MIN_PANEL_HEIGHT = 8  # pixels: room for a panel below its title


def resize_for_display(image: np.ndarray, height: int) -> np.ndarray:
    """(H, W, 3) image → (height, round(W·height/H), 3): nearest neighbour when enlarging
    (keeps a 32×32 CIFAR image's pixels sharp), area averaging when shrinking."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    interpolation = cv2.INTER_NEAREST if height >= image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=interpolation)


def upsample_map(values: Tensor, size: tuple[int, int]) -> Tensor:
    """(h, w) map → (1, H, W), bilinear as the feature map's positions cover the image."""
    return F.interpolate(values[None, None].float(), size=size, mode='bilinear',
                         align_corners=False)[0]


@VISUALIZERS.register_module()
class AttentionVisualizer(Visualizer):
    """mmengine Visualizer that draws :class:`AttentionExplanation` grids.

    Args:
        panel_height: displayed height of every panel in pixels (the input keeps its aspect
            ratio).
        alpha: heat map opacity over the image.
        **kwargs: :class:`mmengine.visualization.Visualizer` arguments (``name``,
            ``vis_backends``, ``save_dir``).
    """

    def __init__(self, name: str = 'attention_visualizer', panel_height: int = 256,
                 alpha: float = 0.5, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if panel_height < MIN_PANEL_HEIGHT:
            raise ValueError(f'panel_height must be at least {MIN_PANEL_HEIGHT} pixels, got '
                             f'{panel_height}')
        self.panel_height = panel_height
        self.alpha = alpha

    @staticmethod
    def panel_titles(image_shape: tuple[int, int],
                     explanation: AttentionExplanation) -> list[str]:
        """Two-line titles of the grid's panels, left to right, for an (H, W) image."""
        titles = [f'input\n{image_shape[0]}×{image_shape[1]}']
        titles += [f'{name} gate\n{float(gate.min()):.2f}–{float(gate.max()):.2f}'
                   for name, gate in explanation.gates.items()]
        if explanation.cam is not None:
            titles.append(f'CAM\n{explanation.cam_target}')
        return titles

    def grid_size(self, image_shape: tuple[int, int],
                  explanation: AttentionExplanation) -> tuple[int, int]:
        """(height, width) in pixels of the grid of an (H, W) image."""
        panel_width = max(1, round(image_shape[1] * self.panel_height / image_shape[0]))
        num_panels = len(self.panel_titles(image_shape, explanation))
        return (TITLE_HEIGHT + self.panel_height,
                num_panels * panel_width + (num_panels - 1) * PANEL_GAP)

    def draw_attention_grid(self, image: np.ndarray,
                            explanation: AttentionExplanation) -> np.ndarray:
        """(H, W, 3) uint8 RGB image (as the model saw it) → (h, w, 3) uint8 RGB grid of
        size :meth:`grid_size`."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'draw_attention_grid needs an (H, W, 3) RGB image, got shape '
                             f'{image.shape}')
        shown = resize_for_display(np.ascontiguousarray(image, dtype=np.uint8),
                                   self.panel_height)
        maps = list(explanation.gates.values())
        if explanation.cam is not None:
            maps.append(explanation.cam)
        panels = [shown] + [self._overlay(values, shown) for values in maps]
        return self._titled_row(panels, self.panel_titles(image.shape[:2], explanation))

    def _overlay(self, values: Tensor, shown: np.ndarray) -> np.ndarray:
        upsampled = upsample_map(values.detach().cpu(), shown.shape[:2])
        return self.draw_featmap(upsampled, shown, channel_reduction='squeeze_mean',
                                 alpha=self.alpha)

    def _titled_row(self, panels: list[np.ndarray], titles: list[str]) -> np.ndarray:
        height = TITLE_HEIGHT + self.panel_height
        width = sum(panel.shape[1] for panel in panels) + (len(panels) - 1) * PANEL_GAP
        canvas = np.full((height, width, 3), 255, np.uint8)
        positions, left = [], 0
        for panel in panels:
            canvas[TITLE_HEIGHT:, left:left + panel.shape[1]] = panel
            positions.append((left + 2, 1))
            left += panel.shape[1] + PANEL_GAP
        self.set_image(canvas)
        self.draw_texts(titles, np.array(positions), font_sizes=TITLE_FONT_SIZE,
                        colors='black')
        return self.get_image()
