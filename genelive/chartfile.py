"""Charts as files games load: StepMania .sm/.ssc, osu!mania .osu, and our JSON; written and read.

A `ChartSet` is one song's charts on one tempo map (`Timing`). Every note carries its beat and
its time, the time being the tempo map's time of the beat; each writer stores what lets the
file's own timing give that time back (StepMania: beats + #OFFSET/#BPMS/#STOPS with 6 decimals;
osu!: whole milliseconds, so within 0.5 ms). The .sm/.ssc holds every difficulty; osu! wants one
file per difficulty. Each file is stamped with the generator, its version, the seed and settings.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from export.checks import one_line, parse_json, safe_filename
from genelive.arrows import N_COLUMNS
from genelive.config import DIFFICULTIES
from genelive.osu import OsuError, read_osu
from genelive.timing import Timing, TimingError, timing_from_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # simfile's `fs` dependency warns about pkg_resources
    import simfile
    from simfile.notes import Note as SMNote
    from simfile.notes import NoteData, NoteType
    from simfile.sm import SMChart, SMSimfile
    from simfile.ssc import SSCChart, SSCSimfile
    from simfile.timing import Beat, TimingData
    from simfile.timing.engine import TimingEngine

JSON_FORMAT = "genelive-chart"
JSON_FORMAT_VERSION = 1
ROWS_PER_BEAT = 48  # StepMania's finest row: 192 per 4-beat measure
FORMATS = ("sm", "ssc", "osu", "json")


class ChartFileError(ValueError):
    """A chart file that cannot be read, with the reason."""


@dataclass(frozen=True)
class Note:
    column: int
    beat: float
    time_s: float
    end_beat: float | None = None  # holds only
    end_time_s: float | None = None

    @property
    def is_hold(self) -> bool:
        return self.end_beat is not None


@dataclass
class Chart:
    """One difficulty's notes."""

    difficulty: str  # Beginner..Challenge
    meter: int
    notes: list[Note]
    duration_s: float = 0.0  # the song's, for notes per second
    seed: int | None = None  # the seed its arrows were sampled with

    @property
    def n_notes(self) -> int:
        return len(self.notes)

    @property
    def n_holds(self) -> int:
        return sum(n.is_hold for n in self.notes)

    @property
    def nps(self) -> float:
        return round(self.n_notes / self.duration_s, 3) if self.duration_s > 0 else 0.0

    def summary(self) -> dict:
        return {
            "difficulty": self.difficulty,
            "meter": self.meter,
            "notes": self.n_notes,
            "holds": self.n_holds,
            "nps": self.nps,
            "seed": self.seed,
        }


