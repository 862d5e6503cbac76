"""unCLIP (Ramesh et al. 2022, "DALL·E 2"; Karlo v1): text → CLIP image embedding (prior) →
64 px image (decoder) → 256 px (super-resolution), plus image variations, interpolation and text
diffs, all through the same three loops.

Noise is drawn exactly as diffusers' `UnCLIPPipeline` draws it (prior latents, each prior step,
decoder latents, each decoder step, super-res latents, each super-res step), from one CPU
`torch.Generator` per image seeded `seed + i`; so a single image equals diffusers' with that
generator. Images of a request run one after another (not as one batch), so image i is, bit for
bit, the image a single run seeded `seed + i` makes (batched matmuls differ by ~1e-5).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from export.atomic import write_atomic
from export.backend import check_backend, pick_device
from export.checks import InvalidValue
from export.images import open_image, png_with_parameters
from export.progress import Progress
from unclip.components import MODEL_INDEX, KarloFolder, UnCLIPModelError, resolve_model
from unclip.nets import GRAPH_OUTPUTS, OnnxNets, TorchNets
from unclip.settings import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    Guidance,
    Steps,
    check_frames,
    check_prompt,
    check_settings,
    seeds_for,
)
from unclip.stages import Stages, TextCondition, Tracker


@dataclass
class ImageResult:
    images: list[Image.Image]
    arrays: np.ndarray  # (N, H, W, 3) float32 in [0, 1], before rounding to 8 bits
    parameters: list[dict]
    notices: list[str] = field(default_factory=list)

    def save(self, out_dir: str | Path, stem: str) -> list[Path]:
        """One PNG per image (parameters embedded), each written atomically; if one cannot be
        written (a full disk), the others of this call are removed again."""
        out_dir = Path(out_dir)
        pngs = [
            png_with_parameters(image, params)
            for image, params in zip(self.images, self.parameters, strict=True)
        ]
        paths = [out_dir / f"{stem}-{i:03d}.png" for i in range(len(pngs))]
        written = []
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for path, data in zip(paths, pngs, strict=True):
                write_atomic(path, data)
                written.append(path)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return paths


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of directions along the last axis; lengths interpolate linearly.
    The ends are returned exactly (the samplers amplify even 1e-7 differences)."""
    if t in (0.0, 1.0):
        return (a if t == 0.0 else b).clone()
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.acos((ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    near = sin.abs() < 1e-6  # (anti)parallel: fall back to a normalised lerp
    wa = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * omega) / sin.where(~near, 1.0))
    wb = torch.where(near, t, torch.sin(t * omega) / sin.where(~near, 1.0))
    direction = wa * ua + wb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return direction * ((1.0 - t) * na + t * nb)


