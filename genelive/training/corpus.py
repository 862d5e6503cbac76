"""Reading a folder tree of charts with their audio: StepMania .sm/.ssc and osu!mania .osu.

Each chart becomes its onset times (seconds, note rows that a player hits) and the quarter-note
beat times of its tempo map (stops, delays and warps included, through simfile's timing engine).
A malformed file or chart is skipped with a logged reason; it never stops a run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genelive.audio import AUDIO_SUFFIXES, AudioError, probe_audio
from genelive.difficulty import DIFFICULTIES
from genelive.formats.osu import OsuError, read_osu
from genelive.formats.stepmania import (
    Beat,
    NoteData,
    NoteType,
    TimingData,
    TimingEngine,
    is_dance_single,
    open_simfile,
)
from genelive.steps.arrows import HEAD, N_COLUMNS, TAIL, TAP, StepRows, rows_from_events
from genelive.timing import BeatGrid

log = logging.getLogger(__name__)

CHART_SUFFIXES = (".sm", ".ssc", ".osu")
# Notes a player hits at their time; tails, mines, fakes and keysounds are not onsets.
ONSET_NOTE_TYPES = {NoteType.TAP, NoteType.HOLD_HEAD, NoteType.ROLL_HEAD, NoteType.LIFT}
# Note types as steps (rolls are holds, lifts are taps); the rest are not steps.
STEP_VALUES = {
    NoteType.TAP: TAP,
    NoteType.LIFT: TAP,
    NoteType.HOLD_HEAD: HEAD,
    NoteType.ROLL_HEAD: HEAD,
    NoteType.TAIL: TAIL,
}
# osu! difficulty names → StepMania's; anything else is placed by note density.
_OSU_NAMES = [
    ("Beginner", ("beginner", "novice")),
    ("Easy", ("easy", "basic")),
    ("Medium", ("normal", "medium", "advanced")),
    ("Hard", ("hard", "hyper")),
    ("Challenge", ("insane", "expert", "extra", "challenge", "another", "maximum", "extreme")),
]
_OSU_NPS_LIMITS = (1.5, 2.5, 4.0, 6.0)  # notes per second separating Beginner..Challenge


@dataclass
class CorpusChart:
    """One human chart of the corpus, as training and evaluation read it."""

    difficulty: str  # StepMania name, Beginner..Challenge (Edit counts as Challenge)
    meter: int | None
    source: Path
    name: str  # the file's own difficulty name / description
    onset_times_s: np.ndarray  # (N,) sorted, unique
    beats: BeatGrid  # quarter-note beats of the chart's tempo map
    steps: StepRows | None = None  # arrows per row (4-panel charts), for step selection


@dataclass
class Song:
    key: str  # audio path relative to the data folder: identifies the song
    title: str
    audio_path: Path
    duration_s: float
    charts: list[CorpusChart] = field(default_factory=list)
    pack: str = ""  # the first folder under the data folder (charts, itg, hodobox)
    manifest_group: str | None = None  # the pack manifest's `group`, where it names one

    @property
    def group(self) -> str:
        """Versions of one song (remixes, re-charts) share a group and so a split."""
        return title_group(self.manifest_group or self.title)


def title_group(title: str) -> str:
    t = unicodedata.normalize("NFKC", title).lower()
    t = re.sub(r"[\(\[\{].*?[\)\]\}]", " ", t)  # drop "(nanobii Remix)", "[Thumbsy]"
    return re.sub(r"[\W_]+", " ", t).strip() or title.strip().lower()


def scan_charts(data_dir: str | Path) -> list[Song]:
    """Every chart with audio under `data_dir` (recursively), grouped by audio file."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such folder")
    songs: dict[Path, Song] = {}
    for path in _chart_files(data_dir):
        try:
            title, audio_path, charts = _read_chart_file(path)
            # Absolute but not resolved: a song folder linked into the tree keeps its key there.
            audio_path = Path(os.path.abspath(audio_path))
            if audio_path not in songs:
                info = probe_audio(audio_path)
                key = str(audio_path.relative_to(os.path.abspath(data_dir)))
                songs[audio_path] = Song(key, title, audio_path, info.duration_s)
        except (AudioError, OsuError, ValueError, KeyError, OSError) as e:
            log.warning("skipping %s: %s", path, e)
            continue
        song = songs[audio_path]
        for chart in charts:
            if any(_same_chart(chart, c) for c in song.charts):
                log.info("skipping %s %s: duplicate of a chart already read", path, chart.name)
                continue
            song.charts.append(chart)
    # Manifests sit in a pack folder, beside its song folders: read only those, each once.
    groups = read_pack_manifests({s.audio_path.parent.parent for s in songs.values()})
    for song in songs.values():
        song.pack = _pack_name(data_dir, song.key)
        folder = song.audio_path.parent
        song.manifest_group = groups.get((str(folder.parent), folder.name))
    return sorted((s for s in songs.values() if s.charts), key=lambda s: s.key)


