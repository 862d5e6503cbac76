"""`studio make-tiny-unclip`: a random-weight Karlo-format folder from the real classes, for tests
and benchmarks. It draws noise, not pictures; the folder is marked so nothing presents its
output as a real result.

Two sizes: "tiny" (widths of 32, 32 → 64 px; seconds per image) and "mid" (1/8 of Karlo v1's
widths at Karlo's depths and resolutions, 64 → 256 px; the benchmark's stand-in for the real
model, whose 3.4 B parameters take ~25 min per image on a CPU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel
from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
from diffusers.schedulers import UnCLIPScheduler
from transformers import (
    CLIPImageProcessorPil,
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from export.atomic import atomic_folder
from export.checks import check_seed
from unclip.components import MODEL_INDEX, TINY_MARK
from unclip.tokenizer import CLIP_MAX_TOKENS, CLIP_VOCAB_SIZE, write_clip_tokenizer


@dataclass(frozen=True)
class Size:
    clip: int  # CLIP embedding width (text hidden = projection = image projection)
    clip_layers: int
    clip_heads: int
    prior_heads: int
    prior_head_dim: int
    prior_layers: int
    unet: tuple[int, ...]  # decoder block widths
    sr_unet: tuple[int, ...]
    layers_per_block: int
    cross_attention: int
    head_dim: int
    groups: int
    decoder_px: int
    sr_px: int
    image_px: int  # CLIP vision input


SIZES = {
    "tiny": Size(32, 2, 4, 2, 16, 1, (32, 64), (32, 64), 1, 32, 8, 8, 32, 64, 32),
    # Karlo v1 alpha / 8: CLIP ViT-L/14 768 → 96, prior 32×64 → 4×64 (20 layers), decoder
    # (320, 640, 960, 1280) → (40, 80, 120, 160), cross-attention 1536 → 192, SR 64 → 256 px.
    "mid": Size(
        96, 12, 4, 4, 64, 20, (40, 80, 120, 160), (40, 80, 120, 160), 3, 192, 8, 8, 64, 256, 224
    ),
}


def make_tiny_unclip(out_dir: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write the folder (atomically) and return its path."""
    s, seed = SIZES[size], check_seed(seed)
    # The random weights come from PyTorch's global generator; fork it so that the caller's
    # random state is as it was.
    with torch.random.fork_rng(devices=[]), atomic_folder(Path(out_dir)) as tmp:
        torch.manual_seed(seed)
        write_clip_tokenizer(tmp / "tokenizer")
        text = CLIPTextConfig(
            vocab_size=CLIP_VOCAB_SIZE,
            hidden_size=s.clip,
            projection_dim=s.clip,
            intermediate_size=4 * s.clip,
            num_hidden_layers=s.clip_layers,
            num_attention_heads=s.clip_heads,
            max_position_embeddings=CLIP_MAX_TOKENS,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=0,
        )
        _save(CLIPTextModelWithProjection(text), tmp / "text_encoder")
        vision = CLIPVisionConfig(
            hidden_size=s.clip,
            projection_dim=s.clip,
            patch_size=s.image_px // 8,
            image_size=s.image_px,
            intermediate_size=4 * s.clip,
            num_hidden_layers=s.clip_layers,
            num_attention_heads=s.clip_heads,
        )
        _save(CLIPVisionModelWithProjection(vision), tmp / "image_encoder")
        CLIPImageProcessorPil(
            size={"shortest_edge": s.image_px},
            crop_size={"height": s.image_px, "width": s.image_px},
        ).save_pretrained(tmp / "feature_extractor")
        prior = PriorTransformer(
            num_attention_heads=s.prior_heads,
            attention_head_dim=s.prior_head_dim,
            num_layers=s.prior_layers,
            embedding_dim=s.clip,
            num_embeddings=CLIP_MAX_TOKENS,
        )
        with torch.no_grad():  # the class initialises clip_std to 0: every embedding would be equal
            prior.clip_std.copy_(0.5 + torch.rand_like(prior.clip_std))
        _save(prior, tmp / "prior")
        time_dim = 4 * s.unet[0]
        _save(
            UnCLIPTextProjModel(
                clip_embeddings_dim=s.clip,
                time_embed_dim=time_dim,
                cross_attention_dim=s.cross_attention,
            ),
            tmp / "text_proj",
        )
        levels = len(s.unet)
        attn_down, attn_up = ("SimpleCrossAttnDownBlock2D",), ("SimpleCrossAttnUpBlock2D",)
        _save(
            UNet2DConditionModel(
                sample_size=s.decoder_px,
                in_channels=3,
                out_channels=6,  # learned variance
                down_block_types=("ResnetDownsampleBlock2D",) + attn_down * (levels - 1),
                up_block_types=attn_up * (levels - 1) + ("ResnetUpsampleBlock2D",),
                mid_block_type="UNetMidBlock2DSimpleCrossAttn",
                block_out_channels=s.unet,
                layers_per_block=s.layers_per_block,
                cross_attention_dim=s.cross_attention,
                attention_head_dim=s.head_dim,
                norm_num_groups=s.groups,
                resnet_time_scale_shift="scale_shift",
                class_embed_type="identity",
            ),
            tmp / "decoder",
        )
        for name in ("super_res_first", "super_res_last"):
            _save(
                UNet2DModel(
                    sample_size=s.sr_px,
                    in_channels=6,
                    out_channels=3,
                    down_block_types=("ResnetDownsampleBlock2D",) * len(s.sr_unet),
                    up_block_types=("ResnetUpsampleBlock2D",) * len(s.sr_unet),
                    block_out_channels=s.sr_unet,
                    layers_per_block=s.layers_per_block,
                    norm_num_groups=s.groups,
                    resnet_time_scale_shift="scale_shift",
                ),
                tmp / name,
            )
        UnCLIPScheduler(
            variance_type="fixed_small_log", prediction_type="sample", clip_sample_range=5.0
        ).save_pretrained(tmp / "prior_scheduler")
        UnCLIPScheduler(variance_type="learned_range").save_pretrained(tmp / "decoder_scheduler")
        UnCLIPScheduler(variance_type="fixed_small_log").save_pretrained(
            tmp / "super_res_scheduler"
        )
        (tmp / MODEL_INDEX).write_text(json.dumps(_model_index(size), indent=2))
        (tmp / "README.md").write_text(
            f"# Random-weight unCLIP ({size})\n\nMade by `studio make-tiny-unclip` for tests and "
            "benchmarks: the real Karlo classes at small sizes, random weights. Its images are "
            "noise. For real images use Karlo v1 alpha (see the project README).\n"
        )
    return Path(out_dir)


def _save(model: torch.nn.Module, folder: Path) -> None:
    """Random init, but no all-zero tensors left (zero-initialised output layers would make the
    networks ignore their inputs and hide mistakes in the pipeline)."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.02)
    model.save_pretrained(folder, safe_serialization=True)


def _model_index(size: str) -> dict:
    """Karlo's own form (text_proj from the "unclip" library) plus the variation components."""
    return {
        "_class_name": "UnCLIPPipeline",
        "_diffusers_version": "0.12.0.dev0",
        TINY_MARK: size,
        "decoder": ["diffusers", "UNet2DConditionModel"],
        "decoder_scheduler": ["diffusers", "UnCLIPScheduler"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "prior": ["diffusers", "PriorTransformer"],
        "prior_scheduler": ["diffusers", "UnCLIPScheduler"],
        "super_res_first": ["diffusers", "UNet2DModel"],
        "super_res_last": ["diffusers", "UNet2DModel"],
        "super_res_scheduler": ["diffusers", "UnCLIPScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "text_proj": ["unclip", "UnCLIPTextProjModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
    }