class UnCLIP:
    def __init__(self, folder: KarloFolder, nets: TorchNets | OnnxNets, model_name: str):
        self.folder, self.nets, self.model_name = folder, nets, model_name
        self.device, self.dtype = folder.device, folder.dtype
        self.stages = Stages(folder, nets, self.device)

    @classmethod
    def load(
        cls, model: str | Path, backend: str = "torch", device: str = "auto", dtype=None
    ) -> UnCLIP:
        """A Karlo-format folder (or hub id); components load when a task first needs them.
        backend="onnx": the folder `studio export unclip` wrote (hash-checked). `device`:
        "auto" is CUDA when a GPU is present, else the CPU; `dtype` (PyTorch): float16 on CUDA,
        float32 on the CPU unless given."""
        device = pick_device(device or "auto")
        if check_backend(backend) == "onnx":
            return cls._load_onnx(Path(model), device)
        device = torch.device(device)
        dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
        folder = KarloFolder(resolve_model(model), device, dtype)
        if not folder.tasks():
            folder.require("text")  # raises, naming what is missing
        return cls(folder, TorchNets(folder), _model_label(model))

    @classmethod
    def _load_onnx(cls, export_dir: Path, device: str) -> UnCLIP:
        from export.manifest import read_manifest, verified_graph

        names = [n for n in read_manifest(export_dir)["graphs"] if n.startswith("unclip/")]
        if not names:
            raise UnCLIPModelError(f"{export_dir}: no unCLIP graphs; run studio export unclip")
        for name in names:  # every file against the manifest's SHA-256 (OnnxNets: the graphs)
            if name.removeprefix("unclip/") not in GRAPH_OUTPUTS:
                verified_graph(export_dir, name)
        index = export_dir / "unclip" / "model_index" / MODEL_INDEX
        folder = KarloFolder(export_dir / "unclip", onnx=True, index_file=index)
        if not folder.tasks():
            folder.require("text")
        return cls(folder, OnnxNets(folder, export_dir, device), _model_label(export_dir))

    @property
    def is_tiny_random(self) -> bool:
        return self.folder.is_tiny_random

    # ---- tasks -------------------------------------------------------------------------------

    def text_to_image(
        self,
        prompt: str,
        num_images: int = 1,
        seed: int | None = None,
        steps: Steps = DEFAULT_STEPS,
        guidance: Guidance = DEFAULT_GUIDANCE,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ImageResult:
        check_prompt(prompt)
        self.folder.require("text")
        check_settings(steps, guidance)
        seeds = seeds_for(seed, num_images)
        track = Tracker(
            num_images * (steps.prior + steps.decoder + steps.super_res), progress, cancel
        )
        guided = guidance.prior > 1.0 or guidance.decoder > 1.0  # as diffusers decides
        cond, notices = self.encode_text([prompt])
        uncond = self.encode_text([""])[0] if guided else None

        def embed(gens):  # each image its own prior sample
            return self.stages.prior(cond, uncond, gens, steps.prior, guidance.prior, track)

        images = self._each_image(seeds, embed, cond, uncond, steps, guidance, track)
        params = {"task": "imagine", "prompt": prompt}
        return self._result(images, params, seeds, steps, guidance, notices)

    def variations(
        self,
        image,
        num_images: int = 1,
        seed: int | None = None,
        steps: Steps = DEFAULT_STEPS,
        guidance: Guidance = DEFAULT_GUIDANCE,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ImageResult:
        self.folder.require("image")
        check_settings(steps, guidance)
        seeds = seeds_for(seed, num_images)
        track = Tracker(num_images * (steps.decoder + steps.super_res), progress, cancel)
        image_embeds = self.encode_image(image)
        cond, uncond = self._empty_prompt(guidance.decoder > 1.0)
        images = self._each_image(
            seeds, lambda gens: image_embeds, cond, uncond, steps, guidance, track
        )
        params = {"task": "vary", "image": _name(image)}
        return self._result(images, params, seeds, steps, guidance, [])

    def interpolate(
        self,
        a,
        b,
        frames: int = 5,
        seed: int | None = None,
        steps: Steps = DEFAULT_STEPS,
        guidance: Guidance = DEFAULT_GUIDANCE,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ImageResult:
        """Frames from `a` to `b`, each a prompt (text) or an image (a `pathlib.Path` or a PIL
        image; text is always a prompt, never opened as a file): their CLIP image embeddings
        (and text features) interpolated spherically; every frame uses the same noise."""
        for name, end in (("a", a), ("b", b)):
            if _is_prompt(end):
                check_prompt(end, name=name)
        check_frames(frames)
        check_settings(steps, guidance)
        (seed,) = seeds_for(seed, 1)
        prompts = sum(_is_prompt(end) for end in (a, b))
        track = Tracker(
            prompts * steps.prior + frames * (steps.decoder + steps.super_res), progress, cancel
        )
        ends, notices = [], []
        for end in (a, b):
            embeds, cond, more = self._endpoint(end, seed, steps, guidance, track)
            ends.append((embeds, cond))
            notices += more
        (e0, c0), (e1, c1) = ends
        ts = [k / (frames - 1) for k in range(frames)]
        uncond = self.encode_text([""])[0] if guidance.decoder > 1.0 else None
        images = []
        for k, t in enumerate(ts):
            track.label = f"frame {k + 1} of {frames}: "
            cond = TextCondition(
                slerp(c0.embeds, c1.embeds, t), slerp(c0.hidden, c1.hidden, t), c0.mask | c1.mask
            )
            gens = [torch.Generator("cpu").manual_seed(seed)]
            images.append(
                self.stages.render(slerp(e0, e1, t), cond, uncond, gens, steps, guidance, track)
            )
        params = {"task": "interpolate", "a": _label(a), "b": _label(b), "frames": frames}
        result = self._result(images, params, [seed] * frames, steps, guidance, notices)
        for p, t in zip(result.parameters, ts, strict=True):
            p["t"] = round(t, 6)
        return result

    def text_diff(
        self,
        image,
        to_caption: str,
        from_caption: str = "",
        frames: int = 5,
        strength: float = 0.5,
        seed: int | None = None,
        steps: Steps = DEFAULT_STEPS,
        guidance: Guidance = DEFAULT_GUIDANCE,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ImageResult:
        """DALL·E 2's text diff: rotate the image's CLIP embedding toward
        normalise(text(to) − text(from)), by 0..`strength` of the angle between them."""
        check_frames(frames)
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], not {strength}")
        check_prompt(to_caption, required=False, name="to_caption")
        check_prompt(from_caption, required=False, name="from_caption")
        if not to_caption.strip():
            raise InvalidValue.of("to_caption", "is empty: give the caption to move toward")
        self.folder.require("image")
        check_settings(steps, guidance)
        (seed,) = seeds_for(seed, 1)
        track = Tracker(frames * (steps.decoder + steps.super_res), progress, cancel)
        z_image = self.encode_image(image)  # (1, D)
        (to, notices), (frm, more) = (
            self.encode_text([to_caption]),
            self.encode_text([from_caption]),
        )
        direction = F.normalize(to.embeds, dim=-1) - F.normalize(frm.embeds, dim=-1)
        target = F.normalize(direction, dim=-1) * z_image.norm(dim=-1, keepdim=True)
        thetas = [strength * k / (frames - 1) for k in range(frames)]
        cond, uncond = self._empty_prompt(guidance.decoder > 1.0)
        images = []
        for k, theta in enumerate(thetas):
            track.label = f"frame {k + 1} of {frames}: "
            gens = [torch.Generator("cpu").manual_seed(seed)]
            images.append(
                self.stages.render(
                    slerp(z_image, target, theta), cond, uncond, gens, steps, guidance, track
                )
            )
        params = {
            "task": "text-diff",
            "image": _name(image),
            "to": to_caption,
            "from": from_caption,
            "frames": frames,
            "strength": strength,
        }
        result = self._result(images, params, [seed] * frames, steps, guidance, notices + more)
        for p, theta in zip(result.parameters, thetas, strict=True):
            p["theta"] = round(theta, 6)
        return result

    # ---- encoders ----------------------------------------------------------------------------

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str]) -> tuple[TextCondition, list[str]]:
        """CLIP text features; prompts longer than 77 tokens are cut, with a notice saying what
        was dropped."""
        tokenizer = self.folder.get("tokenizer")
        n = tokenizer.model_max_length
        batch = tokenizer(
            list(prompts), padding="max_length", max_length=n, truncation=True, return_tensors="pt"
        )
        notices = []
        for prompt in prompts:
            ids = tokenizer(prompt).input_ids
            if len(ids) > n:
                dropped = tokenizer.decode(ids[n - 1 : -1])
                notices.append(f"prompt cut to CLIP's {n} tokens; dropped: {dropped!r}")
        embeds, hidden = self.nets.text(batch.input_ids)
        return TextCondition(embeds, hidden, batch.attention_mask.bool().to(self.device)), notices

    @torch.inference_mode()
    def encode_image(self, image) -> torch.Tensor:
        """A path or PIL image → its CLIP image embedding (1, D)."""
        self.folder.require("image")
        pil = open_image(image, _name(image))
        pixels = self.folder.get("feature_extractor")(images=pil, return_tensors="pt").pixel_values
        return self.nets.image(pixels)

    # ---- helpers -----------------------------------------------------------------------------

    def _each_image(self, seeds, embed, cond, uncond, steps, guidance, track) -> list:
        """One image per seed, each from its own generator (so image i equals a single run
        seeded seed + i): `embed(generators)` gives its CLIP image embedding, then the decoder
        and super-resolution stages."""
        images = []
        for i, s in enumerate(seeds):
            track.label = f"image {i + 1} of {len(seeds)}: " if len(seeds) > 1 else ""
            gens = [torch.Generator("cpu").manual_seed(s)]
            images.append(
                self.stages.render(embed(gens), cond, uncond, gens, steps, guidance, track)
            )
        return images

    def _empty_prompt(self, guided: bool):
        """The decoder's text input when it works from an image embedding alone (as diffusers'
        image-variation pipeline: the empty prompt, which is also the unconditional one)."""
        empty = self.encode_text([""])[0]
        return empty, (empty if guided else None)

    def _endpoint(self, end, seed, steps, guidance, track):
        """An interpolation end: a prompt (prior, seeded) or an image (CLIP image encoder)."""
        if _is_prompt(end):
            self.folder.require("text")
            cond, notices = self.encode_text([end])
            uncond = self.encode_text([""])[0] if guidance.prior > 1.0 else None
            gens = [torch.Generator("cpu").manual_seed(seed)]
            track.label = f"{end[:30]!r}: "
            image_embeds = self.stages.prior(cond, uncond, gens, steps.prior, guidance.prior, track)
            return image_embeds, cond, notices
        return self.encode_image(end), self.encode_text([""])[0], []

    def _result(self, images, params, seeds, steps, guidance, notices) -> ImageResult:
        arrays = torch.cat(images).permute(0, 2, 3, 1).float().cpu().numpy()
        pils = [Image.fromarray((a * 255).round().astype(np.uint8)) for a in arrays]
        base = {
            "generator": "GenéLive Studio unclip",
            **params,
            "model": self.model_name,
            "steps": asdict(steps),
            "guidance": asdict(guidance),
        }
        if self.is_tiny_random:
            base["test_model"] = "random weights: noise, not a real result"
        per_image = [{**base, "seed": s} for s in seeds]
        return ImageResult(pils, arrays, per_image, list(notices))


def _model_label(model: str | Path) -> str:
    """What a PNG names its model by: a hub id as is, a local folder by its name only (a web
    user's download must not tell where the server keeps its files)."""
    return Path(model).name if Path(model).exists() else str(model)


def _is_prompt(end) -> bool:
    """Interpolation ends: text is a prompt; a Path or a PIL image is an image."""
    return isinstance(end, str)


def _label(end) -> str:
    """An interpolation end as its parameters record it: the prompt, or the image's name."""
    return end if _is_prompt(end) else _name(end)


def _name(source) -> str:
    return Path(source).name if isinstance(source, str | Path) else "image"