MANIFEST_FILE = "manifest.json"


def _pack_name(data_dir: Path, key: str) -> str:
    """The first folder of the song's key; songs straight in the data folder take its name."""
    parts = Path(key).parts
    return parts[0] if len(parts) > 2 else os.path.basename(os.path.abspath(data_dir))


def read_pack_manifests(pack_folders: Iterable[Path]) -> dict[tuple[str, str], str]:
    """(pack folder, song folder name) → group, from each pack folder's manifest.json.

    A manifest only names groups; it is never used to open a path. One that is not a list of
    rows with a plain folder name in `song` (no separators, not `.` or `..`) is ignored whole,
    with a logged reason: half a manifest would silently split versions of one song."""
    groups: dict[tuple[str, str], str] = {}
    for folder in sorted(pack_folders):
        path = folder / MANIFEST_FILE
        if not path.is_file():
            continue
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            found = dict(_manifest_groups(rows))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            log.warning("ignoring %s: %s", path, e)
            continue
        groups.update({(str(folder), song): group for song, group in found.items()})
    return groups


def _manifest_groups(rows) -> Iterable[tuple[str, str]]:
    if not isinstance(rows, list):
        raise ValueError("not a list of songs")
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("song"), str):
            raise ValueError("a row without a `song` name")
        song, group = row["song"], row.get("group")
        if not song.strip() or song in (".", "..") or "/" in song or "\\" in song:
            raise ValueError(f"song {song!r} is not a folder name")
        if group is not None and not isinstance(group, str):
            raise ValueError(f"group of {song!r} is not text")
        if group and group.strip():
            yield song, group


def _chart_files(data_dir: Path) -> Iterable[Path]:
    files = sorted(p for p in _walk(data_dir) if p.suffix.lower() in CHART_SUFFIXES)
    present = set(files)
    for p in files:
        # StepMania reads X.ssc instead of X.sm when both exist; so do we.
        if p.suffix.lower() == ".sm" and p.with_suffix(".ssc") in present:
            continue
        yield p


def _walk(root: Path) -> Iterable[Path]:
    """Every file under `root`, following linked folders (a catalogue is often assembled from
    links), each real folder once so that a link cycle cannot loop."""
    seen = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        yield from (Path(folder) / name for name in names)


def _same_chart(a: CorpusChart, b: CorpusChart) -> bool:
    return a.difficulty == b.difficulty and np.array_equal(a.onset_times_s, b.onset_times_s)


def _read_chart_file(path: Path) -> tuple[str, Path, list[CorpusChart]]:
    if path.suffix.lower() == ".osu":
        return _read_osu_charts(path)
    return _read_simfile_charts(path)


def find_audio(folder: Path, named: str) -> Path:
    """The file a chart names, else the folder's only audio file."""
    if named and (folder / named).is_file():
        return folder / named
    candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if len(candidates) == 1:
        return candidates[0]
    raise AudioError(f"audio {named!r} not found next to the chart ({len(candidates)} candidates)")


