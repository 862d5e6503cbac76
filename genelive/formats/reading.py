"""Any chart file back as a ChartSet, and a chart file's tempo map (`--timing-from`): the readers
of every format module, dispatched by suffix."""

from __future__ import annotations

from pathlib import Path

from genelive.difficulty import DIFFICULTIES
from genelive.formats import json_chart, stepmania
from genelive.formats.chartset import ChartSet
from genelive.formats.notes import Chart, ChartFileError, Note
from genelive.formats.osu import OsuError, read_osu
from genelive.timing import Timing, TimingError


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
    fields = json_chart.read_json(path)
    try:
        return ChartSet(**fields)
    except ValueError as e:  # a title that is not text, ...
        raise ChartFileError(f"{path}: malformed chart JSON ({type(e).__name__}: {e})") from e


def timing_from_file(path: str | Path) -> Timing:
    """The tempo map of an existing .sm/.ssc (song-level timing), .osu or our .json chart."""
    path = Path(path)
    if not path.is_file():
        raise TimingError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".osu":
        try:
            return read_osu(path).timing()
        except OsuError as e:
            raise TimingError(str(e)) from e
    if suffix in (".sm", ".ssc"):
        return stepmania.simfile_timing(path)
    if suffix == ".json":
        return read_json_chart(path).timing
    raise TimingError(f"{path}: timing can be read from .sm, .ssc, .osu or .json, not {suffix}")


def _read_simfile(path: Path) -> ChartSet:
    sim = stepmania.open_simfile(path, ChartFileError)
    timing = stepmania.simfile_timing(path)
    charts = [stepmania.chart_of(sim, c) for c in sim.charts if stepmania.is_dance_single(c)]
    return ChartSet(sim.title or "", sim.artist or "", sim.music or "", timing, charts)


def _read_osu(path: Path) -> ChartSet:
    try:
        beatmap = read_osu(path)
        timing = beatmap.timing()
    except OsuError as e:
        raise ChartFileError(f"{path}: {e}") from e
    notes = []
    for column, t, end in beatmap.notes_s():
        beat = float(_beat_of(timing, t))
        if end is None:
            notes.append(Note(column, beat, t))
        else:
            notes.append(Note(column, beat, t, float(_beat_of(timing, end)), end))
    notes.sort(key=lambda n: (n.time_s, n.column))
    name = beatmap.version_name
    difficulty = name if name in DIFFICULTIES else name.capitalize()
    chart = Chart(difficulty, 0, notes)
    return ChartSet(
        beatmap.title,
        beatmap.sections.get("Metadata", {}).get("Artist", ""),
        beatmap.audio_filename,
        timing,
        [chart],
        keys=beatmap.keys,
    )


def _beat_of(timing: Timing, time_s: float) -> float:
    """The beat at a time, rounded to StepMania rows."""
    return round(timing.beat_at(time_s) * stepmania.ROWS_PER_BEAT) / stepmania.ROWS_PER_BEAT


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