@dataclass
class ChartSet:
    """One song's charts on one tempo map, as files."""

    title: str
    artist: str
    audio_filename: str  # the audio file beside the chart files
    timing: Timing
    charts: list[Chart]
    stamp: dict = field(default_factory=dict)  # generator, version, seed, settings
    keys: int = N_COLUMNS  # osu!mania key count

    def __post_init__(self):
        # Every format stores these as one line of a text file: a newline in a title would
        # start a line of its own ([TimingPoints], AudioFilename: ...), so none survives.
        self.title = one_line(self.title, "title")
        self.artist = one_line(self.artist, "artist")
        self.audio_filename = one_line(self.audio_filename, "audio_filename", max_chars=255)

    def chart(self, difficulty: str) -> Chart:
        for chart in self.charts:
            if chart.difficulty == difficulty:
                return chart
        raise KeyError(f"no {difficulty} chart (have {[c.difficulty for c in self.charts]})")

    # ------------------------------------------------------------------ StepMania

    def to_sm(self) -> str:
        return self._to_simfile(SMSimfile.blank(), SMChart)

    def to_ssc(self) -> str:
        return self._to_simfile(SSCSimfile.blank(), SSCChart)

    def _to_simfile(self, sim, chart_cls) -> str:
        sim.title, sim.artist, sim.music = self.title, self.artist, self.audio_filename
        sim.credit = self._credit()
        sim.offset = f"{self.timing.offset_s:.6f}"
        sim.bpms = ",".join(f"{_beat_str(b)}={bpm:.6f}" for b, bpm in self.timing.bpms)
        sim.stops = ",".join(f"{_beat_str(b)}={s:.6f}" for b, s in self.timing.stops)
        sim.samplestart = f"{max(0.0, self.charts[0].duration_s * 0.4) if self.charts else 0:.3f}"
        for chart in self.charts:
            out = chart_cls.blank()
            out.stepstype = "dance-single"
            out.difficulty = chart.difficulty
            out.meter = str(chart.meter)
            seed = chart.seed if chart.seed is not None else self.stamp.get("seed", "")
            out.description = f"GenéLive seed {seed}".strip()
            if hasattr(out, "credit"):
                out.credit = self._credit()
            out.notes = (
                str(NoteData.from_notes(_sm_notes(chart.notes), N_COLUMNS))
                if chart.notes
                else "\n".join(["0" * N_COLUMNS] * 4)  # one empty measure
            )
            sim.charts.append(out)
        return self._comment("//") + str(sim)

    def _credit(self) -> str:
        return f"{self.stamp.get('generator', 'GenéLive Studio')} {self.stamp.get('version', '')}"

    def _comment(self, prefix: str) -> str:
        """The stamp as comment lines (both games skip `//` lines)."""
        settings = json.dumps(self.stamp, sort_keys=True, ensure_ascii=False)
        return f"{prefix} generated by {self._credit().strip()}\n{prefix} stamp: {settings}\n"

    # ------------------------------------------------------------------ osu!mania

    def osu_filename(self, chart: Chart) -> str:
        who = f"{self.artist} - " if self.artist else ""
        level = safe_filename(chart.difficulty, "chart")
        return f"{safe_filename(who + self.title, 'chart')} (GenéLive) [{level}].osu"

    def to_osu(self, chart: Chart) -> str:
        keys = self.keys
        lines = [
            "osu file format v14",
            self._comment("//").rstrip("\n"),
            "",
            "[General]",
            f"AudioFilename: {self.audio_filename}",
            "AudioLeadIn: 0",
            "PreviewTime: -1",
            "Mode: 3",
            "",
            "[Metadata]",
            f"Title:{self.title}",
            f"Artist:{self.artist}",
            f"Creator:{self._credit().strip()}",
            f"Version:{chart.difficulty}",
            f"Tags:genelive seed={self.stamp.get('seed', '')}",
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
            *self._osu_timing_points(),
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

    def _osu_timing_points(self) -> list[str]:
        """A red point at each BPM change and where the beat resumes after each stop."""
        changes = sorted(
            [(b, bpm, 0.0) for b, bpm in self.timing.bpms]
            + [(b, self._bpm_at(b), s) for b, s in self.timing.stops]
        )
        points = []
        for beat, bpm, stop_s in changes:
            t = float(self.timing.time_at(beat)) + stop_s
            meter = 4
            points.append(f"{_ms(t)},{60_000.0 / bpm:.12g},{meter},1,0,100,1,0")
        return points

    def _bpm_at(self, beat: float) -> float:
        return [bpm for b, bpm in self.timing.bpms if b <= beat][-1]

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> str:
        data = {
            "format": JSON_FORMAT,
            "format_version": JSON_FORMAT_VERSION,
            "title": self.title,
            "artist": self.artist,
            "audio": self.audio_filename,
            "timing": self.timing.to_dict(),
            "stamp": self.stamp,
            "charts": [
                {
                    **chart.summary(),
                    "duration_s": chart.duration_s,
                    "notes": [_note_dict(n) for n in chart.notes],
                }
                for chart in self.charts
            ],
        }
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    def render(self, fmt: str) -> dict[str, str]:
        """File name → text for one format (osu!: one file per difficulty)."""
        stem = safe_filename(self.title, "chart")
        if fmt == "osu":
            return {self.osu_filename(c): self.to_osu(c) for c in self.charts}
        if fmt in ("sm", "ssc", "json"):
            return {f"{stem}.{fmt}": getattr(self, f"to_{fmt}")()}
        raise ValueError(f"unknown chart format {fmt!r} (choose from {', '.join(FORMATS)})")


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


def _beat_str(beat: float) -> str:
    return f"{beat:.6f}"


def _ms(time_s: float) -> int:
    return round(time_s * 1000.0)


def _note_dict(n: Note) -> dict:
    d = {"time_s": round(n.time_s, 6), "beat": n.beat, "column": n.column}
    if n.is_hold:
        d |= {"end_time_s": round(n.end_time_s, 6), "end_beat": n.end_beat}
    return d


def _row_beat(beat: float) -> Beat:
    return Beat(Fraction(round(beat * ROWS_PER_BEAT), ROWS_PER_BEAT))


def _sm_notes(notes: list[Note]) -> list[SMNote]:
    out = []
    for n in notes:
        kind = NoteType.HOLD_HEAD if n.is_hold else NoteType.TAP
        out.append(SMNote(beat=_row_beat(n.beat), column=n.column, note_type=kind))
        if n.is_hold:
            out.append(SMNote(beat=_row_beat(n.end_beat), column=n.column, note_type=NoteType.TAIL))
    return sorted(out)


# ---------------------------------------------------------------------- reading


def read_chart_file(path: str | Path) -> ChartSet:
    """A written chart file back as a ChartSet (.sm/.ssc: every dance-single chart)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return read_json_chart(path)
        if suffix == ".osu":
            return _read_osu(path)
        if suffix in (".sm", ".ssc"):
            return _read_simfile(path)
    except TimingError as e:
        raise ChartFileError(f"{path}: {e}") from e
    raise ChartFileError(f"{path}: not a chart file (.sm, .ssc, .osu or .json)")


def read_json_chart(path: str | Path) -> ChartSet:
    path = Path(path)
    try:
        data = parse_json(path.read_bytes(), str(path), ChartFileError)
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise ChartFileError(f"{path}: not a {JSON_FORMAT} file")
        charts = [
            Chart(
                c["difficulty"],
                int(c["meter"]),
                [_note_from_dict(n) for n in c["notes"]],
                float(c.get("duration_s", 0.0)),
                c.get("seed"),
            )
            for c in data["charts"]
        ]
        timing = Timing.from_dict(data["timing"])
        return ChartSet(data["title"], data["artist"], data["audio"], timing, charts, data["stamp"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, ChartFileError):
            raise
        raise ChartFileError(f"{path}: malformed chart JSON ({type(e).__name__}: {e})") from e


def _note_from_dict(d: dict) -> Note:
    return Note(int(d["column"]), float(d["beat"]), float(d["time_s"]),
                d.get("end_beat"), d.get("end_time_s"))  # fmt: skip


def _read_simfile(path: Path) -> ChartSet:
    try:
        sim = simfile.open(str(path), strict=False)
    except Exception as e:  # simfile raises assorted parser errors on malformed files
        raise ChartFileError(f"{path}: unparseable simfile ({type(e).__name__}: {e})") from e
    timing = timing_from_file(path)
    charts = []
    for sm_chart in sim.charts:
        if (sm_chart.stepstype or "").strip() != "dance-single":
            continue
        engine = TimingEngine(TimingData(sim, sm_chart))
        heads: dict[int, SMNote] = {}
        notes = []
        for n in NoteData(sm_chart):
            t = float(engine.time_at(n.beat))
            if n.note_type in (NoteType.HOLD_HEAD, NoteType.ROLL_HEAD):
                heads[n.column] = n
            elif n.note_type == NoteType.TAIL and n.column in heads:
                h = heads.pop(n.column)
                notes.append(Note(n.column, float(h.beat), float(engine.time_at(h.beat)),
                                  float(n.beat), t))  # fmt: skip
            elif n.note_type in (NoteType.TAP, NoteType.LIFT):
                notes.append(Note(n.column, float(n.beat), t))
        notes.sort(key=lambda n: (n.beat, n.column))
        difficulty = (sm_chart.difficulty or "").strip().capitalize()
        meter = int(str(sm_chart.meter or "1").strip() or 1)
        charts.append(Chart(difficulty, meter, notes))
    return ChartSet(sim.title or "", sim.artist or "", sim.music or "", timing, charts)


def _read_osu(path: Path) -> ChartSet:
    try:
        beatmap = read_osu(path)
    except OsuError as e:
        raise ChartFileError(str(e)) from e
    timing = timing_from_file(path)
    shift = beatmap.offset_ms
    notes = []
    for h in beatmap.hit_objects:
        t = (h.time_ms + shift) / 1000.0
        beat = float(_beat_of(timing, t))
        if h.end_ms is None:
            notes.append(Note(h.column, beat, t))
        else:
            end = (h.end_ms + shift) / 1000.0
            notes.append(Note(h.column, beat, t, float(_beat_of(timing, end)), end))
    notes.sort(key=lambda n: (n.time_s, n.column))
    name = beatmap.version_name
    difficulty = name if name in DIFFICULTIES else name.capitalize()
    chart = Chart(difficulty, 0, notes)
    return ChartSet(beatmap.title, beatmap.sections.get("Metadata", {}).get("Artist", ""),
                    beatmap.audio_filename, timing, [chart], keys=beatmap.keys)  # fmt: skip


def _beat_of(timing: Timing, time_s: float) -> float:
    """The beat at a time, rounded to StepMania rows."""
    return round(timing.beat_at(time_s) * ROWS_PER_BEAT) / ROWS_PER_BEAT


def check_round_trip(chart_set: ChartSet, path: Path, tolerance_s: float = 0.001) -> float:
    """Read a written file back; the largest |file time − intended time| over all notes and
    hold ends. Raises if a note is missing or off by more than `tolerance_s`."""
    back = read_chart_file(path)
    worst = 0.0
    for chart in back.charts:
        want = chart_set.chart(chart.difficulty)
        if chart.n_notes != want.n_notes or chart.n_holds != want.n_holds:
            raise ChartFileError(f"{path}: {chart.difficulty} read back with different notes")
        a = sorted(want.notes, key=lambda n: (n.time_s, n.column))
        b = sorted(chart.notes, key=lambda n: (n.time_s, n.column))
        for x, y in zip(a, b, strict=True):
            errs = [abs(x.time_s - y.time_s)]
            if x.is_hold:
                errs.append(abs(x.end_time_s - y.end_time_s))
            worst = max(worst, *errs)
    if worst > tolerance_s:
        raise ChartFileError(f"{path}: a note is {worst * 1000:.2f} ms off its intended time")
    return worst


def note_array(chart: Chart) -> np.ndarray:
    """(N, 3) float: time_s, column, end_time_s (NaN for taps): for pictures and mixing."""
    return np.array(
        [(n.time_s, n.column, np.nan if n.end_time_s is None else n.end_time_s)
         for n in chart.notes], np.float64,
    ).reshape(-1, 3)  # fmt: skip
