"""The networks of an unCLIP folder behind one small interface (tensors in, tensors out), so the
pipeline's loops are written once and can run on another backend (onnxruntime, issue 7) by
swapping this object."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from unclip.components import KarloFolder


class TorchNets:
    """Each method is one network call; components load on first use. (Not export/backend.py's
    arrays-in, arrays-out Backend: diffusers' components carry the device and dtype, and the
    sampling loops keep their tensors on the device between calls.)"""

    name = "torch"

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
        out = prior(
            latents,
            timestep=t,
            proj_embedding=prompt_embeds,
            encoder_hidden_states=hidden,
            attention_mask=mask,
        )
        return out.predicted_image_embedding

    def prior_unnormalise(self, latents: torch.Tensor) -> torch.Tensor:
        """The prior works on standardised CLIP embeddings; this maps back."""
        return self.folder.get("prior").post_process_latents(latents)

    def text_proj(self, image_embeds, prompt_embeds, hidden, guided: bool):
        # → decoder context (B', 4 + 77, C) and additive time embedding (B', T)
        return self.folder.get("text_proj")(
            image_embeddings=image_embeds,
            prompt_embeds=prompt_embeds,
            text_encoder_hidden_states=hidden,
            do_classifier_free_guidance=guided,
        )

    def decoder(self, sample, t, context, time_embeds, mask) -> torch.Tensor:
        # sample (B, 3, 64, 64) → (B, 6, 64, 64): noise and learned variance
        decoder = self.folder.get("decoder")
        return decoder(
            sample=sample,
            timestep=t,
            encoder_hidden_states=context,
            class_labels=time_embeds,
            attention_mask=mask,
        ).sample

    def super_res(self, sample, t, last: bool) -> torch.Tensor:
        # sample (B, 6, 256, 256) = noisy image ‖ upscaled 64 px image → (B, 3, 256, 256)
        unet = self.folder.get("super_res_last" if last else "super_res_first")
        return unet(sample=sample, timestep=t).sample

    def clip_extra_context_tokens(self) -> int:
        return int(self.folder.config("text_proj").get("clip_extra_context_tokens", 4))


# ---- onnxruntime ------------------------------------------------------------------------------
# One graph per network call, with explicit names; timesteps are int64 of shape (batch,). Every
# graph input has one dynamic axis, the batch: classifier-free guidance doubles it in the
# pipeline (text_proj's learned unconditional embedding is its own small graph for that reason).

GRAPH_OUTPUTS = {
    "text_encoder": ["text_embeds", "last_hidden_state"],
    "image_encoder": ["image_embeds"],
    "prior": ["predicted_image_embedding"],
    "prior_unnormalise": ["image_embeds"],
    "text_proj": ["context", "time_embeds"],
    "text_proj_uncond": ["uncond_image_embeds"],
    "decoder": ["noise"],
    "super_res_first": ["noise"],
    "super_res_last": ["noise"],
}
GRAPH_COMPONENT = {"prior_unnormalise": "prior", "text_proj_uncond": "text_proj"}
COPIED = (
    "tokenizer",
    "feature_extractor",
    "prior_scheduler",
    "decoder_scheduler",
    "super_res_scheduler",
)


class OnnxNets:
    """The same calls as TorchNets, on the graphs of `studio export unclip` (hash-checked), each
    an export/backend.py OnnxBackend."""

    name = "onnx"

    def __init__(self, folder: KarloFolder, export_dir: Path, device: str = "auto"):
        from export.manifest import load_graph

        self.folder, self.device, self.dtype = folder, torch.device("cpu"), torch.float32
        self.sessions = {}
        for name in GRAPH_OUTPUTS:
            if (export_dir / "unclip" / name).is_dir():
                # No arena: each of the graphs would keep its own peak (OnnxBackend).
                self.sessions[name] = load_graph(
                    export_dir, f"unclip/{name}", device, memory_arena=False
                )

    def _run(self, name: str, **inputs: torch.Tensor) -> list[torch.Tensor]:
        if name not in self.sessions:
            raise ValueError(f"the export has no {name!r} graph; export it (studio export unclip)")
        out = self.sessions[name].run({k: v.detach().cpu().numpy() for k, v in inputs.items()})
        return [torch.from_numpy(out[k]) for k in GRAPH_OUTPUTS[name]]

    def text(self, ids):
        embeds, hidden = self._run("text_encoder", input_ids=ids)
        return embeds, hidden

    def image(self, pixels):
        return self._run("image_encoder", pixel_values=pixels.float())[0]

    def prior(self, latents, t, prompt_embeds, hidden, mask):
        return self._run(
            "prior",
            latents=latents,
            timestep=_steps(t, latents),
            proj_embedding=prompt_embeds,
            encoder_hidden_states=hidden,
            attention_mask=mask,
        )[0]

    def prior_unnormalise(self, latents):
        return self._run("prior_unnormalise", latents=latents)[0]

    def text_proj(self, image_embeds, prompt_embeds, hidden, guided: bool):
        if guided:  # as UnCLIPTextProjModel does inside: [learned unconditional; image]
            uncond = self._run("text_proj_uncond", image_embeds=image_embeds)[0]
            image_embeds = torch.cat([uncond, image_embeds])
        inputs = {
            "image_embeds": image_embeds,
            "prompt_embeds": prompt_embeds,
            "text_hidden": hidden,
        }
        context, time_embeds = self._run("text_proj", **inputs)
        return context, time_embeds

    def decoder(self, sample, t, context, time_embeds, mask):
        return self._run(
            "decoder",
            sample=sample,
            timestep=_steps(t, sample),
            context=context,
            time_embeds=time_embeds,
            attention_mask=mask,
        )[0]

    def super_res(self, sample, t, last: bool):
        name = "super_res_last" if last else "super_res_first"
        return self._run(name, sample=sample, timestep=_steps(t, sample))[0]

    def clip_extra_context_tokens(self) -> int:
        return int(self.folder.config("text_proj").get("clip_extra_context_tokens", 4))


def _steps(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(t, dtype=torch.int64).reshape(-1).expand(like.shape[0]).contiguous()


class _Graph(nn.Module):
    """Export wrappers: one TorchNets call each, named inputs → named outputs."""

    def __init__(self, nets: TorchNets, name: str):
        super().__init__()
        self.nets, self.name = nets, name
        self.network = nets.folder.get(GRAPH_COMPONENT.get(name, name))  # registered: exported

    def outputs(self, *values: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(GRAPH_OUTPUTS[self.name], values, strict=True))


class _Text(_Graph):
    def forward(self, input_ids):
        return self.outputs(*self.nets.text(input_ids))


class _Image(_Graph):
    def forward(self, pixel_values):
        return self.outputs(self.nets.image(pixel_values))


class _Prior(_Graph):
    def forward(self, latents, timestep, proj_embedding, encoder_hidden_states, attention_mask):
        return self.outputs(
            self.nets.prior(
                latents, timestep, proj_embedding, encoder_hidden_states, attention_mask
            )
        )


class _PriorUnnormalise(_Graph):
    def forward(self, latents):
        return self.outputs(self.nets.prior_unnormalise(latents))


class _TextProj(_Graph):
    def forward(self, image_embeds, prompt_embeds, text_hidden):
        return self.outputs(*self.nets.text_proj(image_embeds, prompt_embeds, text_hidden, False))


class _TextProjUncond(_Graph):
    def forward(self, image_embeds):
        learned = self.network.learned_classifier_free_guidance_embeddings  # (D,)
        return self.outputs(learned[None].expand_as(image_embeds) + 0 * image_embeds)


class _Decoder(_Graph):
    def forward(self, sample, timestep, context, time_embeds, attention_mask):
        return self.outputs(
            self.nets.decoder(sample, timestep, context, time_embeds, attention_mask)
        )


class _SuperRes(_Graph):
    def forward(self, sample, timestep):
        return self.outputs(self.nets.super_res(sample, timestep, self.name == "super_res_last"))


WRAPPERS = {
    "text_encoder": _Text,
    "image_encoder": _Image,
    "prior": _Prior,
    "prior_unnormalise": _PriorUnnormalise,
    "text_proj": _TextProj,
    "text_proj_uncond": _TextProjUncond,
    "decoder": _Decoder,
    "super_res_first": _SuperRes,
    "super_res_last": _SuperRes,
}


def graph_specs(folder: KarloFolder) -> list:
    """Every network of the folder as a graph (batch 2 at export, 3 when verifying), plus the
    files the pipeline reads beside them (configs, tokenizer, schedulers, model index)."""
    from export.onnx import GraphSpec, source_hash

    nets = TorchNets(folder)
    specs = []
    for name, make_inputs in _example_inputs(folder).items():
        component = folder.folder / GRAPH_COMPONENT.get(name, name)
        made_from = sorted(p for p in component.iterdir() if p.is_file())
        axes = {k: {0: "batch"} for k in [*make_inputs(2), *GRAPH_OUTPUTS[name]]}
        config = {"config.json": (component / "config.json").read_bytes()}
        specs.append(
            GraphSpec(
                f"unclip/{name}",
                WRAPPERS[name](nets, name),
                make_inputs(2),
                make_inputs(3),
                GRAPH_OUTPUTS[name],
                axes,
                {"from": source_hash(made_from)},
                extra_files=config,
            )
        )
    for name in COPIED:
        if name in folder.present:
            paths = sorted(p for p in (folder.folder / name).iterdir() if p.is_file())
            files = {p.name: p.read_bytes() for p in paths}
            specs.append(
                GraphSpec.files_only(f"unclip/{name}", files, {"from": source_hash(paths)})
            )
    index = folder.folder / "model_index.json"
    if index.is_file():
        specs.append(
            GraphSpec.files_only(
                "unclip/model_index",
                {index.name: index.read_bytes()},
                {"from": source_hash([index])},
            )
        )
    return specs


def _example_inputs(folder: KarloFolder) -> dict:
    """Per graph, a function batch → example inputs with realistic dtypes and ranges."""
    g = torch.Generator().manual_seed(0)
    randn = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    steps = lambda b: torch.randint(0, 1000, (b,), generator=g)  # noqa: E731
    text = folder.config("text_encoder")
    tokens, hidden, dim = (
        text["max_position_embeddings"],
        text["hidden_size"],
        text["projection_dim"],
    )

    def mask(b: int, n: int) -> torch.Tensor:
        return torch.arange(n)[None, :] < torch.randint(1, n, (b, 1), generator=g)

    def ids(b: int) -> torch.Tensor:
        x = torch.randint(0, text["vocab_size"] - 2, (b, tokens), generator=g)
        x[:, 0], x[:, tokens // 2] = text["vocab_size"] - 2, text["vocab_size"] - 1  # bos, eos
        return x

    graphs = {"text_encoder": lambda b: {"input_ids": ids(b)}}
    if "image_encoder" in folder.present:
        px = folder.config("image_encoder")["image_size"]
        graphs["image_encoder"] = lambda b: {"pixel_values": randn(b, 3, px, px)}
    if "prior" in folder.present:
        graphs["prior"] = lambda b: {
            "latents": randn(b, dim),
            "timestep": steps(b),
            "proj_embedding": randn(b, dim),
            "encoder_hidden_states": randn(b, tokens, hidden),
            "attention_mask": mask(b, tokens),
        }
        graphs["prior_unnormalise"] = lambda b: {"latents": randn(b, dim)}
    proj = folder.config("text_proj")
    extra = proj.get("clip_extra_context_tokens", 4)
    graphs["text_proj"] = lambda b: {
        "image_embeds": randn(b, dim),
        "prompt_embeds": randn(b, dim),
        "text_hidden": randn(b, tokens, hidden),
    }
    graphs["text_proj_uncond"] = lambda b: {"image_embeds": randn(b, dim)}
    dec = folder.config("decoder")
    graphs["decoder"] = lambda b: {
        "sample": randn(b, dec["in_channels"], dec["sample_size"], dec["sample_size"]),
        "timestep": steps(b),
        "context": randn(b, extra + tokens, proj["cross_attention_dim"]),
        "time_embeds": randn(b, proj["time_embed_dim"]),
        "attention_mask": mask(b, extra + tokens),
    }
    for name in ("super_res_first", "super_res_last"):
        sr = folder.config(name)
        graphs[name] = lambda b, sr=sr: {
            "sample": randn(b, sr["in_channels"], sr["sample_size"], sr["sample_size"]),
            "timestep": steps(b),
        }
    return graphs
