"""Style transfer on real images: `StyleTransfer.load(model_dir)(content, style, alpha=...)`.

Any sizes and aspect ratios: images are reflect-padded to a multiple of 8 (the patch size)
and the output cropped back, so no border pixel is lost; content and style may differ in size
(the output has the content's). Options beyond the official code:
- strength α: the transformer output is blended with the content's own reconstruction
  (the network run with the content as its style: the identity path it is trained on),
  hs = α·hs(content, style) + (1 − α)·hs(content, content), then decoded;
- several styles with weights: their hs are blended the same way;
- colour preservation: the output's luminance with the content's chroma (YCbCr).
For a square content and style of equal size, a multiple of 8, α = 1 and no other option,
the result is exactly the network output, clamped and rounded to 8 bits.

High resolution: attention cost grows with the square of the token count (a 2048² image is
65,536 tokens), so contents larger than `TILE_ABOVE_PX` on a side are processed in overlapping
tiles of `TILE_PX`, each with the whole style, and blended with linear ramps across the
overlaps (weights sum to one everywhere, so there is no seam or step). Tiles keep memory flat;
the price is that CAPE and attention see one tile of content at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from export.backend import check_backend
from export.checks import InvalidValue, check_number
from export.folder import ModelFolderError
from export.images import open_image, to_image, to_tensor
from export.weights import load_model_folder
from stytr2.backends import StyleNets
from stytr2.model import StyTr2Config, StyTr2Net
from stytr2.official import WHERE_TO_GET

TILE_PX = 512
TILE_OVERLAP_PX = 64
TILE_ABOVE_PX = 1024


class StyleTransfer:
    def __init__(self, nets: StyleNets, folder: Path):
        self.nets, self.folder = nets, Path(folder)
        self.multiple = nets.config.patch

    @classmethod
    def load(cls, model_dir: str | Path, backend: str = "torch", device: str = "auto"):
        """A StyTr² folder (`import-stytr2`), or with backend="onnx" the folder `studio export
        stytr2` wrote (its graphs are checked against the manifest's hashes first)."""
        folder = Path(model_dir)
        if check_backend(backend) == "onnx":
            return cls(StyleNets.on_onnx(folder, device), folder)
        if not (folder / "config.json").is_file():
            raise ModelFolderError(f"{folder}: no StyTr² model here. {WHERE_TO_GET}")
        _, net = load_model_folder(folder, StyTr2Config, StyTr2Net)
        return cls(StyleNets.on_torch(net, device), folder)

    @torch.inference_mode()
    def __call__(
        self,
        content: str | Path | Image.Image,
        style: str | Path | Image.Image | Sequence[str | Path | Image.Image],
        alpha: float = 1.0,
        preserve_color: bool = False,
        style_weights: Sequence[float] | None = None,
        size: int | None = None,
        tile_px: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Image.Image:
        """`tile_px`: None = tile only above TILE_ABOVE_PX, 0 = never, N = tiles of N px.
        `progress(done, total)` is called after each tile (once when untiled)."""
        styles = list(style) if isinstance(style, list | tuple) else [style]
        weights = check_options(alpha, styles, style_weights, size)
        content_image = open_image(content, "content")
        if size:
            content_image = _fit(content_image, size)
        x = to_tensor(content_image)
        if tile_px is None:
            tile_px = TILE_PX if max(x.shape[-2:]) > TILE_ABOVE_PX else 0
        emb_styles = []
        for s, weight in zip(styles, weights, strict=True):
            if weight > 0:
                style_image = open_image(s, "style")
                if tile_px and max(style_image.size) > tile_px:
                    # Each tile attends to every style token: keep the style at tile scale.
                    style_image = _fit(style_image, tile_px)
                emb_styles.append((weight, self.nets.embed(self._pad(to_tensor(style_image)))))
        if tile_px:
            out = self._tiled(x, emb_styles, alpha, int(tile_px), progress)
        else:
            out = self._stylise(x, emb_styles, alpha)
            if progress:
                progress(1, 1)
        result = to_image(out)
        return keep_colors(content_image, result) if preserve_color else result

    def _stylise(self, x: torch.Tensor, emb_styles: list, alpha: float) -> torch.Tensor:
        """(1, 3, H, W) content → (1, 3, H, W) output, any H, W."""
        h, w = x.shape[-2:]
        emb_c = self.nets.embed(self._pad(x))
        hs = sum(weight * self.nets.transform(emb_c, emb_s) for weight, emb_s in emb_styles)
        if alpha < 1.0:
            hs = alpha * hs + (1 - alpha) * self.nets.transform(emb_c, emb_c)
        return self.nets.decode(hs)[..., :h, :w]

    def _tiled(self, x, emb_styles: list, alpha: float, tile: int, progress=None) -> torch.Tensor:
        if tile < 4 * self.multiple or tile <= TILE_OVERLAP_PX:
            raise ValueError(f"tiles must be larger than {TILE_OVERLAP_PX} px, not {tile}")
        h, w = x.shape[-2:]
        out = torch.zeros_like(x)
        total = torch.zeros(1, 1, h, w)
        origins = [(t, le) for t in _tile_starts(h, tile) for le in _tile_starts(w, tile)]
        for done, (top, left) in enumerate(origins, 1):
            piece = x[..., top : top + tile, left : left + tile]
            ph, pw = piece.shape[-2:]
            weight = _ramp(ph, top, h)[:, None] * _ramp(pw, left, w)[None, :]
            styled = self._stylise(piece, emb_styles, alpha)
            out[..., top : top + ph, left : left + pw] += styled * weight
            total[..., top : top + ph, left : left + pw] += weight
            if progress:
                progress(done, len(origins))
        return out / total

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect-pad bottom/right to a multiple of the patch size (cropped off afterwards)."""
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if not (ph or pw):
            return x
        return F.pad(x, (0, pw, 0, ph), mode="reflect")


def _tile_starts(n: int, tile: int) -> list[int]:
    """Tile origins covering 0..n with at least TILE_OVERLAP_PX of overlap."""
    if n <= tile:
        return [0]
    step = tile - TILE_OVERLAP_PX
    starts = list(range(0, n - tile, step))
    return [*starts, n - tile]


def _ramp(length: int, start: int, n: int) -> torch.Tensor:
    """Blend weights along one side of a tile: rising over the overlap, except at the image's
    own edges (so every pixel's weights are positive and the blend has no seam)."""
    ramp = torch.ones(length)
    fade = min(TILE_OVERLAP_PX, length // 2)
    edge = (torch.arange(fade, dtype=torch.float32) + 1) / (fade + 1)
    if start > 0:
        ramp[:fade] = edge
    if start + length < n:
        ramp[-fade:] = torch.minimum(ramp[-fade:], edge.flip(0))
    return ramp


def check_options(alpha, styles, style_weights, size) -> list[float]:
    check_number(alpha, "alpha", 0.0, 1.0)
    if not styles:
        raise InvalidValue.of("style", "needs at least one style image")
    if size is not None:
        check_number(size, "size", 16, 8192, integer=True, unit="pixels")
    if style_weights is None:
        weights = [1.0] * len(styles)
    else:
        weights = [check_number(v, "style_weights", 0.0, 1e6) for v in style_weights]
    if len(weights) != len(styles):
        raise InvalidValue.of(
            "style_weights", f"has {len(weights)} style weights for {len(styles)} style images"
        )
    if sum(weights) <= 0:
        raise InvalidValue.of("style_weights", "must be positive somewhere (they are not all zero)")
    return [v / sum(weights) for v in weights]


def _fit(image: Image.Image, size: int) -> Image.Image:
    """Scale so the longer side is `size` pixels."""
    scale = size / max(image.size)
    new = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if new == image.size else image.resize(new, Image.Resampling.LANCZOS)


def keep_colors(content: Image.Image, stylised: Image.Image) -> Image.Image:
    """The stylised luminance with the content's chroma."""
    y, _, _ = stylised.convert("YCbCr").split()
    _, cb, cr = content.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
