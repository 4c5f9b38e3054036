"""A synthetic person re-ID dataset in Market-1501's exact layout, drawn with OpenCV.

Used by the demo and by tests, which need a dataset that a small RGA model learns in minutes
on a CPU, without a download. :func:`generate_synthetic_market` writes::

    {root}/Market-1501-v15.09.15/
        bounding_box_train/0002_c1s1_000451_03.jpg   id, camera, sequence, frame, detector box
        query/0001_c2s3_001051_00.jpg                query boxes are box 00, as in Market
        bounding_box_test/0001_c4s1_017326_02.jpg    the other images of the test identities,
                         0000_c5s2_030201_01.jpg     distractors (badly framed strangers) and
                         -1_c3s2_000123_01.jpg       junk (background, body fragments)
        synthetic_manifest.json                      the parameters; marks the folder complete

so ``Market1501(data_root=folder, split=...)`` reads it like the real dataset.

Identity lives in the clothing (:class:`Appearance`: shirt colour and pattern, trousers or
shorts, shoes, hair, an optional shoulder bag or backpack, build). The nuisances are
Market's: each camera has its own lighting (brightness, colour cast, contrast), background
family and blur (:class:`Camera`); each image has its own pose (walking phase, arm swing,
facing left or right, which moves a shoulder bag to the other side), scale, position, blur
and sensor noise (:class:`Pose`). Colours come from small palettes, so identities share
colours and differ in combinations: a colour histogram matches far above chance but not
always (``tests/datasets/test_synthetic.py`` checks both).

Everything follows from ``seed``: the same parameters give byte-identical files.
"""
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from .market_style import SPLIT_FOLDERS

Colour = Tuple[int, int, int]  # B, G, R

DATASET_FOLDER = 'Market-1501-v15.09.15'
MANIFEST_NAME = 'synthetic_manifest.json'
GENERATOR_VERSION = 1
JPEG_QUALITY = 90
SUPERSAMPLING = 2  # figures are drawn at twice the size, then shrunk: cheap anti-aliasing

SHIRT_PATTERNS = ('solid', 'horizontal_stripes', 'vertical_stripes', 'checks', 'logo')
BAGS = ('none', 'shoulder_bag', 'backpack')
BACKGROUNDS = ('wall', 'tiles', 'foliage', 'street')  # one family per camera

SHIRT_COLOURS = ((40, 40, 200), (200, 90, 30), (100, 40, 20), (60, 150, 40), (40, 210, 230),
                 (235, 235, 235), (30, 30, 30), (130, 130, 130), (30, 120, 240),
                 (140, 40, 110), (180, 140, 240), (210, 200, 60), (40, 70, 120),
                 (160, 200, 220))
TROUSER_COLOURS = ((30, 30, 30), (130, 80, 40), (80, 45, 25), (110, 110, 110),
                   (110, 160, 185), (40, 65, 100), (225, 225, 225), (50, 110, 100),
                   (40, 40, 170))
SHOE_COLOURS = ((25, 25, 25), (235, 235, 235), (30, 60, 100), (120, 120, 120), (40, 40, 190),
                (170, 90, 40))
HAIR_COLOURS = ((25, 25, 30), (30, 45, 70), (40, 80, 130), (100, 180, 220), (170, 170, 170))
SKIN_TONES = ((180, 200, 235), (140, 170, 215), (100, 135, 185), (60, 90, 135))
BAG_COLOURS = ((25, 25, 25), (40, 70, 110), (40, 40, 180), (170, 80, 30), (120, 120, 120),
               (50, 120, 60), (150, 190, 210))
BACKGROUND_PALETTE = ((170, 170, 170), (120, 140, 160), (90, 100, 110), (200, 190, 180),
                      (60, 120, 70), (150, 120, 100), (80, 80, 90), (190, 205, 215))


