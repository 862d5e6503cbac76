"""The GenéLive! onset network (KLab, AAAI-23), written from DESIGN §3.

    log-mel (B, T, 229) ─ ConvStackV7 (4 time scales) ─ (B, T, 768)   once per song
        ⊕ difficulty scalar ⊕ beat guide ─ (B·D, T, 770) ─ BiLSTM ×2 ─ Linear ─ (B, D, T) logits

The conv stack does not depend on the difficulty, so `forward` computes it once and runs the
LSTM for every requested difficulty as one batch (KLab's code recomputes it per difficulty).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genelive.onsets.config import OnsetConfig


class DropBlock2d(nn.Module):
    """DropBlock (Ghiasi et al. 2018): drops contiguous square regions while training."""

    def __init__(self, drop_prob: float, block_size: int, gamma_scale: float = 1.0):
        super().__init__()
        self.drop_prob, self.block_size, self.gamma_scale = drop_prob, block_size, gamma_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        _, _, h, w = x.shape
        size = min(self.block_size, h, w)
        valid = max(1, (h - size + 1) * (w - size + 1))
        gamma = self.gamma_scale * self.drop_prob * h * w / size**2 / valid
        seeds = (torch.rand_like(x) < gamma).to(x.dtype)
        dropped = F.max_pool2d(seeds, size, stride=1, padding=size // 2)[..., :h, :w]
        keep = 1.0 - dropped
        return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))


class ConvBlock(nn.Module):
    """conv 3×3 + BatchNorm + ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class ConvBranch(nn.Module):
    """One time scale: frequency 229 → 57 → 14 → 3 → 1, time pooled by `pool_a · pool_b`."""

    def __init__(self, c: int, pool_a: int, pool_b: int, dropblock: float):
        super().__init__()
        self.blocks = nn.ModuleList(
            [ConvBlock(1, c), ConvBlock(c, c), ConvBlock(c, 2 * c), ConvBlock(2 * c, 4 * c)]
        )
        self.pool_a, self.pool_b = (pool_a, 4), (pool_b, 4)
        self.drop_a = DropBlock2d(dropblock, 5, 0.25)
        self.drop_b = DropBlock2d(dropblock, 3, 1.0)
        self.upsample = pool_a * pool_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, T, F)
        x = self.blocks[1](self.blocks[0](x))
        x = self.blocks[2](self.drop_a(F.max_pool2d(x, self.pool_a)))
        x = self.blocks[3](self.drop_b(F.max_pool2d(x, self.pool_b)))
        x = F.max_pool2d(x, (1, 4))  # (B, 4c, T / up, 3)
        x = x.mean(dim=3, keepdim=True)  # KLab: AvgPool2d((1, 229 // 64)) over the last 3 bins
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=(self.upsample, 1), mode="nearest")
        return x  # (B, 4c, T, 1)


class ConvStack(nn.Module):
    """KLab's ConvStackV7: parallel branches over 32 ms .. 4 s, concatenated per frame."""

    def __init__(self, cfg: OnsetConfig):
        super().__init__()
        self.branches = nn.ModuleList(
            ConvBranch(cfg.conv_channels, a, b, cfg.dropblock) for a, b in cfg.time_pools
        )
        # Pad time to a multiple of every branch's pooling so upsampling restores the length.
        self.time_multiple = math.lcm(*(a * b for a, b in cfg.time_pools))
        self.dropout = nn.Dropout(cfg.features_dropout)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:  # (B, T, F) → (B, T, 16c)
        n_frames = log_mel.shape[1]
        pad = (-n_frames) % self.time_multiple
        x = F.pad(log_mel, (0, 0, 0, pad)).unsqueeze(1)  # (B, 1, T + pad, F), zeros as KLab
        x = torch.cat([branch(x) for branch in self.branches], dim=1)  # (B, 16c, T + pad, 1)
        x = self.dropout(x[:, :, :n_frames, 0])
        return x.transpose(1, 2)


