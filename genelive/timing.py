"""Where beats fall: a beat grid (beat times and downbeats, what the onset model's beat guide is
made from) and a chart's tempo map (StepMania's #OFFSET, BPM changes and stops; beat ↔ time).

This is what a written chart's notes are placed by. It holds what all our formats can carry
(BPM changes and stops); a tempo map with delays, warps or negative BPMs is refused with the
reason rather than approximated. Conventions are StepMania's: beat 0 falls at −offset seconds,
and a note on a stop's beat is hit before the stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from export.checks import InvalidValue, check_number
from genelive.features import FPS, time_to_frame

MAX_BPM = 1000.0
MAX_OFFSET_S = 3600.0  # beat 0 within an hour of the audio's start


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


class TimingError(ValueError):
    """A tempo map that cannot be used, with the reason."""


def check_bpm(bpm: float, name: str = "bpm") -> float:
    return float(check_number(bpm, name, 0.0, MAX_BPM, lo_open=True))


@dataclass(frozen=True)
class Timing:
    offset_s: float  # beat 0 falls at −offset_s seconds of the audio
    bpms: tuple[tuple[float, float], ...]  # (beat, bpm), the first at beat 0
    stops: tuple[tuple[float, float], ...] = ()  # (beat, seconds)

    def __post_init__(self):
        if not self.bpms or self.bpms[0][0] != 0:
            raise TimingError("a tempo map needs a BPM at beat 0")
        for _, bpm in self.bpms:
            try:
                check_bpm(bpm, "BPM")
            except InvalidValue as e:  # a value of the tempo map, not an argument
                raise TimingError(str(e)) from None
        if any(b2 <= b1 for (b1, _), (b2, _) in zip(self.bpms, self.bpms[1:], strict=False)):
            raise TimingError("BPM changes must be at increasing beats")
        if any(s < 0 or b < 0 for b, s in self.stops):
            raise TimingError("stops must have non-negative beats and lengths")
        if not math.isfinite(self.offset_s):
            raise TimingError(f"offset must be a finite number of seconds, not {self.offset_s}")

    @classmethod
    def constant(cls, bpm: float, offset_s: float) -> Timing:
        offset_s = check_number(offset_s, "offset_s", -MAX_OFFSET_S, MAX_OFFSET_S, unit="s")
        return cls(float(offset_s), ((0.0, check_bpm(bpm)),))

    @property
    def bpm(self) -> float:
        """The first BPM (the only one of a constant tempo)."""
        return self.bpms[0][1]

    @property
    def is_constant(self) -> bool:
        return len(self.bpms) == 1 and not self.stops

    def time_at(self, beats: np.ndarray | float) -> np.ndarray:
        """Beats → seconds of the audio."""
        beats = np.asarray(beats, np.float64)
        starts = np.array([b for b, _ in self.bpms])
        spb = np.array([60.0 / bpm for _, bpm in self.bpms])  # seconds per beat, per segment
        # Seconds from beat 0 to the start of each segment.
        seg_start_s = np.concatenate([[0.0], np.cumsum(np.diff(starts) * spb[:-1])])
        seg = np.clip(np.searchsorted(starts, beats, side="right") - 1, 0, None)
        t = seg_start_s[seg] + (beats - starts[seg]) * spb[seg]
        # Negative beats extend the first tempo backwards (seg 0 covers them too).
        for stop_beat, stop_s in self.stops:
            t = t + np.where(beats > stop_beat, stop_s, 0.0)
        return t - self.offset_s

    def beat_grid(self, duration_s: float) -> tuple[BeatGrid, int]:
        """Whole beats inside [0, duration_s]: the grid and the beat number of its first beat."""
        first = math.floor(self.beat_at(0.0))
        last = math.ceil(self.beat_at(duration_s))  # a beat exactly at the end is inside
        k = np.arange(first, last + 1)
        t = self.time_at(k.astype(np.float64))
        keep = (t >= 0) & (t <= duration_s)
        k, t = k[keep], t[keep]
        if len(k) < 2:
            raise TimingError("the tempo map has fewer than two beats inside the song")
        return BeatGrid(t, (k % 4) == 0), int(k[0])

    def beat_at(self, time_s: float) -> float:
        """The last beat at or before `time_s` (during a stop: the stop's beat)."""
        lo, hi = -1e6, 1e6
        for _ in range(80):  # time_at is monotonic: bisect to below 1e-15 beats
            mid = (lo + hi) / 2
            if self.time_at(mid) <= time_s:
                lo = mid
            else:
                hi = mid
        return lo

    def to_dict(self) -> dict:
        return {
            "offset_s": self.offset_s,
            "bpms": [list(p) for p in self.bpms],
            "stops": [list(s) for s in self.stops],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Timing:
        try:
            return cls(
                float(data["offset_s"]),
                tuple((float(b), float(v)) for b, v in data["bpms"]),
                tuple((float(b), float(s)) for b, s in data.get("stops", ())),
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, TimingError):
                raise
            raise TimingError(f"malformed timing ({type(e).__name__}: {str(e)[:200]})") from e
