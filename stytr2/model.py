"""StyTr² (Deng et al., CVPR 2022): image style transfer with transformers, for any image size.

Patch embedding (8×8, stride 8) of content and style → separate transformer encoders (the
content one with CAPE, the content-aware positional encoding) → a decoder whose two attention
blocks both let the content attend to the style → AdaIN's CNN decoder back to pixels.
Module and parameter names follow the official code, so its checkpoints map by a prefix.

Departures from the official code (which only works for square images of equal size, a
multiple of 8): the CAPE grid is resized to the *content's* token grid and the output is
reshaped with the content's height and width (the official code uses the style's size and
√N); adaptive average pooling is written as two averaging matrices so it holds for any grid
(and exports to ONNX correctly); attention is `scaled_dot_product_attention`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from export.checks import InvalidValue, check_config


@dataclass
class StyTr2Config:
    model_type: ClassVar[str] = "stytr2"
    d_model: int = 512
    heads: int = 8
    ffn: int = 2048
    encoder_layers: int = 3
    decoder_layers: int = 3
    patch: int = 8  # the patch embedding's kernel and stride; the CNN decoder upsamples 2×2×2
    cape_grid: int = 18  # CAPE pools the content embedding to this many cells per side
    dropout: float = 0.1  # training only

    def __post_init__(self):
        check_config(self, LIMITS)
        if self.d_model % self.heads:
            raise InvalidValue.of(
                "heads", f"must divide d_model ({self.d_model}), not {self.heads}"
            )
        if self.patch != 8:  # the CNN decoder upsamples 2×2×2
            raise InvalidValue.of(
                "patch", f"must be 8 (the decoder upsamples ×8), not {self.patch}"
            )


LIMITS = {
    "d_model": (1, 4096),
    "heads": (1, 64),
    "ffn": (1, 16384),
    "encoder_layers": (1, 24),
    "decoder_layers": (1, 24),
    "patch": (1, 64),
    "cape_grid": (1, 256),
    "dropout": (0.0, 1.0),
}


class Attention(nn.Module):
    """Multi-head attention with nn.MultiheadAttention's parameter layout, on SDPA."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # q: (B, Lq, d); k, v: (B, Lk, d)
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q, k, v = F.linear(q, wq, bq), F.linear(k, wk, bk), F.linear(v, wv, bv)
        b, lq, d = q.shape
        split = lambda x: x.view(b, -1, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(split(q), split(k), split(v), dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(b, lq, d))


class EncoderLayer(nn.Module):
    """Post-norm: x + attn → norm1 → x + FFN → norm2; the position goes to queries and keys."""

    def __init__(self, c: StyTr2Config):
        super().__init__()
        self.self_attn = Attention(c.d_model, c.heads, c.dropout)
        self.linear1, self.linear2 = nn.Linear(c.d_model, c.ffn), nn.Linear(c.ffn, c.d_model)
        self.norm1, self.norm2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        qk = x if pos is None else x + pos
        x = self.norm1(x + self.drop(self.self_attn(qk, qk, x)))
        return self.norm2(x + self.drop(self.linear2(self.drop(F.relu(self.linear1(x))))))


class DecoderLayer(nn.Module):
    """Both attention blocks are content → style: query = content + CAPE, key = value = style."""

    def __init__(self, c: StyTr2Config):
        super().__init__()
        self.self_attn = Attention(c.d_model, c.heads, c.dropout)
        self.multihead_attn = Attention(c.d_model, c.heads, c.dropout)
        self.linear1, self.linear2 = nn.Linear(c.d_model, c.ffn), nn.Linear(c.ffn, c.d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, style: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.self_attn(x + pos, style, style)))
        x = self.norm2(x + self.drop(self.multihead_attn(x + pos, style, style)))
        return self.norm3(x + self.drop(self.linear2(self.drop(F.relu(self.linear1(x))))))