class OnsetNet(nn.Module):
    """GenéLive!: named tensors in, named tensors out."""

    def __init__(self, cfg: OnsetConfig):
        super().__init__()
        self.cfg = cfg
        self.conv_stack = ConvStack(cfg)
        n_in = cfg.features + int(cfg.use_difficulty) + int(cfg.use_beats)
        self.lstm = nn.LSTM(
            n_in,
            cfg.lstm_hidden,
            num_layers=cfg.lstm_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.lstm_dropout if cfg.lstm_layers > 1 else 0.0,
        )
        self.head_dropout = nn.Dropout(cfg.head_dropout)
        self.head = nn.Linear(2 * cfg.lstm_hidden, 1)

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) → (B, T, C): the difficulty-independent part, once per song."""
        return self.conv_stack(log_mel)

    def decode(
        self, features: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> torch.Tensor:
        """(N, T, C) features, (N, T) beat guide, (N,) difficulty value → (N, T) onset logits."""
        x = self.lstm_input(features, beats, difficulty)  # (N, T, C + 2)
        chunk = self.cfg.lstm_chunk_frames
        if chunk and not self.training and x.shape[1] > chunk:
            x = chunked_bilstm(self.lstm, x, chunk)
        else:
            x = self.lstm(x)[0]  # (N, T, 2H)
        return self.head(self.head_dropout(x))[..., 0]

    def lstm_input(
        self, features: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> torch.Tensor:
        """(N, T, C) features, (N, T) beat guide, (N,) difficulty → (N, T, C + 2)."""
        parts = [features]
        if self.cfg.use_difficulty:
            level = difficulty[:, None, None].to(features.dtype)  # (N, 1, 1)
            parts.append(level.expand(-1, features.shape[1], 1))
        if self.cfg.use_beats:
            parts.append(beats[:, :, None].to(features.dtype))
        return torch.cat(parts, dim=-1)

    def forward(
        self, log_mel: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """log_mel (B, T, n_mels), beats (B, T), difficulty (D,) → onset_probs (B, D, T)."""
        n_songs, n_diff = log_mel.shape[0], difficulty.shape[0]
        logits = self.decode(*self.per_difficulty(self.encode(log_mel), beats, difficulty))
        return {"onset_probs": torch.sigmoid(logits).view(n_songs, n_diff, -1)}

    @staticmethod
    def per_difficulty(
        features: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C), (B, T), (D,) → one row per (song, difficulty): (B·D, T, C), (B·D, T),
        (B·D,)."""
        n_songs, n_diff = features.shape[0], difficulty.shape[0]
        return (
            features.repeat_interleave(n_diff, dim=0),
            beats.repeat_interleave(n_diff, dim=0),
            difficulty.repeat(n_songs),
        )


def chunked_bilstm(lstm: nn.LSTM, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """KLab's eval-mode BiLSTM over long inputs, reproduced for parity with their checkpoints.

    A forward sweep runs the whole (multi-layer, bidirectional) LSTM chunk by chunk, carrying
    (h, c) of *both* directions forward, and keeps the forward half of each output; a backward
    sweep over the chunks in reverse order, from zero state, supplies the backward half.
    """
    n, n_frames, _ = x.shape
    hidden = lstm.hidden_size
    state_shape = (2 * lstm.num_layers, n, hidden)
    h = x.new_zeros(state_shape)
    c = x.new_zeros(state_shape)
    starts = range(0, n_frames, chunk)
    forward_half = []
    for start in starts:
        out, (h, c) = lstm(x[:, start : start + chunk], (h, c))
        forward_half.append(out[..., :hidden])
    h, c = x.new_zeros(state_shape), x.new_zeros(state_shape)
    backward_half = []
    for start in reversed(starts):
        out, (h, c) = lstm(x[:, start : start + chunk], (h, c))
        backward_half.insert(0, out[..., hidden:])
    return torch.cat([torch.cat(forward_half, dim=1), torch.cat(backward_half, dim=1)], dim=-1)
