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

import copy
import secrets
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from export.atomic import write_atomic
from export.backend import check_backend, pick_device
from export.checks import SEED_LIMIT, InvalidValue, check_seed
from export.images import open_image, png_with_parameters
from export.progress import Progress, check_cancel
from unclip.components import MODEL_INDEX, KarloFolder, UnCLIPModelError, resolve_model
from unclip.nets import GRAPH_OUTPUTS, OnnxNets, TorchNets

MAX_STEPS = 1000
MAX_GUIDANCE = 50.0
MAX_IMAGES = 16
MAX_FRAMES = 64
MAX_PROMPT_CHARS = 2000  # CLIP reads 77 tokens (a few hundred characters); more is a mistake


@dataclass(frozen=True)
class Steps:
    prior: int = 25
    decoder: int = 25
    super_res: int = 7


@dataclass(frozen=True)
class Guidance:
    prior: float = 4.0
    decoder: float = 8.0


@dataclass
class TextCondition:
    """CLIP text features of B prompts."""

    embeds: torch.Tensor  # (B, D) projected text embedding
    hidden: torch.Tensor  # (B, 77, H) last hidden state
    mask: torch.Tensor  # (B, 77) bool, True on real tokens


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
        pngs = [png_with_parameters(image, params)
                for image, params in zip(self.images, self.parameters, strict=True)]  # fmt: skip
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


class Tracker:
    """Counts sampling steps over a whole request and reports the fraction done."""

    def __init__(self, total_steps: int, progress: Progress | None, cancel: threading.Event | None):
        self.total, self.done, self.progress, self.cancel = total_steps, 0, progress, cancel
        self.label = ""

    def check(self, what: str) -> None:
        check_cancel(self.cancel, f"{self.label}{what}")

    def step(self, what: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(1.0, self.done / max(1, self.total)), f"{self.label}{what}")


def check_settings(steps: Steps, guidance: Guidance) -> None:
    for name, value in asdict(steps).items():
        if not (isinstance(value, int) and 2 <= value <= MAX_STEPS):
            raise ValueError(f"{name} steps must be a whole number in 2..{MAX_STEPS}, not {value}")
    for name, value in asdict(guidance).items():
        if not (isinstance(value, int | float) and 1.0 <= value <= MAX_GUIDANCE):
            raise ValueError(
                f"{name} guidance must be in 1..{MAX_GUIDANCE:g} (1 = no guidance), not {value}"
            )


