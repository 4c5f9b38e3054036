"""The attention grid (paper Fig. 3) is laid out and overlaid correctly.

Hand-made gates and CAMs with one hot quadrant each: the heat map (JET: hot = red, cold =
blue) of every panel must be hot in that quadrant and nowhere else, on a grid of the exact
computed size, with the input shown unchanged.
"""
import numpy as np
import pytest
import torch

from rga_mm.visualization import AttentionExplanation, AttentionVisualizer
from rga_mm.visualization.attention_visualizer import PANEL_GAP, TITLE_HEIGHT

PANEL_HEIGHT = 128


@pytest.fixture(scope='module')
def visualizer():
    return AttentionVisualizer(name='test_attention_grid', panel_height=PANEL_HEIGHT)


def quadrant_map(height: int, width: int, top: bool, left: bool) -> torch.Tensor:
    values = torch.full((height, width), 0.2)
    rows = slice(0, height // 2) if top else slice(height // 2, height)
    cols = slice(0, width // 2) if left else slice(width // 2, width)
    values[rows, cols] = 0.9
    return values


def panel(grid: np.ndarray, index: int, width: int) -> np.ndarray:
    left = index * (width + PANEL_GAP)
    return grid[TITLE_HEIGHT:, left:left + width].astype(float)


def redness(region: np.ndarray) -> float:
    return float((region[..., 0] - region[..., 2]).mean())


def test_grid_layout_and_overlays(visualizer):
    image = np.full((64, 32, 3), 128, np.uint8)
    explanation = AttentionExplanation(
        gates={'layer1': quadrant_map(16, 8, top=True, left=True),
               'layer4': quadrant_map(4, 2, top=False, left=False)},
        cam=quadrant_map(4, 2, top=True, left=False), cam_target='embedding norm')
    grid = visualizer.draw_attention_grid(image, explanation)

    width = 32 * PANEL_HEIGHT // 64
    assert grid.shape == (TITLE_HEIGHT + PANEL_HEIGHT, 4 * width + 3 * PANEL_GAP, 3)
    assert grid.shape[:2] == visualizer.grid_size((64, 32), explanation)
    assert grid.dtype == np.uint8
    assert np.abs(panel(grid, 0, width) - 128).max() <= 1  # the input, unchanged
    assert np.all(grid[TITLE_HEIGHT:, width:width + PANEL_GAP] == 255)  # white gap
    assert (grid[:TITLE_HEIGHT] < 128).any()  # titles drawn

    half_h, half_w = PANEL_HEIGHT // 2, width // 2
    # (panel index, hot quadrant) for layer1, layer4 and the CAM
    for index, (top, left) in ((1, (True, True)), (2, (False, False)), (3, (True, False))):
        overlay = panel(grid, index, width)
        rows = {True: slice(8, half_h - 8), False: slice(half_h + 8, None)}  # top, bottom
        cols = {True: slice(2, half_w - 2), False: slice(half_w + 2, None)}  # left, right
        quadrants = {(is_top, is_left): overlay[rows[is_top], cols[is_left]]
                     for is_top in (True, False) for is_left in (True, False)}
        hot = redness(quadrants.pop((top, left)))
        assert hot > 40, (index, hot)
        assert all(redness(q) < -40 for q in quadrants.values()), index


def test_gate_titles_carry_the_gate_range():
    gate = torch.tensor([[0.25, 0.5], [0.75, 0.5]])
    titles = AttentionVisualizer.panel_titles(
        (8, 6), AttentionExplanation({'layer2': gate}, gate, 'class 3'))
    assert titles == ['input\n8×6', 'layer2 gate\n0.25–0.75', 'CAM\nclass 3']


def test_grid_without_cam_and_bad_image(visualizer):
    no_cam = AttentionExplanation(gates={})
    grid = visualizer.draw_attention_grid(np.zeros((32, 32, 3), np.uint8), no_cam)
    assert grid.shape == (TITLE_HEIGHT + PANEL_HEIGHT, PANEL_HEIGHT, 3)
    assert grid.shape[:2] == visualizer.grid_size((32, 32), no_cam)
    with pytest.raises(ValueError, match=r'\(H, W, 3\) RGB image, got shape \(32, 32\)'):
        visualizer.draw_attention_grid(np.zeros((32, 32), np.uint8), AttentionExplanation())
