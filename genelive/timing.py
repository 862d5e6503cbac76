"""A chart's tempo map: StepMania's #OFFSET, BPM changes and stops, and beat ↔ time.

This is what a written chart's notes are placed by. It holds what all our formats can carry
(BPM changes and stops); a tempo map with delays, warps or negative BPMs is refused with the
reason rather than approximated. Conventions are StepMania's: beat 0 falls at −offset seconds,
and a note on a stop's beat is hit before the stop.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.checks import InvalidValue, check_number
from genelive.features import BeatGrid

MAX_BPM = 1000.0
MAX_OFFSET_S = 3600.0  # beat 0 within an hour of the audio's start


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
        last = math.ceil(self.beat_at(duration_s)) + 1
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


def timing_from_file(path: str | Path) -> Timing:
    """The tempo map of an existing .sm/.ssc (song-level timing), .osu or our .json chart."""
    path = Path(path)
    if not path.is_file():
        raise TimingError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".osu":
        return _osu_timing(path)
    if suffix in (".sm", ".ssc"):
        return _simfile_timing(path)
    if suffix == ".json":
        from genelive.chartfile import read_json_chart  # the JSON format lives there

        return read_json_chart(path).timing
    raise TimingError(f"{path}: timing can be read from .sm, .ssc, .osu or .json, not {suffix}")


def _simfile_timing(path: Path) -> Timing:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simfile
        from simfile.timing import TimingData
    try:
        sim = simfile.open(str(path), strict=False)
        data = TimingData(sim)
    except Exception as e:  # simfile raises assorted parser errors on malformed files
        raise TimingError(f"{path}: unreadable simfile ({type(e).__name__}: {e})") from e
    for name in ("delays", "warps"):
        if len(getattr(data, name)):
            raise TimingError(f"{path}: has {name}, which our chart formats cannot carry")
    bpms = [(float(b.beat), float(b.value)) for b in data.bpms]
    if bpms and bpms[0][0] > 0:  # StepMania extends the first BPM back to beat 0
        bpms.insert(0, (0.0, bpms[0][1]))
    return Timing(
        float(data.offset),
        tuple(bpms),
        tuple((float(s.beat), float(s.value)) for s in data.stops if s.value),
    )


def _osu_timing(path: Path) -> Timing:
    from genelive.osu import OsuError, read_osu

    try:
        beatmap = read_osu(path)
    except OsuError as e:
        raise TimingError(str(e)) from e
    red = sorted((p for p in beatmap.timing_points if p.uninherited), key=lambda p: p.time_ms)
    if not red:
        raise TimingError(f"{path}: no uninherited (red) timing point: no tempo")
    # Each red point restarts the beat count in osu!; here it becomes a BPM change at the
    # (possibly fractional) beat reached by then.
    bpms, beat = [], 0.0
    for i, point in enumerate(red):
        if i:
            beat += (point.time_ms - red[i - 1].time_ms) / red[i - 1].beat_length_ms
        bpms.append((round(beat, 6), 60_000.0 / point.beat_length_ms))
    offset_s = -(red[0].time_ms + beatmap.offset_ms) / 1000.0
    return Timing(offset_s, tuple(bpms))