def check_prompt(prompt, required: bool = True, name: str = "prompt") -> str:
    """A prompt: text of at most MAX_PROMPT_CHARS (not empty when `required`)."""
    if not isinstance(prompt, str):
        raise InvalidValue.of(name, f"must be text, not {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidValue.of(
            name,
            f"is {len(prompt):,} characters long; at most {MAX_PROMPT_CHARS:,} (CLIP reads its "
            "first 77 tokens)",
        )
    if required and not prompt.strip():
        raise InvalidValue.of(name, "is empty: describe the image to make")
    return prompt


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

    @classmethod
    def load(cls, model: str | Path, backend: str = "torch", device: str = "auto",
             dtype=None) -> UnCLIP:  # fmt: skip
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
        return cls(folder, TorchNets(folder), str(model))

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
        return cls(folder, OnnxNets(folder, export_dir, device), str(export_dir))

    @property
    def is_tiny_random(self) -> bool:
        return self.folder.is_tiny_random

    # ---- tasks -------------------------------------------------------------------------------

    def text_to_image(self, prompt: str, num_images: int = 1, seed: int | None = None,
                      steps: Steps = Steps(), guidance: Guidance = Guidance(),
                      progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> ImageResult:  # fmt: skip
        check_prompt(prompt)
        self.folder.require("text")
        check_settings(steps, guidance)
        seeds = self._seeds(seed, num_images)
        track = Tracker(num_images * (steps.prior + steps.decoder + steps.super_res), progress,
                        cancel)  # fmt: skip
        guided = guidance.prior > 1.0 or guidance.decoder > 1.0  # as diffusers decides
        cond, notices = self.encode_text([prompt])
        uncond = self.encode_text([""])[0] if guided else None
        images = []
        for i, s in enumerate(seeds):
            track.label = f"image {i + 1} of {num_images}: " if num_images > 1 else ""
            gens = [torch.Generator("cpu").manual_seed(s)]
            image_embeds = self._prior(cond, uncond, gens, steps.prior, guidance.prior, track)
            images.append(self._render(image_embeds, cond, uncond, gens, steps, guidance, track))
        params = {"task": "imagine", "prompt": prompt}
        return self._result(images, params, seeds, steps, guidance, notices)

    def variations(self, image, num_images: int = 1, seed: int | None = None,
                   steps: Steps = Steps(), guidance: Guidance = Guidance(),
                   progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> ImageResult:  # fmt: skip
        self.folder.require("image")
        check_settings(steps, guidance)
        seeds = self._seeds(seed, num_images)
        track = Tracker(num_images * (steps.decoder + steps.super_res), progress, cancel)
        image_embeds = self.encode_image(image)
        cond, uncond = self._empty_prompt(guidance.decoder > 1.0)
        images = []
        for i, s in enumerate(seeds):
            track.label = f"image {i + 1} of {num_images}: " if num_images > 1 else ""
            gens = [torch.Generator("cpu").manual_seed(s)]
            images.append(self._render(image_embeds, cond, uncond, gens, steps, guidance, track))
        params = {"task": "vary", "image": _name(image)}
        return self._result(images, params, seeds, steps, guidance, [])

    def interpolate(self, a, b, frames: int = 5, seed: int | None = None,
                    steps: Steps = Steps(), guidance: Guidance = Guidance(),
                    progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> ImageResult:  # fmt: skip
        """Frames from `a` to `b`, each a prompt (text) or an image (a `pathlib.Path` or a PIL
        image; text is always a prompt, never opened as a file): their CLIP image embeddings
        (and text features) interpolated spherically; every frame uses the same noise."""
        for name, end in (("a", a), ("b", b)):
            if _is_prompt(end):
                check_prompt(end, name=name)
        _check_frames(frames)
        check_settings(steps, guidance)
        (seed,) = self._seeds(seed, 1)
        prompts = sum(_is_prompt(end) for end in (a, b))
        track = Tracker(prompts * steps.prior + frames * (steps.decoder + steps.super_res),
                        progress, cancel)  # fmt: skip
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
            cond = TextCondition(slerp(c0.embeds, c1.embeds, t), slerp(c0.hidden, c1.hidden, t),
                                 c0.mask | c1.mask)  # fmt: skip
            gens = [torch.Generator("cpu").manual_seed(seed)]
            images.append(self._render(slerp(e0, e1, t), cond, uncond, gens, steps, guidance,
                                       track))  # fmt: skip
        params = {"task": "interpolate", "a": _label(a), "b": _label(b), "frames": frames}
        result = self._result(images, params, [seed] * frames, steps, guidance, notices)
        for p, t in zip(result.parameters, ts, strict=True):
            p["t"] = round(t, 6)
        return result

    def text_diff(self, image, to_caption: str, from_caption: str = "", frames: int = 5,
                  strength: float = 0.5, seed: int | None = None, steps: Steps = Steps(),
                  guidance: Guidance = Guidance(), progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> ImageResult:  # fmt: skip
        """DALL·E 2's text diff: rotate the image's CLIP embedding toward
        normalise(text(to) − text(from)), by 0..`strength` of the angle between them."""
        _check_frames(frames)
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], not {strength}")
        check_prompt(to_caption, required=False, name="to_caption")
        check_prompt(from_caption, required=False, name="from_caption")
        if not to_caption.strip():
            raise InvalidValue.of("to_caption", "is empty: give the caption to move toward")
        self.folder.require("image")
        check_settings(steps, guidance)
        (seed,) = self._seeds(seed, 1)
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
            images.append(self._render(slerp(z_image, target, theta), cond, uncond, gens, steps,
                                       guidance, track))  # fmt: skip
        params = {"task": "text-diff", "image": _name(image), "to": to_caption,
                  "from": from_caption, "frames": frames, "strength": strength}  # fmt: skip
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
        batch = tokenizer(list(prompts), padding="max_length", max_length=n, truncation=True,
                          return_tensors="pt")  # fmt: skip
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

    # ---- the three stages --------------------------------------------------------------------

    @torch.inference_mode()
    def _prior(self, cond, uncond, gens, steps, scale, track) -> torch.Tensor:
        scheduler = copy.deepcopy(self.folder.get("prior_scheduler"))
        embeds, hidden, mask = _with_uncond(cond, uncond)
        dim = self.folder.config("prior")["embedding_dim"]
        latents = self._noise((len(gens), dim), embeds.dtype, gens) * scheduler.init_noise_sigma

        def predict(x, t, last):
            out = self.nets.prior(_twice(x, uncond), t, embeds, hidden, mask)
            if uncond is None:
                return out
            out_uncond, out_text = out.chunk(2)
            return out_uncond + scale * (out_text - out_uncond)

        latents = self._denoise("prior", scheduler, steps, latents, gens, predict, track)
        return self.nets.prior_unnormalise(latents)

    @torch.inference_mode()
    def _render(self, image_embeds, cond, uncond, gens, steps, guidance, track) -> torch.Tensor:
        """(1, D) image embedding → (1, 3, 256, 256) in [0, 1]: decoder, then super-res."""
        small = self._decode(image_embeds, cond, uncond, gens, steps.decoder, guidance.decoder,
                             track)  # fmt: skip
        return self._super_res(small, gens, steps.super_res, track)

    def _decode(self, image_embeds, cond, uncond, gens, steps, scale, track):
        scheduler = copy.deepcopy(self.folder.get("decoder_scheduler"))
        embeds, hidden, mask = _with_uncond(cond, uncond)
        context, time_embeds = self.nets.text_proj(image_embeds, embeds, hidden, uncond is not None)
        mask = F.pad(mask, (self.nets.clip_extra_context_tokens(), 0), value=True)
        config = self.folder.config("decoder")
        channels, px = config["in_channels"], config["sample_size"]
        latents = self._noise((len(gens), channels, px, px), context.dtype, gens)
        latents = latents * scheduler.init_noise_sigma

        def predict(x, t, last):
            out = self.nets.decoder(_twice(x, uncond), t, context, time_embeds, mask)
            if uncond is None:
                return out
            out_uncond, out_text = out.chunk(2)
            eps_uncond, _ = out_uncond.split(channels, dim=1)
            eps_text, variance = out_text.split(channels, dim=1)  # guidance on the noise only
            return torch.cat([eps_uncond + scale * (eps_text - eps_uncond), variance], dim=1)

        latents = self._denoise("decoder", scheduler, steps, latents, gens, predict, track)
        return latents.clamp(-1, 1)

    def _super_res(self, small, gens, steps, track) -> torch.Tensor:
        scheduler = copy.deepcopy(self.folder.get("super_res_scheduler"))
        config = self.folder.config("super_res_first")
        channels, px = config["in_channels"] // 2, config["sample_size"]
        latents = self._noise((len(gens), channels, px, px), small.dtype, gens)
        latents = latents * scheduler.init_noise_sigma
        upscaled = F.interpolate(small, size=[px, px], mode="bicubic", align_corners=False,
                                 antialias=True)  # fmt: skip

        def predict(x, t, last):
            return self.nets.super_res(torch.cat([x, upscaled], dim=1), t, last)

        latents = self._denoise("super-res", scheduler, steps, latents, gens, predict, track)
        return (latents * 0.5 + 0.5).clamp(0, 1)

    def _denoise(self, stage, scheduler, steps, latents, gens, predict, track: Tracker):
        """The one sampling loop: predict, then the UnCLIPScheduler step toward the next
        timestep (it draws the step's noise from the generators)."""
        scheduler.set_timesteps(steps, device=self.device)
        timesteps = scheduler.timesteps
        for i, t in enumerate(timesteps):
            what = f"{stage} step {i + 1} of {len(timesteps)}"
            track.check(what)
            last = i + 1 == len(timesteps)
            out = predict(latents, t, last)
            prev = None if last else timesteps[i + 1]
            latents = scheduler.step(
                out, t, latents, prev_timestep=prev, generator=gens
            ).prev_sample
            track.step(what)
        return latents

    # ---- helpers -----------------------------------------------------------------------------

    def _noise(self, shape, dtype, gens) -> torch.Tensor:
        return randn_tensor(shape, generator=gens, device=self.device, dtype=dtype)

    @staticmethod
    def _seeds(seed: int | None, n: int) -> list[int]:
        if not (isinstance(n, int) and 1 <= n <= MAX_IMAGES):
            raise ValueError(f"number of images must be 1..{MAX_IMAGES}, not {n}")
        if seed is None:
            seed = secrets.randbelow(2**31 - MAX_IMAGES)
        seed = check_seed(seed)
        if seed + n > SEED_LIMIT:
            raise InvalidValue.of("seed", f"+ {n - 1} (the last image's seed) must be below 2**63")
        return [seed + i for i in range(n)]

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
            image_embeds = self._prior(cond, uncond, gens, steps.prior, guidance.prior, track)
            return image_embeds, cond, notices
        return self.encode_image(end), self.encode_text([""])[0], []

    def _result(self, images, params, seeds, steps, guidance, notices) -> ImageResult:
        arrays = torch.cat(images).permute(0, 2, 3, 1).float().cpu().numpy()
        pils = [Image.fromarray((a * 255).round().astype(np.uint8)) for a in arrays]
        base = {"generator": "GenéLive Studio unclip", **params, "model": self.model_name,
                "steps": asdict(steps), "guidance": asdict(guidance)}  # fmt: skip
        if self.is_tiny_random:
            base["test_model"] = "random weights: noise, not a real result"
        per_image = [{**base, "seed": s} for s in seeds]
        return ImageResult(pils, arrays, per_image, list(notices))


def _with_uncond(cond: TextCondition, uncond: TextCondition | None):
    """Classifier-free guidance batches are [unconditional; conditional], as diffusers'."""
    if uncond is None:
        return cond.embeds, cond.hidden, cond.mask
    return (torch.cat([uncond.embeds, cond.embeds]), torch.cat([uncond.hidden, cond.hidden]),
            torch.cat([uncond.mask, cond.mask]))  # fmt: skip


def _twice(x: torch.Tensor, uncond) -> torch.Tensor:
    return x if uncond is None else torch.cat([x, x])


def _is_prompt(end) -> bool:
    """Interpolation ends: text is a prompt; a Path or a PIL image is an image."""
    return isinstance(end, str)


def _check_frames(frames: int) -> None:
    if not (isinstance(frames, int) and 2 <= frames <= MAX_FRAMES):
        raise ValueError(f"frames must be 2..{MAX_FRAMES}, not {frames}")


def _label(end) -> str:
    """An interpolation end as its parameters record it: the prompt, or the image's name."""
    return end if _is_prompt(end) else _name(end)


def _name(source) -> str:
    return Path(source).name if isinstance(source, str | Path) else "image"
