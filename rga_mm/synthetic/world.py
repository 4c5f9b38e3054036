"""What the synthetic world looks like: each identity's clothing (:class:`Appearance`), each
camera's lighting, background and blur (:class:`Camera`) and each image's framing and walking
pose (:class:`Pose`), drawn from a seeded ``numpy`` generator.

Colours come from small palettes, so identities share colours and differ in combinations.
"""
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Colour = tuple[int, int, int]  # B, G, R

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
    gain: tuple[float, float, float]
    contrast: float
    background: str
    background_colours: tuple[Colour, Colour]
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
                 num_ids: int) -> tuple[dict[int, Camera], dict[int, Appearance]]:
    """The cameras 1..num_cameras and the identities 1..num_ids, keyed by number."""
    cameras = {index: sample_camera(index, rng) for index in range(1, num_cameras + 1)}
    return cameras, {identity: sample_appearance(rng) for identity in range(1, num_ids + 1)}


def sample_pose(rng: np.random.Generator, height: tuple[float, float] = (0.8, 0.92),
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