class Stack(nn.Module):
    def __init__(self, layers: list[nn.Module], norm: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm


class Transformer(nn.Module):
    def __init__(self, c: StyTr2Config):
        super().__init__()
        self.cape_grid = c.cape_grid
        self.encoder_c = Stack([EncoderLayer(c) for _ in range(c.encoder_layers)])
        self.encoder_s = Stack([EncoderLayer(c) for _ in range(c.encoder_layers)])
        self.decoder = Stack(
            [DecoderLayer(c) for _ in range(c.decoder_layers)], nn.LayerNorm(c.d_model)
        )
        self.new_ps = nn.Conv2d(c.d_model, c.d_model, 1)

    def cape(self, content: torch.Tensor) -> torch.Tensor:
        """Content-aware positional encoding for the content grid (B, d, h, w)."""
        h, w = content.shape[-2:]
        pooled = adaptive_avg_pool(content, self.cape_grid)  # (B, d, 18, 18)
        pos = self.new_ps(pooled)
        return F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # content: (B, d, h, w), style: (B, d, hs, ws) patch embeddings → (B, d, h, w)
        b, d, h, w = content.shape
        pos = self.cape(content).flatten(2).transpose(1, 2)  # (B, h·w, d)
        c = content.flatten(2).transpose(1, 2)
        s = style.flatten(2).transpose(1, 2)  # (B, hs·ws, d)
        for layer in self.encoder_s.layers:
            s = layer(s, None)
        for layer in self.encoder_c.layers:
            c = layer(c, pos)
        for layer in self.decoder.layers:
            c = layer(c, s, pos)
        c = self.decoder.norm(c)
        return c.transpose(1, 2).reshape(b, d, h, w)


def adaptive_avg_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    """nn.AdaptiveAvgPool2d(size) as two averaging matrices, valid for any input size (cell i
    averages rows floor(i·H/size) .. ceil((i+1)·H/size) − 1, as PyTorch's does)."""
    return _pool_matrix(x.shape[-2], size, x) @ x @ _pool_matrix(x.shape[-1], size, x).T


def _pool_matrix(n: int, size: int, like: torch.Tensor) -> torch.Tensor:
    i = torch.arange(size, device=like.device)
    start = torch.div(i * n, size, rounding_mode="floor")
    end = torch.div((i + 1) * n + size - 1, size, rounding_mode="floor")
    j = torch.arange(n, device=like.device)
    inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)  # (size, n)


class PatchEmbed(nn.Module):
    def __init__(self, c: StyTr2Config):
        super().__init__()
        self.proj = nn.Conv2d(3, c.d_model, c.patch, stride=c.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def cnn_decoder(d_model: int) -> nn.Sequential:
    """AdaIN's decoder (indices as in the official checkpoint): 9 reflect-padded 3×3 convs,
    three nearest ×2 upsamplings, no output activation."""
    pad = lambda: nn.ReflectionPad2d(1)  # noqa: E731
    up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
    return nn.Sequential(
        pad(),
        nn.Conv2d(d_model, 256, 3),
        nn.ReLU(),
        up(),
        pad(),
        nn.Conv2d(256, 256, 3),
        nn.ReLU(),
        pad(),
        nn.Conv2d(256, 256, 3),
        nn.ReLU(),
        pad(),
        nn.Conv2d(256, 256, 3),
        nn.ReLU(),
        pad(),
        nn.Conv2d(256, 128, 3),
        nn.ReLU(),
        up(),
        pad(),
        nn.Conv2d(128, 128, 3),
        nn.ReLU(),
        pad(),
        nn.Conv2d(128, 64, 3),
        nn.ReLU(),
        up(),
        pad(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        pad(),
        nn.Conv2d(64, 3, 3),
    )


class StyTr2Net(nn.Module):
    """content (B, 3, H, W) and style (B, 3, Hs, Ws) in [0, 1], H, W, Hs, Ws multiples of the
    patch size → {"image": (B, 3, H, W)}, unclamped."""

    def __init__(self, config: StyTr2Config):
        super().__init__()
        self.config = config
        self.embedding = PatchEmbed(config)
        self.transformer = Transformer(config)
        self.decoder = cnn_decoder(config.d_model)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        hs = self.transformer(self.embedding(content), self.embedding(style))
        return {"image": self.decoder(hs)}
