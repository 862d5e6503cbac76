"""Training windows and their augmentation (KLab's recipe, with its defects fixed).

Probabilities and ranges are KLab's `loader_aug_config.yaml`. Departures, all deliberate:
- time masks may start anywhere in the window (KLab drew the start from the frequency size, so
  masks only ever covered the first ~220 frames);
- beat dropout removes beats without rescaling the rest (KLab used F.dropout, which scales the
  kept beats to 1/(1-p) ≈ 1.14, a value never seen at inference);
- time stretch interpolates log-mel frames from a shorter source span, so the window stays full,
  and does not take abs() of the log-mel afterwards as KLab's `time_stretch_abs` does;
- the whole beat guide is dropped now and then, so the model still works without a tempo map;
- KLab's rare frequency flip is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Augment:
    freq_shift_p: float = 0.212
    freq_shift_max: float = 0.234  # fraction of the bands
    freq_mask_p: float = 0.753
    freq_mask_max: int = 13
    freq_mask_count: int = 2
    time_mask_p: float = 0.707
    time_mask_max: int = 11
    time_mask_count: int = 4
    high_mask_p: float = 0.833
    high_mask_bins: tuple[int, int] = (16, 17)
    noise_p: float = 0.49
    noise_sigma: float = 0.117
    beat_drop_p: float = 0.135
    beat_drop_rate: float = 0.123
    beat_guide_off_p: float = 0.1
    stretch_p: float = 0.652
    stretch_rate: tuple[float, float] = (0.636, 0.784)  # < 1: the window plays slower


def _chance(g: torch.Generator, p: float) -> bool:
    return bool(torch.rand((), generator=g) < p)


def _randint(g: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (), generator=g))


def stretch_rate(aug: Augment | None, g: torch.Generator) -> float:
    if aug is None or not _chance(g, aug.stretch_p):
        return 1.0
    lo, hi = aug.stretch_rate
    return float(lo + (hi - lo) * torch.rand((), generator=g))


def stretch_features(x: torch.Tensor, rate: float, n_out: int) -> torch.Tensor:
    """Linear interpolation in time: output frame i reads input position i · rate."""
    if rate == 1.0:
        return x[:n_out]
    pos = torch.arange(n_out, dtype=torch.float64) * rate
    lo = pos.floor().long().clamp(max=len(x) - 1)
    hi = (lo + 1).clamp(max=len(x) - 1)
    w = (pos - lo).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return x[lo] * (1 - w) + x[hi] * w


def stretch_frames(frames: torch.Tensor, rate: float, n_out: int) -> torch.Tensor:
    """Event frames (relative to the window) moved by the same stretch, kept if inside."""
    moved, inside = _moved(frames, rate, n_out)
    return moved[inside]


def stretch_guide(guide: np.ndarray, rate: float, n_out: int, n_frames: int) -> torch.Tensor:
    """A window of beat guide, moved like the audio; its values (1, maybe 2) are kept."""
    frames = np.flatnonzero(guide)
    moved, inside = _moved(torch.from_numpy(frames), rate, n_out)
    out = torch.zeros(n_frames)
    out[moved[inside]] = torch.from_numpy(guide[frames]).float()[inside]
    return out


def _moved(frames: torch.Tensor, rate: float, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    moved = torch.round(frames.double() / rate).long()
    return moved, (moved >= 0) & (moved < n_out)


def augment_features(x: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """Spectrogram augmentations on one window, (T, ..., F); returns a new tensor."""
    x = x.clone()
    n_frames, n_bins = x.shape[0], x.shape[-1]
    mean = x.mean()
    if _chance(g, aug.freq_shift_p):
        r = int(n_bins * aug.freq_shift_max)
        x = torch.roll(x, _randint(g, -r, r), dims=-1)
    if _chance(g, aug.freq_mask_p):
        width = _randint(g, 1, aug.freq_mask_max)
        for _ in range(_randint(g, 1, aug.freq_mask_count)):
            start = _randint(g, 0, n_bins - width)
            x[..., start : start + width] = mean
    if _chance(g, aug.time_mask_p):
        width = _randint(g, 1, aug.time_mask_max)
        for _ in range(_randint(g, 1, aug.time_mask_count)):
            start = _randint(g, 0, max(0, n_frames - width))
            x[start : start + width] = mean
    if _chance(g, aug.high_mask_p):
        x[..., -_randint(g, *aug.high_mask_bins) :] = mean
    if _chance(g, aug.noise_p):
        x = x + aug.noise_sigma * torch.randn(x.shape, generator=g)
    return x


def augment_beats(beats: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """(N, T) beat guides of one window's charts."""
    if _chance(g, aug.beat_guide_off_p):
        return torch.zeros_like(beats)
    if _chance(g, aug.beat_drop_p):
        keep = torch.rand(beats.shape, generator=g) >= aug.beat_drop_rate
        return beats * keep
    return beats