@dataclass(frozen=True)
class Appearance:
    """What stays the same for one identity in every camera: the clothing and the build.

    Colours are BGR. ``pattern_period`` is the stripe/check period as a fraction of the
    person's height; ``build`` scales the shoulder and hip width.
    """

    shirt_colour: Colour
    shirt_pattern: str
    pattern_colour: Colour
    pattern_period: float
    long_sleeves: bool
    trouser_colour: Colour
    shorts: bool
    shoe_colour: Colour
    skin_colour: Colour
    hair_colour: Colour
    long_hair: bool
    bag: str
    bag_colour: Colour
    build: float


@dataclass(frozen=True)
class Camera:
    """What one camera does to every image it takes.

    ``gain`` multiplies the B, G, R channels (brightness × colour cast); ``contrast``
    stretches around the image mean; ``background`` is one of :data:`BACKGROUNDS`, drawn
    in ``background_colours``; ``blur_sigma`` and ``noise_std`` are in output pixels and
    0..255 levels.
    """

    index: int
    gain: Tuple[float, float, float]
    contrast: float
    background: str
    background_colours: Tuple[Colour, Colour]
    blur_sigma: float
    noise_std: float


@dataclass(frozen=True)
class Pose:
    """How one image frames its person.

    ``height`` is the person's height and ``centre_x``/``top`` their position, as fractions
    of the image height/width/height; ``facing`` is +1 (right) or -1 (left); ``phase``
    (radians) is the walking phase and ``swing`` (0..1) its amplitude.
    """

    facing: int
    phase: float
    swing: float
    height: float
    centre_x: float
    top: float


@dataclass(frozen=True)
class ImageRecord:
    """One file to write: where, who, which camera, and the seed of its render."""

    folder: str
    name: str
    identity: int
    camera: int
    seed: int
    kind: str = 'person'  # 'person', 'distractor' or 'junk'


def _pick(palette: Sequence[Colour], rng: np.random.Generator, jitter: int = 12) -> Colour:
    """A palette colour moved by up to ``jitter`` levels per channel."""
    base = np.asarray(palette[rng.integers(len(palette))], np.int64)
    return tuple(int(v) for v in np.clip(base + rng.integers(-jitter, jitter + 1, 3), 0, 255))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random identity's clothing and build."""
    shirt = _pick(SHIRT_COLOURS, rng)
    pattern_colour = shirt
    while np.abs(np.subtract(pattern_colour, shirt)).sum() < 120:
        pattern_colour = _pick(SHIRT_COLOURS, rng)
    return Appearance(
        shirt_colour=shirt,
        shirt_pattern=SHIRT_PATTERNS[rng.integers(len(SHIRT_PATTERNS))],
        pattern_colour=pattern_colour,
        pattern_period=float(rng.uniform(0.04, 0.08)),
        long_sleeves=bool(rng.random() < 0.5),
        trouser_colour=_pick(TROUSER_COLOURS, rng),
        shorts=bool(rng.random() < 0.25),
        shoe_colour=_pick(SHOE_COLOURS, rng),
        skin_colour=_pick(SKIN_TONES, rng, jitter=8),
        hair_colour=_pick(HAIR_COLOURS, rng),
        long_hair=bool(rng.random() < 0.3),
        bag=BAGS[rng.choice(len(BAGS), p=(0.5, 0.25, 0.25))],
        bag_colour=_pick(BAG_COLOURS, rng),
        build=float(rng.uniform(0.9, 1.15)))


def sample_camera(index: int, rng: np.random.Generator) -> Camera:
    """Camera ``index`` (1-based): its lighting, background family and blur.

    The background family cycles through :data:`BACKGROUNDS` with the index, so cameras
    1..4 always differ in it; the colours and lighting are random.
    """
    brightness = rng.uniform(0.7, 1.2)
    cast = 1 + rng.uniform(-0.15, 0.15, 3)
    return Camera(
        index=index,
        gain=tuple(float(v) for v in brightness * cast),
        contrast=float(rng.uniform(0.75, 1.15)),
        background=BACKGROUNDS[(index - 1) % len(BACKGROUNDS)],
        background_colours=(_pick(BACKGROUND_PALETTE, rng, 25),
                            _pick(BACKGROUND_PALETTE, rng, 25)),
        blur_sigma=float(rng.uniform(0.2, 0.8)),
        noise_std=float(rng.uniform(1.5, 5)))


