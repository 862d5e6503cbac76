"""osu!mania `.osu` beatmaps: reading the parts charting needs (timing, notes, keys, difficulty
name) and writing a chart set's charts, one file per difficulty (format v14).

The one place .osu timing is worked out: a beatmap's notes in seconds (`notes_s`, with the
legacy offset of old format versions), its red timing points as our tempo map (`timing`) and as
a beat grid (`beat_grid`), and the timing points written for a tempo map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.checks import safe_filename
from genelive.formats.notes import Note
from genelive.steps.arrows import N_COLUMNS
from genelive.timing import BeatGrid, Timing

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

    def notes_s(self) -> Iterator[tuple[int, float, float | None]]:
        """(column, time, hold end or None) of every hit object, in seconds of the audio."""
        shift = self.offset_ms
        for h in self.hit_objects:
            end = None if h.end_ms is None else (h.end_ms + shift) / 1000.0
            yield h.column, (h.time_ms + shift) / 1000.0, end

    def timing(self) -> Timing:
        """The red timing points as a tempo map: each restarts the beat count in osu!; here it
        becomes a BPM change at the (possibly fractional) beat reached by then."""
        red = self._red_points()
        bpms, beat = [], 0.0
        for i, point in enumerate(red):
            if i:
                beat += (point.time_ms - red[i - 1].time_ms) / red[i - 1].beat_length_ms
            bpms.append((round(beat, 6), 60_000.0 / point.beat_length_ms))
        offset_s = -(red[0].time_ms + self.offset_ms) / 1000.0
        return Timing(offset_s, tuple(bpms))

    def _red_points(self) -> list[TimingPoint]:
        red = sorted((p for p in self.timing_points if p.uninherited), key=lambda p: p.time_ms)
        if not red:
            raise OsuError(f"{self.path.name}: no uninherited (red) timing point: no tempo")
        return red

    def beat_grid(self, duration_s: float) -> BeatGrid:
        """Quarter-note beats of the red timing points (and before the first, backwards)."""
        red = self._red_points()
        end_ms = duration_s * 1000.0
        times, downs = [], []
        for i, point in enumerate(red):
            start = point.time_ms + self.offset_ms
            stop = red[i + 1].time_ms + self.offset_ms if i + 1 < len(red) else end_ms
            first_k = -math.floor(start / point.beat_length_ms) if i == 0 else 0
            k = np.arange(first_k, math.ceil((stop - start) / point.beat_length_ms))
            t = start + k * point.beat_length_ms  # below `stop` by the range of k
            keep = t >= 0
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


# ---------------------------------------------------------------------------------- writing


def osu_filename(song, chart) -> str:
    who = f"{song.artist} - " if song.artist else ""
    level = safe_filename(chart.difficulty, "chart")
    return f"{safe_filename(who + song.title, 'chart')} (GenéLive) [{level}].osu"


def write_osu(song, chart) -> str:
    """One chart of a chart set (genelive.formats.chartset.ChartSet) as a .osu beatmap."""
    keys = song.keys
    lines = [
        "osu file format v14",
        song.comment("//").rstrip("\n"),
        "",
        "[General]",
        f"AudioFilename: {song.audio_filename}",
        "AudioLeadIn: 0",
        "PreviewTime: -1",
        "Mode: 3",
        "",
        "[Metadata]",
        f"Title:{song.title}",
        f"Artist:{song.artist}",
        f"Creator:{song.credit().strip()}",
        f"Version:{chart.difficulty}",
        f"Tags:genelive seed={song.stamp.get('seed', '')}",
        "",
        "[Difficulty]",
        "HPDrainRate:8",
        f"CircleSize:{keys}",
        "OverallDifficulty:8",
        "ApproachRate:5",
        "SliderMultiplier:1.4",
        "SliderTickRate:1",
        "",
        "[TimingPoints]",
        *timing_points(song.timing),
        "",
        "[HitObjects]",
    ]
    notes = chart.notes if keys == N_COLUMNS else remap_keys(chart.notes, keys)
    for note in sorted(notes, key=lambda n: (n.time_s, n.column)):
        x = int((note.column + 0.5) * 512 / keys)  # floor(x·keys/512) gives the column back
        t = _ms(note.time_s)
        if note.is_hold:
            lines.append(f"{x},192,{t},128,0,{_ms(note.end_time_s)}:0:0:0:0:")
        else:
            lines.append(f"{x},192,{t},1,0,0:0:0:0:")
    return "\n".join(lines) + "\n"


def timing_points(timing: Timing) -> list[str]:
    """A red point at each BPM change and where the beat resumes after each stop."""
    changes = sorted(
        [(b, bpm, 0.0) for b, bpm in timing.bpms]
        + [(b, _bpm_at(timing, b), s) for b, s in timing.stops]
    )
    points = []
    for beat, bpm, stop_s in changes:
        t = float(timing.time_at(beat)) + stop_s
        meter = 4
        points.append(f"{_ms(t)},{60_000.0 / bpm:.12g},{meter},1,0,100,1,0")
    return points


def _bpm_at(timing: Timing, beat: float) -> float:
    return [bpm for b, bpm in timing.bpms if b <= beat][-1]


def _ms(time_s: float) -> int:
    return round(time_s * 1000.0)


def remap_keys(notes: list[Note], keys: int) -> list[Note]:
    """4-panel notes → `keys` lanes (osu!mania): each panel owns a block of lanes and its notes
    rotate through them; a note landing on a lane still busy (held, or hit at that instant) is
    dropped. The step model knows 4 panels; other key counts are this mapping, not learned."""
    out, busy_until, turn = [], {}, dict.fromkeys(range(N_COLUMNS), 0)
    for n in sorted(notes, key=lambda n: (n.time_s, n.column)):
        lo = n.column * keys // N_COLUMNS
        hi = max(lo + 1, (n.column + 1) * keys // N_COLUMNS)
        lane = lo + turn[n.column] % (hi - lo)
        turn[n.column] += 1
        if busy_until.get(lane, -np.inf) >= n.time_s - 1e-6:
            continue
        busy_until[lane] = n.end_time_s if n.is_hold else n.time_s
        out.append(Note(lane, n.beat, n.time_s, n.end_beat, n.end_time_s))
    return out
