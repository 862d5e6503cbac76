"""unCLIP's three stages — prior, decoder, super-resolution — and the one sampling loop they share;
noise is drawn as diffusers' UnCLIPPipeline draws it, from the request's generators."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from export.progress import Progress, check_cancel
from unclip.components import KarloFolder


@dataclass
class TextCondition:
    """CLIP text features of B prompts."""

    embeds: torch.Tensor  # (B, D) projected text embedding
    hidden: torch.Tensor  # (B, 77, H) last hidden state
    mask: torch.Tensor  # (B, 77) bool, True on real tokens


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


class Stages:
    """The stages of one folder's networks (`nets`: TorchNets or OnnxNets)."""

    def __init__(self, folder: KarloFolder, nets, device):
        self.folder, self.nets, self.device = folder, nets, device

    @torch.inference_mode()
    def prior(self, cond, uncond, gens, steps, scale, track) -> torch.Tensor:
        scheduler = copy.deepcopy(self.folder.get("prior_scheduler"))
        embeds, hidden, mask = _with_uncond(cond, uncond)
        dim = self.folder.config("prior")["embedding_dim"]
        latents = self.noise((len(gens), dim), embeds.dtype, gens) * scheduler.init_noise_sigma

        def predict(x, t, last):
            out = self.nets.prior(_twice(x, uncond), t, embeds, hidden, mask)
            if uncond is None:
                return out
            out_uncond, out_text = out.chunk(2)
            return out_uncond + scale * (out_text - out_uncond)

        latents = self.denoise("prior", scheduler, steps, latents, gens, predict, track)
        return self.nets.prior_unnormalise(latents)

    @torch.inference_mode()
    def render(self, image_embeds, cond, uncond, gens, steps, guidance, track) -> torch.Tensor:
        """(1, D) image embedding → (1, 3, 256, 256) in [0, 1]: decoder, then super-res."""
        small = self.decode(
            image_embeds, cond, uncond, gens, steps.decoder, guidance.decoder, track
        )
        return self.super_res(small, gens, steps.super_res, track)

    def decode(self, image_embeds, cond, uncond, gens, steps, scale, track):
        scheduler = copy.deepcopy(self.folder.get("decoder_scheduler"))
        embeds, hidden, mask = _with_uncond(cond, uncond)
        context, time_embeds = self.nets.text_proj(image_embeds, embeds, hidden, uncond is not None)
        mask = F.pad(mask, (self.nets.clip_extra_context_tokens(), 0), value=True)
        config = self.folder.config("decoder")
        channels, px = config["in_channels"], config["sample_size"]
        latents = self.noise((len(gens), channels, px, px), context.dtype, gens)
        latents = latents * scheduler.init_noise_sigma

        def predict(x, t, last):
            out = self.nets.decoder(_twice(x, uncond), t, context, time_embeds, mask)
            if uncond is None:
                return out
            out_uncond, out_text = out.chunk(2)
            eps_uncond, _ = out_uncond.split(channels, dim=1)
            eps_text, variance = out_text.split(channels, dim=1)  # guidance on the noise only
            return torch.cat([eps_uncond + scale * (eps_text - eps_uncond), variance], dim=1)

        latents = self.denoise("decoder", scheduler, steps, latents, gens, predict, track)
        return latents.clamp(-1, 1)

    def super_res(self, small, gens, steps, track) -> torch.Tensor:
        scheduler = copy.deepcopy(self.folder.get("super_res_scheduler"))
        config = self.folder.config("super_res_first")
        channels, px = config["in_channels"] // 2, config["sample_size"]
        latents = self.noise((len(gens), channels, px, px), small.dtype, gens)
        latents = latents * scheduler.init_noise_sigma
        upscaled = F.interpolate(
            small, size=[px, px], mode="bicubic", align_corners=False, antialias=True
        )

        def predict(x, t, last):
            return self.nets.super_res(torch.cat([x, upscaled], dim=1), t, last)

        latents = self.denoise("super-res", scheduler, steps, latents, gens, predict, track)
        return (latents * 0.5 + 0.5).clamp(0, 1)

    def denoise(self, stage, scheduler, steps, latents, gens, predict, track: Tracker):
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

    def noise(self, shape, dtype, gens) -> torch.Tensor:
        return randn_tensor(shape, generator=gens, device=self.device, dtype=dtype)


def _with_uncond(cond: TextCondition, uncond: TextCondition | None):
    """Classifier-free guidance batches are [unconditional; conditional], as diffusers'."""
    if uncond is None:
        return cond.embeds, cond.hidden, cond.mask
    return (
        torch.cat([uncond.embeds, cond.embeds]),
        torch.cat([uncond.hidden, cond.hidden]),
        torch.cat([uncond.mask, cond.mask]),
    )


def _twice(x: torch.Tensor, uncond) -> torch.Tensor:
    return x if uncond is None else torch.cat([x, x])