def sample_world(rng: np.random.Generator, num_cameras: int,
                 num_ids: int) -> Tuple[Dict[int, Camera], Dict[int, Appearance]]:
    """The cameras 1..num_cameras and the identities 1..num_ids, keyed by number."""
    cameras = {index: sample_camera(index, rng) for index in range(1, num_cameras + 1)}
    return cameras, {identity: sample_appearance(rng) for identity in range(1, num_ids + 1)}


def sample_pose(rng: np.random.Generator, height: Tuple[float, float] = (0.8, 0.92),
                shift: float = 0.05) -> Pose:
    """A random walking pose, framed like a detector box: the person fills ``height`` of
    the image, shifted by up to ``shift`` of the image size."""
    person_height = float(rng.uniform(*height))
    return Pose(
        facing=int(rng.choice((-1, 1))),
        phase=float(rng.uniform(0, 2 * math.pi)),
        swing=float(rng.uniform(0.3, 1.0)),
        height=person_height,
        centre_x=float(0.5 + rng.uniform(-shift, shift)),
        top=float((1 - person_height) / 2 + rng.uniform(-shift, shift) / 2))


# ---------------------------------------------------------------------------------------------
# Drawing. The figure is laid out in units of its height from its top centre; the
# canvas is the supersampled image.


class _Figure:
    """Maps the figure's (x, y) in units of its height to canvas pixels."""

    def __init__(self, pose: Pose, canvas_size: Tuple[int, int]):
        canvas_h, canvas_w = canvas_size
        self.unit = pose.height * canvas_h  # pixels per person height
        self.centre_x = pose.centre_x * canvas_w
        self.top = pose.top * canvas_h

    def point(self, x: float, y: float) -> Tuple[int, int]:
        return (int(round(self.centre_x + x * self.unit)),
                int(round(self.top + y * self.unit)))

    def length(self, size: float) -> int:
        return max(1, int(round(size * self.unit)))


def _limb(canvas: np.ndarray, figure: _Figure, joints: Sequence[Tuple[float, float]],
          colour: Colour, width: float) -> None:
    """A thick polyline through ``joints`` (figure units)."""
    points = [figure.point(*joint) for joint in joints]
    for start, end in zip(points, points[1:]):
        cv2.line(canvas, start, end, colour, figure.length(width), cv2.LINE_AA)


def _arm_joints(side: int, pose: Pose, build: float) -> List[Tuple[float, float]]:
    """Shoulder, elbow and hand of the left (-1) or right (+1) arm, in figure units."""
    angle = 0.12 + side * pose.facing * 0.45 * pose.swing * math.sin(pose.phase)
    shoulder = (side * 0.125 * build, 0.18)
    elbow = (shoulder[0] + side * 0.16 * math.sin(angle), shoulder[1] + 0.16 * math.cos(angle))
    bend = angle + 0.25 * pose.facing * side
    hand = (elbow[0] + side * 0.15 * math.sin(bend), elbow[1] + 0.15 * math.cos(bend))
    return [shoulder, elbow, hand]


def _leg_joints(side: int, pose: Pose, build: float) -> List[Tuple[float, float]]:
    """Hip, knee and ankle of the left (-1) or right (+1) leg, in figure units."""
    stride = side * 0.07 * pose.swing * math.sin(pose.phase)
    lift = 0.03 * pose.swing * max(0.0, math.sin(pose.phase) * side)
    hip = (side * 0.06 * build, 0.5)
    ankle = (side * 0.055 + stride, 0.955 - lift)
    knee = ((hip[0] + ankle[0]) / 2 + 0.015 * pose.facing, 0.73 - lift / 2)
    return [hip, knee, ankle]


