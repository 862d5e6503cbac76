"""The networks of an unCLIP folder behind one small interface (tensors in, tensors out), so the
pipeline's loops are written once and can run on another backend (onnxruntime, issue 7) by
swapping this object."""

from __future__ import annotations

import torch

from unclip.components import KarloFolder


class TorchNets:
    """Each method is one network call; components load on first use."""

    def __init__(self, folder: KarloFolder):
        self.folder = folder
        self.device, self.dtype = folder.device, folder.dtype

    def text(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # ids (B, 77) int64 → text_embeds (B, D), last_hidden_state (B, 77, H)
        out = self.folder.get("text_encoder")(ids.to(self.device))
        return out.text_embeds, out.last_hidden_state

    def image(self, pixels: torch.Tensor) -> torch.Tensor:
        # (B, 3, S, S) CLIP-normalised → image_embeds (B, D)
        encoder = self.folder.get("image_encoder")
        return encoder(pixels.to(self.device, self.dtype)).image_embeds

    def prior(self, latents, t, prompt_embeds, hidden, mask) -> torch.Tensor:
        # latents (B, D), prompt_embeds (B, D), hidden (B, 77, H), mask (B, 77) → (B, D)
        prior = self.folder.get("prior")
        out = prior(latents, timestep=t, proj_embedding=prompt_embeds,
                    encoder_hidden_states=hidden, attention_mask=mask)  # fmt: skip
        return out.predicted_image_embedding

    def prior_unnormalise(self, latents: torch.Tensor) -> torch.Tensor:
        """The prior works on standardised CLIP embeddings; this maps back."""
        return self.folder.get("prior").post_process_latents(latents)

    def text_proj(self, image_embeds, prompt_embeds, hidden, guided: bool):
        # → decoder context (B', 4 + 77, C) and additive time embedding (B', T)
        return self.folder.get("text_proj")(
            image_embeddings=image_embeds, prompt_embeds=prompt_embeds,
            text_encoder_hidden_states=hidden, do_classifier_free_guidance=guided,
        )  # fmt: skip

    def decoder(self, sample, t, context, time_embeds, mask) -> torch.Tensor:
        # sample (B, 3, 64, 64) → (B, 6, 64, 64): noise and learned variance
        decoder = self.folder.get("decoder")
        return decoder(sample=sample, timestep=t, encoder_hidden_states=context,
                       class_labels=time_embeds, attention_mask=mask).sample  # fmt: skip

    def super_res(self, sample, t, last: bool) -> torch.Tensor:
        # sample (B, 6, 256, 256) = noisy image ‖ upscaled 64 px image → (B, 3, 256, 256)
        unet = self.folder.get("super_res_last" if last else "super_res_first")
        return unet(sample=sample, timestep=t).sample

    def clip_extra_context_tokens(self) -> int:
        return int(self.folder.config("text_proj").get("clip_extra_context_tokens", 4))
