"""`studio eval-charts`: onset accuracy of a model (and the baselines) on a folder of charts."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from genelive.audio import AudioError, load_audio
from genelive.difficulty import DIFFICULTIES
from genelive.evaluation.metrics import TrueTempo, onset_report, tempo_report
from genelive.onsets.config import BASELINES
from genelive.onsets.model import OnsetModel
from genelive.snapping import DEFAULT_SUBDIVISIONS, snap_to_grid
from genelive.tempo import estimate_tempo
from genelive.training.corpus import Song, scan_charts
from genelive.training.data import DEFAULT_CACHE, SongData, load_song_data, songs_in_split

log = logging.getLogger(__name__)


def chart_results(model: OnsetModel, songs: list[SongData], snap: bool = False) -> list[tuple]:
    """(difficulty, reference times, estimated times) for every chart; with `snap`, estimates
    are moved to the chart's beat grid at the difficulty's default subdivisions."""
    results = []
    for song in songs:
        # Charts of a song share their tempo map nearly always: one network run per map.
        by_grid: dict[bytes, list] = {}
        for chart in song.charts:
            by_grid.setdefault(chart.grid.key(), []).append(chart)
        for charts in by_grid.values():
            levels = tuple(dict.fromkeys(c.difficulty for c in charts))
            act = model.activations(song.features, charts[0].grid, levels)
            estimated = model.onsets(act)
            for c in charts:
                times = estimated[c.difficulty]
                if snap:
                    times = snap_to_grid(times, c.grid, DEFAULT_SUBDIVISIONS[c.difficulty])[0]
                results.append((c.difficulty, c.onset_times_s, times))
    return results


def eval_charts(
    data_dir: str | Path,
    model_dir: str | Path | None = None,
    split: str = "all",
    baselines: bool = True,
    cache_dir: Path | None = DEFAULT_CACHE,
    tempo: bool = True,
    snap: bool = False,
    generated: bool = False,
) -> dict:
    model = OnsetModel.load(model_dir)
    songs = scan_charts(data_dir)
    if split != "all":
        songs = songs_in_split(songs, model.folder, split)
    report = {
        "songs": len(songs),
        "charts": sum(len(s.charts) for s in songs),
        "model": model.describe(),
        "split": split,
        "snapped_to_beats": snap,
    }
    report["onset"] = _evaluate(model, songs, cache_dir, snap)
    if baselines:
        report["baselines"] = {
            name: _evaluate(OnsetModel.load(folder), songs, cache_dir, snap)
            for name, folder in BASELINES.items()
        }
    if tempo:
        report["tempo"] = evaluate_tempo(songs)
    if generated:
        report["generated"] = evaluate_generated(songs, model_dir)
    return report


def evaluate_generated(songs: list[Song], model_dir=None) -> dict:
    """Whole generated charts against the human ones: note rows matched in time (as onsets),
    and the note count relative to the human chart's. Twice: on the chart's own tempo map
    (`timing_from` its file) and on the tempo estimated from the audio."""
    from genelive.generator import ChartGenerator
    from genelive.steps.arrows import count_notes

    gen = ChartGenerator.load(model_dir)
    out = {}
    for timing in ("chart", "estimated"):
        results, notes = [], {d: [0, 0] for d in DIFFICULTIES}
        for song in songs:
            by_file: dict[Path, list] = {}
            for chart in song.charts:
                by_file.setdefault(chart.source, []).append(chart)
            for source, charts in by_file.items():
                levels = list(dict.fromkeys(c.difficulty for c in charts))
                try:
                    made = gen(
                        song.audio_path,
                        levels,
                        seed=0,
                        timing_from=source if timing == "chart" else None,
                    )
                except ValueError as e:  # delays/warps, no tempo estimate, ...
                    log.warning("%s: not generated (%s)", source, e)
                    continue
                for c in charts:
                    ours = made.chart(c.difficulty)
                    results.append(
                        (c.difficulty, c.onset_times_s, np.unique([n.time_s for n in ours.notes]))
                    )
                    notes[c.difficulty][0] += ours.n_notes
                    notes[c.difficulty][1] += count_notes(c.steps.states)[0] if c.steps else 0
        report = onset_report(results)
        report["notes_vs_human"] = {d: round(n / h, 3) for d, (n, h) in notes.items() if h}
        out[f"{timing}_timing"] = report
    return out


def evaluate_tempo(songs: list[Song]) -> dict:
    """Tempo and beat phase estimated from the audio alone, against each song's charts."""
    results = []
    for song in songs:
        try:
            estimate = estimate_tempo(load_audio(song.audio_path))
        except (AudioError, ValueError) as e:
            log.warning("tempo of %s not estimated: %s", song.key, e)
            continue
        truth = TrueTempo.from_beat_times(song.charts[0].beats.times_s)
        results.append((truth, estimate.bpm, estimate.offset_s))
    return tempo_report(results)


def _evaluate(model: OnsetModel, songs, cache_dir, snap: bool) -> dict:
    data = load_song_data(songs, model.config, cache_dir)
    results = chart_results(model, data, snap)
    log.info("%s: %d charts evaluated", model.folder, len(results))
    return onset_report(results)
