"""Baselines GenéLive! is measured against, trained and evaluated on the same split.

- DDC-style CNN (Donahue, Lipton & McAuley 2017, "Dance Dance Convolution"): 80-band log-mel at
  100 fps from three window sizes, a 15-frame context CNN, the difficulty as a one-hot vector.
- librosa: spectral-flux onset strength, peak-picked with thresholds tuned per difficulty.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genelive.audio import SAMPLE_RATE
from genelive.difficulty import DIFFICULTY_VALUES
from genelive.onsets.config import DDCConfig, LibrosaOnsetConfig


def ddc_features(audio: np.ndarray, cfg: DDCConfig) -> np.ndarray:
    """(n,) 16 kHz → (T, 3, 80) log-mel, one channel per window size, at 1 / hop_s frames/s."""
    hop = round(cfg.hop_s * SAMPLE_RATE)
    n_fft = 2048
    channels = []
    for window_ms in cfg.fft_sizes_ms:
        win = min(n_fft, round(window_ms / 1000 * SAMPLE_RATE))
        mel = librosa.feature.melspectrogram(
            y=np.asarray(audio, np.float32),
            sr=SAMPLE_RATE,
            n_fft=n_fft,
            win_length=win,
            hop_length=hop,
            n_mels=cfg.n_mels,
            fmin=27.5,
            fmax=SAMPLE_RATE / 2,
        )
        channels.append(np.log(mel + 1e-16).T)
    return np.stack(channels, axis=1).astype(np.float32)


class DDCOnsetNet(nn.Module):
    """DDC's CNN, applied fully convolutionally: every frame sees ±7 frames of context."""

    def __init__(self, cfg: DDCConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.conv_channels
        self.register_buffer("feature_mean", torch.zeros(3, cfg.n_mels))
        self.register_buffer("feature_std", torch.ones(3, cfg.n_mels))
        self.conv1 = nn.Conv2d(3, c1, (7, 3))
        self.conv2 = nn.Conv2d(c1, c2, (3, 3))
        bins = ((cfg.n_mels - 2) // 3 - 2) // 3
        # DDC's first dense layer sees the remaining 7 frames of context: a width-7 time conv.
        context_left = 2 * cfg.context_frames + 1 - 6 - 2
        self.dense1 = nn.Conv1d(c2 * bins, cfg.hidden[0], context_left)
        self.dense2 = nn.Linear(cfg.hidden[0] + len(DIFFICULTY_VALUES), cfg.hidden[1])
        self.out = nn.Linear(cfg.hidden[1], 1)
        self.dropout = nn.Dropout(cfg.dropout)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, n_mels) → (B, T, hidden)."""
        x = (features - self.feature_mean) / self.feature_std
        x = x.permute(0, 2, 1, 3)  # (B, 3, T, F)
        ctx = self.cfg.context_frames
        x = F.pad(x, (0, 0, ctx, ctx))  # zeros = the training mean after standardising
        x = F.max_pool2d(F.relu(self.conv1(x)), (1, 3))
        x = F.max_pool2d(F.relu(self.conv2(x)), (1, 3))  # (B, c2, T + 6, bins)
        x = x.permute(0, 1, 3, 2).flatten(1, 2)  # (B, c2·bins, T + 6)
        x = self.dropout(F.relu(self.dense1(x)))  # (B, hidden, T)
        return x.transpose(1, 2)

    def decode(
        self, features: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> torch.Tensor:
        """(N, T, hidden), beats (unused: DDC has no beat guide), difficulty (N,) → (N, T)."""
        del beats
        values = torch.tensor(DIFFICULTY_VALUES, dtype=difficulty.dtype, device=difficulty.device)
        one_hot = (difficulty[:, None] == values).to(features.dtype)  # (N, 5)
        x = torch.cat([features, one_hot[:, None, :].expand(-1, features.shape[1], -1)], dim=-1)
        x = self.dropout(F.relu(self.dense2(x)))
        return self.out(x)[..., 0]

    def forward(
        self, features: torch.Tensor, beats: torch.Tensor, difficulty: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """features (B, T, 3, n_mels), beats (B, T), difficulty (D,) → onset_probs (B, D, T)."""
        encoded = self.encode(features)
        n_songs, n_frames, _ = encoded.shape
        n_diff = difficulty.shape[0]
        logits = self.decode(
            encoded.repeat_interleave(n_diff, dim=0),
            beats.repeat_interleave(n_diff, dim=0),
            difficulty.repeat(n_songs),
        )
        return {"onset_probs": torch.sigmoid(logits).view(n_songs, n_diff, n_frames)}


def librosa_activation(audio: np.ndarray, cfg: LibrosaOnsetConfig) -> np.ndarray:
    """(n,) 16 kHz → (T,) onset strength scaled to [0, 1] per song (the same for every level)."""
    hop = round(cfg.hop_s * SAMPLE_RATE)
    env = librosa.onset.onset_strength(
        y=np.asarray(audio, np.float32),
        sr=SAMPLE_RATE,
        hop_length=hop,
        n_mels=cfg.n_mels,
        center=True,
    )
    peak = float(env.max())
    return (env / peak if peak > 0 else env).astype(np.float32)
