"""GenéLive's front end: log-mel frames exactly as KLab computes them, and seconds ↔ frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genelive.audio import SAMPLE_RATE
from genelive.spectrogram import mel_power

HOP = 512
N_FFT = 2048
N_MELS = 229
FMIN_HZ = 30.0
FPS = SAMPLE_RATE / HOP  # 31.25 frames per second: one frame is 32 ms
LOG_FLOOR = 1e-5


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(n_samples,) mono 16 kHz → (T, 229) natural-log mel power, T = 1 + n_samples // 512.

    KLab computed their features with librosa 0.8, whose STFT padded the signal by reflection;
    librosa ≥ 0.10 pads with zeros, which changes the first and last two frames. This is
    librosa.feature.melspectrogram(..., htk=True, pad_mode="reflect") to the bit, without
    importing librosa (genelive/spectrogram.py).
    """
    mel = mel_power(
        np.asarray(audio, dtype=np.float32),
        SAMPLE_RATE,
        N_FFT,
        HOP,
        N_MELS,
        fmin=FMIN_HZ,
        htk=True,
        pad_mode="reflect",
    )
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def time_to_frame(times_s: np.ndarray | Sequence[float], fps: float = FPS) -> np.ndarray:
    """Seconds → frame indices, rounding half to even as KLab's `np.round(ms / 32)` does."""
    return np.rint(np.asarray(times_s, dtype=np.float64) * fps).astype(np.int64)
