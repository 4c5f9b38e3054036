"""Drawing a walking person onto a canvas: legs, shirt, arms, head and bag, back to front.

The figure is laid out in units of its height from its top centre (:class:`_Figure` maps
them to canvas pixels), so one layout serves every image size and framing.
"""
import math
from collections.abc import Sequence

import cv2
import numpy as np

from .world import Appearance, Colour, Pose


class _Figure:
    """Maps the figure's (x, y) in units of its height to canvas pixels."""

    def __init__(self, pose: Pose, canvas_size: tuple[int, int]) -> None:
        canvas_h, canvas_w = canvas_size
        self.unit = pose.height * canvas_h  # pixels per person height
        self.centre_x = pose.centre_x * canvas_w
        self.top = pose.top * canvas_h

    def point(self, x: float, y: float) -> tuple[int, int]:
        return (int(round(self.centre_x + x * self.unit)),
                int(round(self.top + y * self.unit)))

    def length(self, size: float) -> int:
        return max(1, int(round(size * self.unit)))


def _limb(canvas: np.ndarray, figure: _Figure, joints: Sequence[tuple[float, float]],
          colour: Colour, width: float) -> None:
    """A thick polyline through ``joints`` (figure units)."""
    points = [figure.point(*joint) for joint in joints]
    for start, end in zip(points, points[1:]):
        cv2.line(canvas, start, end, colour, figure.length(width), cv2.LINE_AA)


def _arm_joints(side: int, pose: Pose, build: float) -> list[tuple[float, float]]:
    """Shoulder, elbow and hand of the left (-1) or right (+1) arm, in figure units."""
    angle = 0.12 + side * pose.facing * 0.45 * pose.swing * math.sin(pose.phase)
    shoulder = (side * 0.125 * build, 0.18)
    elbow = (shoulder[0] + side * 0.16 * math.sin(angle), shoulder[1] + 0.16 * math.cos(angle))
    bend = angle + 0.25 * pose.facing * side
    hand = (elbow[0] + side * 0.15 * math.sin(bend), elbow[1] + 0.15 * math.cos(bend))
    return [shoulder, elbow, hand]


def _leg_joints(side: int, pose: Pose, build: float) -> list[tuple[float, float]]:
    """Hip, knee and ankle of the left (-1) or right (+1) leg, in figure units."""
    stride = side * 0.07 * pose.swing * math.sin(pose.phase)
    lift = 0.03 * pose.swing * max(0.0, math.sin(pose.phase) * side)
    hip = (side * 0.06 * build, 0.5)
    ankle = (side * 0.055 + stride, 0.955 - lift)
    knee = ((hip[0] + ankle[0]) / 2 + 0.015 * pose.facing, 0.73 - lift / 2)
    return [hip, knee, ankle]


def _shirt_layer(appearance: Appearance, figure: _Figure,
                 canvas_size: tuple[int, int]) -> np.ndarray:
    """The shirt's fabric over the whole canvas, (H, W, 3) uint8: colour and pattern."""
    ys, xs = np.mgrid[0:canvas_size[0], 0:canvas_size[1]].astype(np.float32)
    x_units, y_units = (xs - figure.centre_x) / figure.unit, (ys - figure.top) / figure.unit
    rows = np.floor(y_units / appearance.pattern_period)
    cols = np.floor(x_units / appearance.pattern_period)
    marked = dict(horizontal_stripes=lambda: rows % 2 == 0,
                  vertical_stripes=lambda: cols % 2 == 0,
                  checks=lambda: (rows + cols) % 2 == 0,
                  logo=lambda: np.hypot(x_units, y_units - 0.29) < 0.055,
                  solid=lambda: np.zeros(canvas_size, bool))[appearance.shirt_pattern]()
    layer = np.empty((*canvas_size, 3), np.uint8)
    layer[:] = appearance.shirt_colour
    layer[marked] = appearance.pattern_colour
    return layer


def _draw_shirt(canvas: np.ndarray, appearance: Appearance, pose: Pose,
                figure: _Figure) -> None:
    """Torso and sleeves, cut from the patterned shirt layer."""
    mask = np.zeros(canvas.shape[:2], np.uint8)
    build = appearance.build
    torso = [figure.point(-0.13 * build, 0.16), figure.point(0.13 * build, 0.16),
             figure.point(0.1 * build, 0.53), figure.point(-0.1 * build, 0.53)]
    cv2.fillConvexPoly(mask, np.array(torso, np.int32), 255, cv2.LINE_AA)
    for side in (-1, 1):
        shoulder, elbow, hand = _arm_joints(side, pose, build)
        sleeve = [shoulder, elbow, hand] if appearance.long_sleeves else [
            shoulder, ((shoulder[0] + elbow[0]) / 2, (shoulder[1] + elbow[1]) / 2)]
        _limb(mask, figure, sleeve, 255, 0.07)
    layer = _shirt_layer(appearance, figure, canvas.shape[:2])
    alpha = mask[..., None].astype(np.float32) / 255
    canvas[:] = (layer * alpha + canvas * (1 - alpha)).astype(np.uint8)


