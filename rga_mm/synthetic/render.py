"""One image as a camera sees it: the camera's background, the person drawn on it, then the
camera's lighting, blur and noise (:func:`render_person`); and the image of each planned
file (:func:`render_record`), distractors and junk included.

Every per-image choice comes from the ``rng`` passed in, so a record's seed fixes its pixels.
"""
import cv2
import numpy as np

from .figure import draw_figure
from .plan import ImageRecord
from .world import Appearance, Camera, Pose, sample_appearance, sample_pose

SUPERSAMPLING = 2  # figures are drawn at twice the size, then shrunk: cheap anti-aliasing


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
                    size: tuple[int, int]) -> np.ndarray:
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


def render_person(appearance: Appearance | None, camera: Camera, rng: np.random.Generator,
                  image_size: tuple[int, int] = (128, 64),
                  pose: Pose | None = None) -> np.ndarray:
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


def render_record(record: ImageRecord, appearances: dict[int, Appearance],
                  cameras: dict[int, Camera], image_size: tuple[int, int]) -> np.ndarray:
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
