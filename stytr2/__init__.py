"""StyTr² style transfer: the network, the official weights' importer, any-size inference.

from stytr2 import StyleTransfer
image = StyleTransfer.load("models/stytr2")("content.jpg", "style.jpg", alpha=0.8)
"""

from export.images import ImageError
from stytr2.pipeline import StyleTransfer

__all__ = ["ImageError", "StyleTransfer"]
