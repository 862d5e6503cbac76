"""`studio eval-charts`: onset accuracy of a model (and the baselines) on a folder of charts."""

from __future__ import annotations

import logging
from pathlib import Path

from genelive.audio import AudioError, load_audio
from genelive.charts import Song, scan_charts
from genelive.data import DEFAULT_CACHE, SongData, load_song_data, model_split
from genelive.evaluate import TrueTempo, onset_report, tempo_report
from genelive.pipeline import BASELINES, OnsetModel
from genelive.snapping import DEFAULT_SUBDIVISIONS, snap_to_grid
from genelive.tempo import estimate_tempo

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
) -> dict:
    model = OnsetModel.load(model_dir)
    songs = scan_charts(data_dir)
    if split != "all":
        recorded = model_split(model.folder)
        if recorded is None:
            raise ValueError(f"{model.folder}: no training.json split; use --split all")
        keep = set(recorded[split])
        songs = [s for s in songs if s.key in keep]
        if not songs:
            raise ValueError(
                f"{data_dir}: none of the model's {split} songs are here "
                "(song keys are audio paths relative to the training data folder)"
            )
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
    return report


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
