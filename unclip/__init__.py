"""unCLIP (DALL·E 2 / Karlo): images from text, image variations, interpolation, text diffs."""

from export.progress import Cancelled
from unclip.components import UnCLIPModelError
from unclip.pipeline import ImageResult, UnCLIP
from unclip.settings import Guidance, Steps

__all__ = ["Cancelled", "Guidance", "ImageResult", "Steps", "UnCLIP", "UnCLIPModelError"]
