"""GenéLive's front end (log-mel frames) and the beat guide, exactly as KLab computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import librosa
import numpy as np

from genelive.audio import SAMPLE_RATE

HOP = 512
N_FFT = 2048
N_MELS = 229
FMIN_HZ = 30.0
FPS = SAMPLE_RATE / HOP  # 31.25 frames per second: one frame is 32 ms
LOG_FLOOR = 1e-5


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(n_samples,) mono 16 kHz → (T, 229) natural-log mel power, T = 1 + n_samples // 512.

    KLab computed their features with librosa 0.8, whose STFT padded the signal by reflection;
    librosa ≥ 0.10 pads with zeros, which changes the first and last two frames.
    """
    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP,
        n_mels=N_MELS,
        fmin=FMIN_HZ,
        htk=True,
        pad_mode="reflect",
    )
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def time_to_frame(times_s: np.ndarray | Sequence[float], fps: float = FPS) -> np.ndarray:
    """Seconds → frame indices, rounding half to even as KLab's `np.round(ms / 32)` does."""
    return np.rint(np.asarray(times_s, dtype=np.float64) * fps).astype(np.int64)


@dataclass(frozen=True)
class BeatGrid:
    """Quarter-note beat times (s) of a tempo map, and which of them start a measure."""

    times_s: np.ndarray  # (M,) ascending
    downbeats: np.ndarray  # (M,) bool

    @classmethod
    def from_bpm_offset(
        cls, bpm: float, offset_s: float, duration_s: float, beats_per_measure: int = 4
    ) -> BeatGrid:
        """A constant tempo in StepMania's convention: beat 0 falls at −offset seconds."""
        if not bpm > 0:
            raise ValueError(f"BPM must be positive, not {bpm}")
        period = 60.0 / bpm
        first = math.ceil((offset_s - 1e-9) / period)  # the first beat at time ≥ 0
        k = np.arange(first, first + int(duration_s / period) + 2)
        times = -offset_s + k * period
        keep = (times >= 0) & (times <= duration_s)
        return cls(times[keep], (k[keep] % beats_per_measure) == 0)

    @classmethod
    def from_bpm_info(cls, bpm_info: Sequence[Sequence[float]], duration_s: float) -> BeatGrid:
        """KLab's tempo map `[[bpm, start_ms, beats_per_measure], ...]`.

        Each entry starts a run of constant tempo at `start_ms` (a downbeat) that lasts until
        the next entry or the end of the song.
        """
        entries = [tuple(e) for e in bpm_info]
        for bpm, start_ms, per_measure in entries:
            if not (bpm > 0 and start_ms >= 0 and int(per_measure) > 0):
                raise ValueError(f"invalid tempo map entry {[bpm, start_ms, per_measure]}")
        end_ms = duration_s * 1000.0
        times, downbeats = [np.zeros(0)], [np.zeros(0, dtype=bool)]
        for i, (bpm, start_ms, per_measure) in enumerate(entries):
            if start_ms > end_ms:
                continue
            stop_ms = min(entries[i + 1][1], end_ms) if i + 1 < len(entries) else end_ms
            run = np.arange(start_ms, stop_ms, 60_000.0 / bpm)  # ms, as KLab computes it
            times.append(run / 1000.0)
            downbeats.append(np.arange(len(run)) % int(per_measure) == 0)
        return cls(np.concatenate(times), np.concatenate(downbeats))

    def guide(self, n_frames: int, downbeat_value: float = 1.0, fps: float = FPS) -> np.ndarray:
        """(T,) float32 beat guide: `downbeat_value` on frames starting a measure, 1 on other
        beat frames, 0 elsewhere.

        KLab trained with 1 on every beat (their inference path marks downbeats with 2, a
        mismatch); `downbeat_value=2` reproduces that inference input for parity.
        """
        guide = np.zeros(n_frames, dtype=np.float32)
        frames = time_to_frame(self.times_s, fps)
        inside = (frames >= 0) & (frames < n_frames)
        guide[frames[inside]] = 1.0
        if downbeat_value != 1.0:
            guide[frames[inside & self.downbeats]] = downbeat_value
        return guide

    def key(self) -> bytes:
        """Equal for equal grids (to run a network once per distinct tempo map)."""
        return self.times_s.tobytes() + self.downbeats.tobytes()