def _shirt_layer(appearance: Appearance, figure: _Figure,
                 canvas_size: Tuple[int, int]) -> np.ndarray:
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


def _wall(first: np.ndarray, second: np.ndarray, horizon: int, rng: np.random.Generator,
          image: np.ndarray) -> None:
    """A vertical gradient with two darker pillars, and a floor below ``horizon``."""
    rows = np.linspace(0, 1, image.shape[0], dtype=np.float32)[:, None, None]
    image[:] = first * (1 - rows) + second * rows
    for x in rng.integers(0, image.shape[1], 2):
        image[:horizon, x:x + image.shape[1] // 10] *= 0.8
    image[horizon:] = second * 0.6


def _tiles(first: np.ndarray, second: np.ndarray, horizon: int, rng: np.random.Generator,
           image: np.ndarray) -> None:
    """A checkered tile floor, with a plain wall strip at the top."""
    tile = max(4, image.shape[1] // int(rng.integers(3, 6)))
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    checker = ((rows + int(rng.integers(tile))) // tile +
               (cols + int(rng.integers(tile))) // tile) % 2 == 0
    image[:] = first
    image[checker] = second
    image[:horizon // 2] = first * 0.85


def _foliage(first: np.ndarray, second: np.ndarray, horizon: int, rng: np.random.Generator,
             image: np.ndarray) -> None:
    """Smooth green-tinted noise (bushes), and a path below ``horizon``."""
    height, width = image.shape[:2]
    noise = rng.random((max(2, height // 12), max(2, width // 12))).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    image[:] = first * (0.55 + 0.6 * noise) * np.array([0.6, 1.1, 0.7], np.float32)
    image[horizon:] = second * 0.8


def _street(first: np.ndarray, second: np.ndarray, horizon: int, rng: np.random.Generator,
            image: np.ndarray) -> None:
    """A building with rows of windows, and a road with a dashed lane marking."""
    height, width = image.shape[:2]
    window = max(3, width // 8)
    offset = int(rng.integers(window))
    image[:] = first * 0.9
    for y in range(window // 2, horizon - window, 2 * window):
        for x in range(offset - window, width, 2 * window):
            image[y:y + window, max(0, x):max(0, x + window)] = second * 0.5
    image[horizon:] = (95, 95, 100)
    lane = horizon + (height - horizon) // 2
    image[lane:lane + max(1, height // 60), ::max(2, width // 4)] = 230


_BACKGROUND_PAINTERS = dict(wall=_wall, tiles=_tiles, foliage=_foliage, street=_street)


def draw_background(camera: Camera, rng: np.random.Generator,
                    size: Tuple[int, int]) -> np.ndarray:
    """The camera's background family, varied per image: (H, W, 3) uint8 BGR."""
    first, second = (np.asarray(c, np.float32) for c in camera.background_colours)
    image = np.empty((*size, 3), np.float32)
    horizon = int(size[0] * rng.uniform(0.6, 0.8))
    _BACKGROUND_PAINTERS[camera.background](first, second, horizon, rng, image)
    return np.clip(image, 0, 255).astype(np.uint8)


def apply_camera(image: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """The camera's lighting, blur and noise on a rendered image (H, W, 3) uint8 BGR."""
    pixels = image.astype(np.float32) * np.asarray(camera.gain, np.float32)
    pixels *= rng.uniform(0.93, 1.07)  # per-image exposure
    mean = pixels.mean()
    pixels = (pixels - mean) * camera.contrast + mean
    sigma = camera.blur_sigma + rng.uniform(0, 0.4)
    pixels = cv2.GaussianBlur(pixels, (0, 0), sigma)
    pixels += rng.normal(0, camera.noise_std, pixels.shape).astype(np.float32)
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


def render_person(appearance: Optional[Appearance], camera: Camera, rng: np.random.Generator,
                  image_size: Tuple[int, int] = (128, 64),
                  pose: Optional[Pose] = None) -> np.ndarray:
    """One detection box of a person seen by a camera.

    Args:
        appearance: the person's clothing; None renders the background only.
        camera: lighting, background family, blur and noise.
        rng: the source of every per-image choice (pose, background, noise).
        image_size: (H, W) of the result.
        pose: the framing and walking pose; sampled from ``rng`` if None.

    Returns:
        (H, W, 3) uint8 BGR image.
    """
    height, width = image_size
    canvas_size = (height * SUPERSAMPLING, width * SUPERSAMPLING)
    canvas = draw_background(camera, rng, canvas_size)
    if appearance is not None:
        draw_figure(canvas, appearance, pose or sample_pose(rng))
    image = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return apply_camera(image, camera, rng)


# ---------------------------------------------------------------------------------------------
# The dataset: which identity is seen by which camera, how often, under which file name.


def _validate(num_train_ids: int, num_test_ids: int, num_cameras: int,
              cameras_per_id: Tuple[int, int], images_per_camera: Tuple[int, int],
              query_cameras_per_id: Tuple[int, int], image_size: Tuple[int, int]) -> None:
    """Raise ValueError for parameters that cannot give a Market-style dataset."""
    problems = []
    if num_train_ids < 1 or num_test_ids < 1 or num_train_ids + num_test_ids > 9999:
        problems.append(f'num_train_ids ({num_train_ids}) and num_test_ids ({num_test_ids}) '
                        'must be >= 1 and sum to at most 9999 (4-digit ids)')
    if not 2 <= num_cameras <= 9:
        problems.append(f'num_cameras must be 2..9 (one digit in c{{camera}}), got '
                        f'{num_cameras}')
    if not 2 <= cameras_per_id[0] <= cameras_per_id[1] <= num_cameras:
        problems.append(f'cameras_per_id {cameras_per_id} must satisfy 2 <= min <= max <= '
                        f'num_cameras ({num_cameras}), so that queries have a cross-camera '
                        'match')
    if not 2 <= images_per_camera[0] <= images_per_camera[1]:
        problems.append(f'images_per_camera {images_per_camera} needs 2 <= min <= max: a '
                        'query takes one image of a camera and leaves one in the gallery')
    if not 1 <= query_cameras_per_id[0] <= min(query_cameras_per_id[1], cameras_per_id[0]):
        problems.append(f'query_cameras_per_id {query_cameras_per_id} must satisfy 1 <= min '
                        f'<= max and min <= min(cameras_per_id) ({cameras_per_id[0]})')
    if image_size[0] < 32 or image_size[1] < 16:
        problems.append(f'image_size (H, W) must be at least (32, 16), got {image_size}')
    if problems:
        raise ValueError('generate_synthetic_market: ' + '; '.join(problems))


def _split_identities(num_train_ids: int, num_test_ids: int,
                      rng: np.random.Generator) -> Tuple[List[int], List[int]]:
    """Ids 1..train+test, shuffled into disjoint train and test sets (interleaved, as in
    Market), each sorted."""
    ids = rng.permutation(np.arange(1, num_train_ids + num_test_ids + 1))
    return (sorted(int(i) for i in ids[:num_train_ids]),
            sorted(int(i) for i in ids[num_train_ids:]))


class _NameMaker:
    """Market file names ``{id}_c{camera}s{sequence}_{frame:06d}_{box:02d}.jpg``.

    An identity has one tracklet per camera, so its names cannot collide; the many images
    of ids 0000 and -1 are kept unique with a set.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used = set()

    def tracklet(self, identity: int, camera: int, count: int) -> List[Tuple[str, str]]:
        """``count`` frames of one walk past a camera, every 25th frame apart or more:
        (name with box 00, name with a detector box 01..04) per frame; queries take the
        first (Market's hand-drawn query boxes are box 00), everything else the second."""
        sequence = int(self.rng.integers(1, 7))
        start = int(self.rng.integers(0, 6000)) * 25 + 1
        steps = np.sort(self.rng.choice(max(40, 2 * count), count, replace=False))
        stems = [self._stem(identity, camera, sequence, start + 25 * int(step))
                 for step in steps]
        return [(f'{stem}_00.jpg', f'{stem}_{self._box():02d}.jpg') for stem in stems]

    def single(self, identity: int, camera: int) -> str:
        """A detector box name not used before (distractors, junk)."""
        while True:
            frame = int(self.rng.integers(0, 40000)) * 5 + 1
            stem = self._stem(identity, camera, int(self.rng.integers(1, 7)), frame)
            name = f'{stem}_{self._box():02d}.jpg'
            if name not in self.used:
                self.used.add(name)
                return name

    def _box(self) -> int:
        return int(self.rng.integers(1, 5))

    @staticmethod
    def _stem(identity: int, camera: int, sequence: int, frame: int) -> str:
        person = '-1' if identity == -1 else f'{identity:04d}'
        return f'{person}_c{camera}s{sequence}_{frame:06d}'


def _identity_records(identity: int, is_test: bool, num_cameras: int,
                      cameras_per_id: Tuple[int, int], images_per_camera: Tuple[int, int],
                      query_cameras_per_id: Tuple[int, int], names: _NameMaker,
                      rng: np.random.Generator) -> List[ImageRecord]:
    """All images of one identity: train images, or one query per query camera and the
    rest in the gallery."""
    count = int(rng.integers(cameras_per_id[0], cameras_per_id[1] + 1))
    cameras = sorted(int(c) for c in rng.choice(np.arange(1, num_cameras + 1), count, False))
    num_queries = min(count, int(rng.integers(query_cameras_per_id[0],
                                              query_cameras_per_id[1] + 1)))
    query_cameras = set(int(c) for c in rng.choice(cameras, num_queries, replace=False))
    records = []
    for camera in cameras:
        frames = names.tracklet(
            identity, camera, int(rng.integers(images_per_camera[0], images_per_camera[1] + 1)))
        for index, (query_name, box_name) in enumerate(frames):
            if not is_test:
                folder, name = SPLIT_FOLDERS['train'], box_name
            elif camera in query_cameras and index == 0:
                folder, name = SPLIT_FOLDERS['query'], query_name
            else:
                folder, name = SPLIT_FOLDERS['gallery'], box_name
            records.append(
                ImageRecord(folder, name, identity, camera, int(rng.integers(2**31))))
    return records


def plan_dataset(num_train_ids: int, num_test_ids: int, num_cameras: int,
                 cameras_per_id: Tuple[int, int], images_per_camera: Tuple[int, int],
                 query_cameras_per_id: Tuple[int, int], num_distractors: int, num_junk: int,
                 rng: np.random.Generator) -> List[ImageRecord]:
    """Every file of the dataset, before any is drawn (see :func:`generate_synthetic_market`
    for the arguments)."""
    train_ids, test_ids = _split_identities(num_train_ids, num_test_ids, rng)
    names = _NameMaker(rng)
    records = []
    test_set = set(test_ids)
    for identity in sorted(train_ids + test_ids):
        records += _identity_records(identity, identity in test_set, num_cameras,
                                     cameras_per_id, images_per_camera, query_cameras_per_id,
                                     names, rng)
    for kind, identity, count in (('distractor', 0, num_distractors), ('junk', -1, num_junk)):
        for _ in range(count):
            camera = int(rng.integers(1, num_cameras + 1))
            records.append(ImageRecord(SPLIT_FOLDERS['gallery'], names.single(identity, camera),
                                       identity, camera, int(rng.integers(2**31)), kind))
    return records


def _render_record(record: ImageRecord, appearances: Dict[int, Appearance],
                   cameras: Dict[int, Camera], image_size: Tuple[int, int]) -> np.ndarray:
    """The image of one record, (H, W, 3) uint8 BGR.

    Distractors (id 0) are strangers framed the way a detector fails: too small, too big or
    half out of the box. Junk (id -1) is background or a fragment of a body.
    """
    rng = np.random.default_rng(record.seed)
    camera = cameras[record.camera]
    if record.kind == 'person':
        return render_person(appearances[record.identity], camera, rng, image_size)
    stranger = sample_appearance(rng)
    if record.kind == 'distractor':
        pose = sample_pose(rng, height=(0.45, 1.3), shift=0.35)
    elif rng.random() < 0.5:
        stranger, pose = None, None
    else:
        pose = sample_pose(rng, height=(1.8, 3.0), shift=0.6)
    return render_person(stranger, camera, rng, image_size, pose)


# ---------------------------------------------------------------------------------------------
# The folder: manifest, idempotence, writing.


def _read_manifest(folder: Path) -> Optional[dict]:
    try:
        return json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(folder: Path, parameters: dict) -> bool:
    """Whether ``folder`` holds a finished dataset of exactly these parameters."""
    manifest = _read_manifest(folder)
    if not manifest or not manifest.get('complete') or manifest['parameters'] != parameters:
        return False
    for split, folder_name in SPLIT_FOLDERS.items():
        split_folder = folder / folder_name
        on_disk = sum(1 for _ in split_folder.glob('*.jpg')) if split_folder.is_dir() else -1
        if on_disk != manifest['splits'][split]['images']:
            return False
    return True


def _clear(folder: Path, overwrite: bool) -> None:
    """Remove an earlier synthetic dataset (or anything, with ``overwrite``) from ``folder``.

    Raises:
        FileExistsError: the split folders hold images and there is no manifest: they were
            not written by this generator (perhaps the real Market-1501).
    """
    ours = (folder / MANIFEST_NAME).is_file()
    split_folders = [folder / name for name in SPLIT_FOLDERS.values()]
    foreign = [str(path) for path in split_folders if path.is_dir() and any(path.iterdir())]
    if foreign and not ours and not overwrite:
        raise FileExistsError(
            f'{folder} holds images in {", ".join(foreign)} but no {MANIFEST_NAME}: they '
            'were not written by generate_synthetic_market (perhaps the real Market-1501). '
            'Choose another root or pass overwrite=True (--overwrite) to replace them.')
    for path in split_folders:
        if path.is_dir():
            shutil.rmtree(path)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)


def split_statistics(records: Sequence[ImageRecord]) -> Dict[str, Dict[str, int]]:
    """Per split (``train``, ``query``, ``gallery``): identities and images, junk included."""
    statistics = {}
    for split, folder_name in SPLIT_FOLDERS.items():
        chosen = [record for record in records if record.folder == folder_name]
        statistics[split] = dict(identities=len({record.identity for record in chosen}),
                                 images=len(chosen))
    return statistics


def _write_manifest(folder: Path, parameters: dict, complete: bool,
                    records: Sequence[ImageRecord] = ()) -> None:
    manifest = dict(generator='rga_mm.datasets.synthetic', version=GENERATOR_VERSION,
                    complete=complete, parameters=parameters,
                    splits=split_statistics(records))
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + '\n')


def describe(folder: Path) -> str:
    """One line: identities and images per split, from the manifest of ``folder``."""
    manifest = _read_manifest(Path(folder))
    if manifest is None:
        raise FileNotFoundError(f'{folder}/{MANIFEST_NAME} not found')
    splits = manifest['splits']
    return ', '.join(f'{split} {counts["identities"]} ids / {counts["images"]} images'
                     for split, counts in splits.items()) + \
        ' (gallery ids include 0000 distractors and -1 junk)'


def generate_synthetic_market(root: str,
                              num_train_ids: int = 60,
                              num_test_ids: int = 60,
                              num_cameras: int = 6,
                              cameras_per_id: Tuple[int, int] = (3, 5),
                              images_per_camera: Tuple[int, int] = (2, 5),
                              query_cameras_per_id: Tuple[int, int] = (2, 3),
                              image_size: Tuple[int, int] = (128, 64),
                              num_distractors: int = 60,
                              num_junk: int = 30,
                              seed: int = 0,
                              overwrite: bool = False) -> Path:
    """Write a synthetic Market-1501 under ``root`` and return its folder.

    Each identity walks past ``cameras_per_id`` (min, max) of the ``num_cameras`` cameras
    and is caught in ``images_per_camera`` (min, max) frames by each. Train and test
    identities are disjoint. Of a test identity, one frame of each of
    ``query_cameras_per_id`` (min, max; at most all) of its cameras is a query; every other
    frame is in the gallery, which therefore holds a match from another camera for every
    query. The gallery also gets ``num_distractors`` images of id 0000 (badly framed
    strangers) and ``num_junk`` of id -1 (background, body fragments).
    The defaults give about 1,800 images (60 + 60 ids, ~14 images each) in a few seconds.

    The call is idempotent: if ``{root}/Market-1501-v15.09.15`` already holds a complete
    dataset of the same parameters (its ``synthetic_manifest.json`` says so and the file
    counts agree), it returns at once without touching a file. A synthetic dataset of other
    parameters, or an interrupted one, is deleted and written anew. Split folders with
    images but no manifest (not ours: perhaps the real dataset) raise FileExistsError,
    unless ``overwrite`` is True.

    Args:
        root: the folder that receives ``Market-1501-v15.09.15/``.
        image_size: (H, W) of every image.
        seed: everything (identities, cameras, names, pixels) follows from it.

    Returns:
        ``{root}/Market-1501-v15.09.15``, usable as ``data_root`` of ``Market1501``.
    """
    cameras_per_id, images_per_camera, query_cameras_per_id, image_size = (
        tuple(int(v) for v in pair) for pair in
        (cameras_per_id, images_per_camera, query_cameras_per_id, image_size))
    _validate(num_train_ids, num_test_ids, num_cameras, cameras_per_id, images_per_camera,
              query_cameras_per_id, image_size)
    parameters = dict(num_train_ids=num_train_ids, num_test_ids=num_test_ids,
                      num_cameras=num_cameras, cameras_per_id=list(cameras_per_id),
                      images_per_camera=list(images_per_camera),
                      query_cameras_per_id=list(query_cameras_per_id),
                      image_size=list(image_size), num_distractors=num_distractors,
                      num_junk=num_junk, seed=seed, version=GENERATOR_VERSION)
    folder = Path(root) / DATASET_FOLDER
    if _is_complete(folder, parameters):
        print_log(f'Synthetic Market-1501 at {folder} is complete; not regenerated',
                  logger='current')
        return folder

    _clear(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    _write_manifest(folder, parameters, complete=False)
    rng = np.random.default_rng(seed)
    cameras, appearances = sample_world(rng, num_cameras, num_train_ids + num_test_ids)
    records = plan_dataset(num_train_ids, num_test_ids, num_cameras, cameras_per_id,
                           images_per_camera, query_cameras_per_id, num_distractors, num_junk,
                           rng)
    print_log(f'Generating a synthetic Market-1501 ({len(records)} images) in {folder}',
              logger='current')
    start = time.perf_counter()
    for name in SPLIT_FOLDERS.values():
        (folder / name).mkdir()
    for record in records:
        image = _render_record(record, appearances, cameras, image_size)
        path = folder / record.folder / record.name
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f'could not write {path}')
    _write_manifest(folder, parameters, complete=True, records=records)
    print_log(f'Wrote {len(records)} images in {time.perf_counter() - start:.1f} s',
              logger='current')
    return folder

