"""Reading and writing images for every model: what users have, as RGB in [0, 1], or a clear error.

EXIF rotation is applied; palette, CMYK, 16-bit, greyscale and alpha images are converted
(alpha over white), never rejected; the pixel count is capped before decoding (decompression
bombs) and images smaller than 16 px on a side are refused.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from export.checks import parse_json

MAX_PIXELS = 64_000_000  # ~8000 × 8000; more is refused before decoding
MIN_SIDE = 16


class ImageError(ValueError):
    """An image that cannot be used, with the reason."""


def probe_image(path: str | Path, name: str | None = None) -> Image.Image:
    """The image file opened (header read, pixels not decoded), or ImageError: not a file, not
    an image, or more than MAX_PIXELS (checked before any pixel is decoded)."""
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap below
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: more than {MAX_PIXELS:,} pixels; scale it down first") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError(f"{label}: not a readable image ({_reason(e, path)})") from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(
            f"{label}: {image.width}×{image.height} is more than {MAX_PIXELS:,} pixels; "
            "scale it down first"
        )
    return image


def _reason(e: Exception, path: Path) -> str:
    """PIL's words, without the server path it puts in them."""
    return str(e).replace(f" '{path}'", "").replace(str(path), "the file")


def open_image(source: str | Path | Image.Image, name: str | None = None) -> Image.Image:
    """A path or PIL image → an RGB PIL image, upright."""
    if isinstance(source, Image.Image):
        image, label = source, name or "image"
    else:
        path = Path(source)
        label = f"{name} {path.name}" if name and name != path.name else path.name
        image = probe_image(path, label)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
        except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data
            raise ImageError(f"{label}: not a readable image ({_reason(e, path)})") from None
    image = ImageOps.exif_transpose(image)
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"{label}: {image.width}×{image.height} is too small (< {MIN_SIDE} px)")
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit greyscale: scale to 8 bits
        array = np.asarray(image, np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def to_tensor(image: Image.Image):
    """RGB PIL → (1, 3, H, W) float32 torch tensor in [0, 1]."""
    import torch  # here: reading images (and their errors) must not load PyTorch

    pixels = np.asarray(image, np.float32) / 255.0
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]


def to_image(tensor) -> Image.Image:
    """(1, 3, H, W) → RGB PIL: clamped to [0, 1], rounded to 8 bits."""
    pixels = tensor[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8))


PARAMETERS_CHUNK = "parameters"


def png_with_parameters(image: Image.Image, params: dict) -> bytes:
    """PNG bytes with `params` as a JSON iTXt chunk named "parameters"."""
    info = PngInfo()
    info.add_itxt(PARAMETERS_CHUNK, json.dumps(params, ensure_ascii=False))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def png_parameters(path: str | Path) -> dict:
    """The parameters a PNG of ours carries, or an ImageError saying it has none."""
    try:
        with Image.open(path) as image:
            text = image.info.get(PARAMETERS_CHUNK) if image.format == "PNG" else None
    except (OSError, UnidentifiedImageError) as e:
        raise ImageError(f"{path}: not a readable PNG ({e})") from None
    if text is None:
        raise ImageError(f"{path}: has no '{PARAMETERS_CHUNK}' chunk (not written by this studio)")
    params = parse_json(text, f"{path}: its parameters", ImageError)
    if not isinstance(params, dict):
        raise ImageError(f"{path}: its parameters are not a JSON object")
    return params
