"""BatchGridVisualizer: cells where cell_origin says, each image resized into its cell, and
the inputs it cannot draw refused."""
import numpy as np
import pytest

from rga_mm.visualization import BatchGridVisualizer, RankedListVisualizer

THUMBNAIL = (16, 8)


def test_each_image_fills_its_cell_row_by_row():
    visualizer = BatchGridVisualizer(thumbnail_size=THUMBNAIL, label_lines=1)
    images = [np.full((32, 16, 3), 20 * index, np.uint8) for index in range(1, 6)]
    picture = visualizer.draw_grid(images, [f'{i}' for i in range(5)], columns=2)
    assert picture.shape == (*visualizer.canvas_size(5, 2), 3) == (3 * (13 + 16) + 2 * 4, 20, 3)
    for index in range(5):
        top, left = visualizer.cell_origin(index, 2)
        assert (top, left) == ((index // 2) * (13 + 16 + 4), (index % 2) * (8 + 4))
        cell = picture[top + 13:top + 13 + 16, left:left + 8]
        assert (cell == 20 * (index + 1)).all()
    assert (picture[-16:, 12:] == 255).all()  # the last row's empty second cell


def test_what_the_grid_cannot_draw_is_refused():
    visualizer = BatchGridVisualizer(thumbnail_size=THUMBNAIL, label_lines=2)
    image = np.zeros((32, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"labels of at most 2 lines \(label_lines\), got "
                                         r"'a\\nb\\nc'"):
        visualizer.draw_grid([image], ['a\nb\nc'], columns=1)
    with pytest.raises(ValueError, match=r'draw_grid needs \(H, W, 3\) RGB images'):
        visualizer.draw_grid([image[..., 0]], ['a'], columns=1)
    with pytest.raises(ValueError, match='one label per image'):
        visualizer.draw_grid([image, image], ['a'], columns=1)
    with pytest.raises(ValueError, match='1 or more columns'):
        visualizer.draw_grid([image], ['a'], columns=0)
    for drawer in (BatchGridVisualizer, RankedListVisualizer):
        with pytest.raises(ValueError, match=r'at least 8×8 pixels, got \(7, 64\)'):
            drawer(thumbnail_size=(7, 64))
    with pytest.raises(ValueError, match='label_lines must be 1 or more'):
        BatchGridVisualizer(label_lines=0)
