"""`studio eval-charts`: onset accuracy of a model (and the baselines) on a folder of charts."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from genelive.audio import AudioError, load_audio
from genelive.difficulty import DIFFICULTIES, MAX_METER
from genelive.evaluation.metrics import TrueTempo, onset_report, tempo_report
from genelive.onsets.config import BASELINES
from genelive.onsets.model import OnsetModel
from genelive.snapping import DEFAULT_SUBDIVISIONS, snap_to_grid
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
        report["tempo"] = evaluate_tempo(songs, model_dir)
    if generated:
        report["generated"] = evaluate_generated(songs, model_dir)
    return report


def evaluate_generated(songs: list[Song], model_dir=None) -> dict:
    """Whole generated charts against the human ones, twice: on the chart's own tempo map
    (`timing_from` its file) and on the tempo estimated from the audio. Note rows are matched
    in time (as onsets), overall, per difficulty and per pack; then the chart's shape beside the
    human one's: notes, holds and meter per difficulty, and where the first and last notes sit."""
    from genelive.generator import ChartGenerator

    gen = ChartGenerator.load(model_dir)
    out = {}
    for timing in ("chart", "estimated"):
        results, by_pack, shape = [], defaultdict(list), ChartShapes()
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
                    result = (
                        c.difficulty,
                        c.onset_times_s,
                        np.unique([n.time_s for n in ours.notes]),
                    )
                    results.append(result)
                    by_pack[song.pack].append(result)
                    shape.add(
                        c, ours, gen.meter(c.difficulty, ours.notes, ours.duration_s, song.pack)
                    )
        report = onset_report(results)
        report.update(shape.report())
        report["per_pack"] = per_pack(by_pack, onset_report)
        out[f"{timing}_timing"] = report
    return out


class ChartShapes:
    """Generated charts beside the human ones, per difficulty: note and hold counts, meters,
    and the first and last note times."""

    def __init__(self):
        self.counts = {d: np.zeros(4) for d in DIFFICULTIES}  # notes, human notes, holds, human
        self.meter_errors: dict[str, list[float]] = defaultdict(list)
        self.pack_meter_errors: list[float] = []  # with the meter fit of the chart's own pack
        self.start_errors_s: list[float] = []
        self.end_errors_s: list[float] = []

    def add(self, human, ours, pack_meter: int | None = None) -> None:
        from genelive.steps.arrows import count_notes

        if human.steps is not None:
            notes, holds = count_notes(human.steps.states)
            self.counts[human.difficulty] += (ours.n_notes, notes, ours.n_holds, holds)
        if human.meter is not None and 0 < human.meter <= MAX_METER:
            self.meter_errors[human.difficulty].append(abs(ours.meter - human.meter))
            if pack_meter is not None:
                self.pack_meter_errors.append(abs(pack_meter - human.meter))
        if ours.notes and len(human.onset_times_s):
            times = [n.time_s for n in ours.notes]
            self.start_errors_s.append(min(times) - human.onset_times_s[0])
            self.end_errors_s.append(max(times) - human.onset_times_s[-1])

    def report(self) -> dict:
        def ratio(a: float, b: float) -> float:
            return round(a / b, 3) if b else 0.0

        used = {d: c for d, c in self.counts.items() if c[1]}
        meters = [e for errors in self.meter_errors.values() for e in errors]
        return {
            "notes_vs_human": {d: ratio(c[0], c[1]) for d, c in used.items()},
            "hold_share": {d: ratio(c[2], c[0]) for d, c in used.items()},
            "human_hold_share": {d: ratio(c[3], c[1]) for d, c in used.items()},
            "meter_mae": {
                **{d: round(float(np.mean(e)), 3) for d, e in self.meter_errors.items()},
                "all": round(float(np.mean(meters)), 3) if meters else 0.0,
            },
            "meter_mae_pack_fit": round(float(np.mean(self.pack_meter_errors)), 3)
            if self.pack_meter_errors
            else 0.0,
            # ours − human, s: the median and the median of the absolute value, over charts
            "first_note_s": _median_pair(self.start_errors_s),
            "last_note_s": _median_pair(self.end_errors_s),
        }


def _median_pair(errors_s: list[float]) -> dict:
    if not errors_s:
        return {}
    e = np.asarray(errors_s)
    return {
        "median": round(float(np.median(e)), 3),
        "median_abs": round(float(np.median(np.abs(e))), 3),
    }


def evaluate_tempo(songs: list[Song], model_dir=None) -> dict:
    """Tempo and beat phase estimated from the audio (the phase checked by the onset model, as
    `studio chart` does), against each song's charts."""
    from genelive.generator import ChartGenerator

    gen = ChartGenerator.load(model_dir)
    results, by_pack = [], defaultdict(list)
    for song in songs:
        try:
            estimate = gen.estimate_tempo(load_audio(song.audio_path))
        except (AudioError, ValueError) as e:
            log.warning("tempo of %s not estimated: %s", song.key, e)
            continue
        truth = TrueTempo.from_beat_times(song.charts[0].beats.times_s)
        results.append((truth, estimate.bpm, estimate.offset_s))
        by_pack[song.pack].append(results[-1])
    report = tempo_report(results)
    report["per_pack"] = per_pack(by_pack, tempo_report)
    return report


def _evaluate(model: OnsetModel, songs, cache_dir, snap: bool) -> dict:
    """Onset report over every chart, with one per pack."""
    pack_of = {s.key: s.pack for s in songs}
    results, by_pack = [], defaultdict(list)
    for song in load_song_data(songs, model.config, cache_dir):
        song_results = chart_results(model, [song], snap)
        results += song_results
        by_pack[pack_of[song.key]] += song_results
    log.info("%s: %d charts evaluated", model.folder, len(results))
    report = onset_report(results)
    report["per_pack"] = per_pack(by_pack, onset_report)
    return report


def per_pack(results_by_pack: dict[str, list], report) -> dict:
    """The same report on each pack's results, packs in name order."""
    return {pack: report(results) for pack, results in sorted(results_by_pack.items())}
