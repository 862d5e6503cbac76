"""StepMania's .sm and .ssc, through the `simfile` library: writing a chart set, and what reading
one needs (opening a file, its song-level tempo map, a chart's notes with their times).

The only module that talks to `simfile`; the corpus reader (training/corpus.py) and the chart
reader (reading.py) both come through here.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

from genelive.formats.notes import Chart, Note
from genelive.steps.arrows import N_COLUMNS
from genelive.timing import Timing, TimingError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # simfile's `fs` dependency warns about pkg_resources
    import simfile
    from simfile.notes import Note as SMNote
    from simfile.notes import NoteData, NoteType
    from simfile.sm import SMChart, SMSimfile
    from simfile.ssc import SSCChart, SSCSimfile
    from simfile.timing import Beat, TimingData
    from simfile.timing.engine import TimingEngine

__all__ = ["Beat", "NoteData", "NoteType", "TimingData", "TimingEngine"]

ROWS_PER_BEAT = 48  # StepMania's finest row: 192 per 4-beat measure
STEPS_TYPE = "dance-single"
_KINDS = {"sm": (SMSimfile, SMChart), "ssc": (SSCSimfile, SSCChart)}


# ---------------------------------------------------------------------------------- writing


def write_simfile(song, kind: str) -> str:
    """A chart set (genelive.formats.chartset.ChartSet) as .sm or .ssc text, every chart in it."""
    simfile_cls, chart_cls = _KINDS[kind]
    sim = simfile_cls.blank()
    sim.title, sim.artist, sim.music = song.title, song.artist, song.audio_filename
    sim.credit = song.credit()
    sim.offset = f"{song.timing.offset_s:.6f}"
    sim.bpms = ",".join(f"{_beat_str(b)}={bpm:.6f}" for b, bpm in song.timing.bpms)
    sim.stops = ",".join(f"{_beat_str(b)}={s:.6f}" for b, s in song.timing.stops)
    sim.samplestart = f"{max(0.0, song.charts[0].duration_s * 0.4) if song.charts else 0:.3f}"
    for chart in song.charts:
        out = chart_cls.blank()
        out.stepstype = STEPS_TYPE
        out.difficulty = chart.difficulty
        out.meter = str(chart.meter)
        seed = chart.seed if chart.seed is not None else song.stamp.get("seed", "")
        out.description = f"GenéLive seed {seed}".strip()
        if hasattr(out, "credit"):
            out.credit = song.credit()
        out.notes = (
            str(NoteData.from_notes(_sm_notes(chart.notes), N_COLUMNS))
            if chart.notes
            else "\n".join(["0" * N_COLUMNS] * 4)  # one empty measure
        )
        sim.charts.append(out)
    return song.comment("//") + str(sim)


def _beat_str(beat: float) -> str:
    return f"{beat:.6f}"


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


# ---------------------------------------------------------------------------------- reading


def open_simfile(path: str | Path, error: type[Exception] = ValueError):
    """The parsed simfile, or `error` saying why it cannot be parsed."""
    try:
        return simfile.open(str(path), strict=False)
    except Exception as e:  # simfile raises assorted parser errors on malformed files
        raise error(f"{path}: unparseable simfile ({type(e).__name__}: {e})") from e


def simfile_timing(path: str | Path) -> Timing:
    """The song-level tempo map of a .sm/.ssc; delays and warps are refused with the reason."""
    sim = open_simfile(path, TimingError)
    try:
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


def chart_of(sim, sm_chart) -> Chart:
    """One dance-single chart of a parsed simfile, its notes timed by the chart's own timing."""
    engine = TimingEngine(TimingData(sim, sm_chart))
    heads: dict[int, SMNote] = {}
    notes = []
    for n in NoteData(sm_chart):
        t = float(engine.time_at(n.beat))
        if n.note_type in (NoteType.HOLD_HEAD, NoteType.ROLL_HEAD):
            heads[n.column] = n
        elif n.note_type == NoteType.TAIL and n.column in heads:
            h = heads.pop(n.column)
            notes.append(
                Note(n.column, float(h.beat), float(engine.time_at(h.beat)), float(n.beat), t)
            )
        elif n.note_type in (NoteType.TAP, NoteType.LIFT):
            notes.append(Note(n.column, float(n.beat), t))
    notes.sort(key=lambda n: (n.beat, n.column))
    difficulty = (sm_chart.difficulty or "").strip().capitalize()
    meter = int(str(sm_chart.meter or "1").strip() or 1)
    return Chart(difficulty, meter, notes)


def is_dance_single(sm_chart) -> bool:
    return (sm_chart.stepstype or "").strip() == STEPS_TYPE
