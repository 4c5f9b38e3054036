from .loading import LoadImageFromFile, UnreadableImageError
from .reid_random_erasing import IMAGENET_MEAN_BGR, ReIDRandomErasing

__all__ = [
    'IMAGENET_MEAN_BGR', 'LoadImageFromFile', 'ReIDRandomErasing', 'UnreadableImageError'
]
