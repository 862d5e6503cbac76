"""osu!mania `.osu` beatmaps: the parts charting needs (timing, notes, keys, difficulty name)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genelive.features import BeatGrid

# osu! file format versions below 5 play every object 24 ms later than written.
LEGACY_OFFSET_MS = 24.0
LEGACY_VERSION = 5


class OsuError(ValueError):
    """A .osu file that cannot be used, with the reason."""


@dataclass(frozen=True)
class TimingPoint:
    time_ms: float
    beat_length_ms: float  # uninherited (red) points: ms per beat
    meter: int
    uninherited: bool


@dataclass(frozen=True)
class HitObject:
    column: int
    time_ms: float
    end_ms: float | None  # holds (type bit 128) end here


@dataclass
class OsuBeatmap:
    path: Path
    format_version: int
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    timing_points: list[TimingPoint] = field(default_factory=list)
    hit_objects: list[HitObject] = field(default_factory=list)

    @property
    def audio_filename(self) -> str:
        return self.sections.get("General", {}).get("AudioFilename", "")

    @property
    def mode(self) -> int:
        return int(self.sections.get("General", {}).get("Mode", "0"))

    @property
    def keys(self) -> int:
        return int(float(self.sections.get("Difficulty", {}).get("CircleSize", "4")))

    @property
    def title(self) -> str:
        meta = self.sections.get("Metadata", {})
        return meta.get("TitleUnicode") or meta.get("Title", "")

    @property
    def version_name(self) -> str:
        return self.sections.get("Metadata", {}).get("Version", "")

    @property
    def offset_ms(self) -> float:
        return LEGACY_OFFSET_MS if self.format_version < LEGACY_VERSION else 0.0

    def onset_times_s(self) -> np.ndarray:
        times = {round(h.time_ms + self.offset_ms, 3) for h in self.hit_objects}
        return np.array(sorted(times), dtype=np.float64) / 1000.0

    def beat_grid(self, duration_s: float) -> BeatGrid:
        """Quarter-note beats of the red timing points (and before the first, backwards)."""
        red = sorted((p for p in self.timing_points if p.uninherited), key=lambda p: p.time_ms)
        if not red:
            raise OsuError(f"{self.path.name}: no uninherited (red) timing point: no tempo")
        end_ms = duration_s * 1000.0
        times, downs = [], []
        for i, point in enumerate(red):
            start = point.time_ms + self.offset_ms
            stop = red[i + 1].time_ms + self.offset_ms if i + 1 < len(red) else end_ms
            first_k = -math.floor(start / point.beat_length_ms) if i == 0 else 0
            k = np.arange(first_k, math.ceil((stop - start) / point.beat_length_ms))
            t = start + k * point.beat_length_ms
            keep = (t >= 0) & (t < stop)
            times.append(t[keep] / 1000.0)
            downs.append((k[keep] % max(point.meter, 1)) == 0)
        return BeatGrid(np.concatenate(times), np.concatenate(downs))


def read_osu(path: str | Path) -> OsuBeatmap:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise OsuError(f"{path.name}: unreadable ({e})") from e
    if not lines or not lines[0].startswith("osu file format v"):
        raise OsuError(f"{path.name}: not an osu! beatmap (no 'osu file format vN' header)")
    try:
        version = int(lines[0].removeprefix("osu file format v").strip())
    except ValueError as e:
        raise OsuError(f"{path.name}: bad format header {lines[0]!r}") from e
    beatmap = OsuBeatmap(path, version)
    section = ""
    for n, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        try:
            _parse_line(beatmap, section, line)
        except (ValueError, IndexError) as e:
            raise OsuError(f"{path.name}:{n}: malformed [{section}] line {line!r}") from e
    if beatmap.mode != 3:
        raise OsuError(f"{path.name}: not an osu!mania beatmap (Mode {beatmap.mode}, expected 3)")
    return beatmap


def _parse_line(beatmap: OsuBeatmap, section: str, line: str) -> None:
    if section in ("General", "Metadata", "Difficulty", "Editor"):
        key, _, value = line.partition(":")
        beatmap.sections.setdefault(section, {})[key.strip()] = value.strip()
    elif section == "TimingPoints":
        parts = line.split(",")
        beat_length = float(parts[1])
        uninherited = bool(int(parts[6])) if len(parts) > 6 else beat_length > 0
        meter = int(parts[2]) if len(parts) > 2 else 4
        if uninherited and not beat_length > 0:
            raise ValueError("non-positive beat length")
        beatmap.timing_points.append(TimingPoint(float(parts[0]), beat_length, meter, uninherited))
    elif section == "HitObjects":
        parts = line.split(",")
        x, time_ms, kind = int(parts[0]), float(parts[2]), int(parts[3])
        end_ms = float(parts[5].split(":")[0]) if kind & 128 else None
        column = min(beatmap.keys - 1, math.floor(x * beatmap.keys / 512))
        beatmap.hit_objects.append(HitObject(column, time_ms, end_ms))