def _read_simfile_charts(path: Path) -> tuple[str, Path, list[CorpusChart]]:
    sim = open_simfile(path)
    audio = find_audio(path.parent, (sim.music or "").strip())
    charts = []
    other_types = []
    for chart in sim.charts:
        if not is_dance_single(chart):
            other_types.append((chart.stepstype or "?").strip())
            continue
        name = (chart.difficulty or "").strip()
        try:
            charts.append(_simfile_chart(sim, chart, path))
        except Exception as e:  # one malformed chart never stops the others
            log.warning("skipping %s [%s]: %s", path, name, e)
    if len(other_types) == len(sim.charts):  # nothing of ours to read (or no charts at all)
        found = f"only {', '.join(sorted(set(other_types)))}" if other_types else "none at all"
        raise ValueError(f"no dance-single charts ({found})")
    return (sim.title or path.stem).strip(), audio, charts


def _simfile_chart(sim, chart, path: Path) -> CorpusChart:
    name = (chart.difficulty or "").strip()
    difficulty = "Challenge" if name.lower() == "edit" else name.capitalize()
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {name!r}")
    engine = TimingEngine(TimingData(sim, chart))
    notes = list(NoteData(chart))
    beats = sorted({n.beat for n in notes if n.note_type in ONSET_NOTE_TYPES})
    times = [float(engine.time_at(b)) for b in beats if engine.hittable(b)]
    if not times:
        raise ValueError("no notes")
    onset_times = np.unique(np.round(np.array(times), 6))
    try:
        meter = int(str(chart.meter).strip())
    except ValueError:
        meter = None
    steps = rows_from_events(
        (float(engine.time_at(n.beat)), float(n.beat), n.column, STEP_VALUES[n.note_type])
        for n in notes
        if n.note_type in STEP_VALUES and n.column < N_COLUMNS and engine.hittable(n.beat)
    )
    grid = _simfile_beats(engine, onset_times)
    return CorpusChart(difficulty, meter, path, name, onset_times, grid, steps)


def _simfile_beats(engine: TimingEngine, onset_times: np.ndarray) -> BeatGrid:
    """Integer beats from the audio's start to past the last note; measures of 4 beats from
    beat 0, as StepMania draws them (.ssc time signatures are not read)."""
    end_s = float(onset_times[-1]) + 30.0
    beats = {}
    k = 0
    while (t := float(engine.time_at(Beat(k)))) >= 0 and k > -10_000:
        beats[k] = t
        k -= 1
    k = 1
    while (t := float(engine.time_at(Beat(k)))) <= end_s and k < 100_000:
        beats[k] = t
        k += 1
    ks = np.array(sorted(beats))
    return BeatGrid(np.array([beats[i] for i in ks], dtype=np.float64), ks % 4 == 0)


def _read_osu_charts(path: Path) -> tuple[str, Path, list[CorpusChart]]:
    beatmap = read_osu(path)
    audio = find_audio(path.parent, beatmap.audio_filename)
    onsets = beatmap.onset_times_s()
    if onsets.size == 0:
        raise OsuError(f"{path.name}: no hit objects")
    beats = beatmap.beat_grid(float(onsets[-1]) + 30.0)
    difficulty = osu_difficulty(beatmap.version_name, onsets)
    steps = None
    if beatmap.keys == N_COLUMNS:
        events = []
        for column, t, end in beatmap.notes_s():
            events.append((t, np.nan, column, TAP if end is None else HEAD))
            if end is not None:
                events.append((end, np.nan, column, TAIL))
        steps = rows_from_events(events)
    chart = CorpusChart(difficulty, None, path, beatmap.version_name, onsets, beats, steps)
    return beatmap.title or path.stem, audio, [chart]


def osu_difficulty(version_name: str, onset_times_s: np.ndarray) -> str:
    name = version_name.lower()
    for difficulty, words in reversed(_OSU_NAMES):  # "Hard" must not win over "Insane Hard"…
        if any(w in name for w in words):
            return difficulty
    span = max(float(onset_times_s[-1] - onset_times_s[0]), 1.0)
    nps = len(onset_times_s) / span
    return DIFFICULTIES[int(np.searchsorted(_OSU_NPS_LIMITS, nps))]