def _draw_arms(canvas: np.ndarray, appearance: Appearance, pose: Pose,
               figure: _Figure) -> None:
    """Bare forearms (short sleeves) and hands; the sleeves belong to the shirt."""
    for side in (-1, 1):
        shoulder, elbow, hand = _arm_joints(side, pose, appearance.build)
        if not appearance.long_sleeves:
            middle = ((shoulder[0] + elbow[0]) / 2, (shoulder[1] + elbow[1]) / 2)
            _limb(canvas, figure, [middle, elbow, hand], appearance.skin_colour, 0.055)
        cv2.circle(canvas, figure.point(*hand), figure.length(0.03), appearance.skin_colour,
                   -1, cv2.LINE_AA)


def _draw_legs(canvas: np.ndarray, appearance: Appearance, pose: Pose,
               figure: _Figure) -> None:
    """Trousers (or shorts and bare calves) and shoes."""
    for side in (-1, 1):
        hip, knee, ankle = _leg_joints(side, pose, appearance.build)
        if appearance.shorts:
            _limb(canvas, figure, [knee, ankle], appearance.skin_colour, 0.065)
            _limb(canvas, figure, [hip, knee], appearance.trouser_colour, 0.095)
        else:
            _limb(canvas, figure, [hip, knee, ankle], appearance.trouser_colour, 0.085)
        shoe = figure.point(ankle[0] + 0.025 * pose.facing, ankle[1] + 0.015)
        cv2.ellipse(canvas, shoe, (figure.length(0.05), figure.length(0.025)), 0, 0, 360,
                    appearance.shoe_colour, -1, cv2.LINE_AA)
    # the trousers' seat, so that the legs join below the shirt
    hip = 0.1 * appearance.build
    seat = [figure.point(-hip, 0.48), figure.point(hip, 0.48), figure.point(0.09, 0.58),
            figure.point(-0.09, 0.58)]
    cv2.fillConvexPoly(canvas, np.array(seat, np.int32), appearance.trouser_colour,
                       cv2.LINE_AA)


def _draw_head(canvas: np.ndarray, appearance: Appearance, pose: Pose,
               figure: _Figure) -> None:
    """Neck, face and hair; the face turns a little towards ``pose.facing``."""
    facing = pose.facing
    if appearance.long_hair:
        cv2.ellipse(canvas, figure.point(-0.01 * facing, 0.13),
                    (figure.length(0.075), figure.length(0.09)), 0, 0, 360,
                    appearance.hair_colour, -1, cv2.LINE_AA)
    _limb(canvas, figure, [(0, 0.1), (0, 0.17)], appearance.skin_colour, 0.05)
    head = figure.point(0.015 * facing, 0.075)
    cv2.circle(canvas, head, figure.length(0.062), appearance.skin_colour, -1, cv2.LINE_AA)
    cv2.ellipse(canvas, figure.point(-0.005 * facing, 0.06),
                (figure.length(0.066), figure.length(0.052)), 0, 180, 360,
                appearance.hair_colour, -1, cv2.LINE_AA)


def _draw_backpack(canvas: np.ndarray, appearance: Appearance, pose: Pose,
                   figure: _Figure) -> None:
    """The backpack's body, behind the torso on the side away from ``pose.facing``."""
    back = -pose.facing
    inner, outer = figure.point(back * 0.02, 0.2), figure.point(back * 0.19, 0.47)
    cv2.rectangle(canvas, inner, outer, appearance.bag_colour, -1, cv2.LINE_AA)


def _draw_straps_and_bag(canvas: np.ndarray, appearance: Appearance, pose: Pose,
                         figure: _Figure) -> None:
    """Backpack straps, or a shoulder bag hanging on the side of ``pose.facing``."""
    colour, facing = appearance.bag_colour, pose.facing
    if appearance.bag == 'backpack':
        for side in (-1, 1):
            _limb(canvas, figure, [(side * 0.07, 0.17), (side * 0.075, 0.38)], colour, 0.022)
    elif appearance.bag == 'shoulder_bag':
        _limb(canvas, figure, [(-facing * 0.08, 0.17), (facing * 0.14, 0.46)], colour, 0.02)
        cv2.rectangle(canvas, figure.point(facing * 0.09, 0.44),
                      figure.point(facing * 0.22, 0.58), colour, -1, cv2.LINE_AA)


def draw_figure(canvas: np.ndarray, appearance: Appearance, pose: Pose) -> None:
    """Draw the person onto ``canvas`` (H, W, 3) uint8 BGR, in place, back to front."""
    figure = _Figure(pose, canvas.shape[:2])
    if appearance.bag == 'backpack':
        _draw_backpack(canvas, appearance, pose, figure)
    _draw_legs(canvas, appearance, pose, figure)
    _draw_shirt(canvas, appearance, pose, figure)
    _draw_arms(canvas, appearance, pose, figure)
    _draw_head(canvas, appearance, pose, figure)
    _draw_straps_and_bag(canvas, appearance, pose, figure)
