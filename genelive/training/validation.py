"""Choosing on the validation songs: an onset model's activations on every chart, the decoding
(threshold and minimum gap per difficulty) that scores best, and choosing it again for a
trained model folder (`studio tune-decoding`); a step model's hold bias."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from export.atomic import write_json_atomic
from export.folder import CONFIG_FILE, config_to_dict
from genelive.difficulty import DIFFICULTIES
from genelive.evaluation.metrics import onset_report
from genelive.onsets.model import OnsetModel
from genelive.onsets.peaks import onset_times, tune_decoding
from genelive.steps.arrows import count_notes
from genelive.steps.model import StepModel
from genelive.training.corpus import Song, scan_charts
from genelive.training.data import (
    DEFAULT_CACHE,
    TRAINING_FILE,
    SongData,
    load_song_data,
    model_split,
)

# The sampler runs row by row (a few ms a row on 2 cores): the hold bias is fitted on this many
# charts per difficulty (spread over the songs), their middle rows, bisected to 1/32 of the range.
HOLD_FIT_CHARTS = 12
HOLD_FIT_ROWS = 200
HOLD_BIAS_RANGE = (-3.0, 5.0)  # logits

log = logging.getLogger(__name__)


@torch.no_grad()
def predict_charts(net, songs: Sequence[SongData]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(difficulty, activation (T,), reference onset times) for every chart; conv once a song."""
    net.eval()
    out = []
    for song in songs:
        encoded = net.encode(torch.from_numpy(song.features)[None])  # (1, T, C)
        beats = torch.from_numpy(np.stack([c.beats for c in song.charts]))
        levels = torch.tensor([c.value for c in song.charts])
        probs = torch.sigmoid(net.decode(encoded.expand(len(song.charts), -1, -1), beats, levels))
        for chart, p in zip(song.charts, probs.numpy(), strict=True):
            out.append((chart.difficulty, p, chart.onset_times_s))
    return out


def librosa_charts(songs: Sequence[SongData]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(c.difficulty, s.features, c.onset_times_s) for s in songs for c in s.charts]


def validate(config, items, fps: float) -> tuple[object, dict]:
    """Choose the decoding on these charts; report P/R/F with it."""
    decoding, _ = tune_decoding(items, fps)
    config = dataclasses.replace(config, decoding=decoding)
    estimates = []
    for difficulty, probs, ref in items:
        i = DIFFICULTIES.index(difficulty)
        est = onset_times(probs, fps, decoding.thresholds[i], decoding.min_gap_frames[i])
        estimates.append((difficulty, ref, est))
    return config, onset_report(estimates)


def retune_decoding(
    data_dir: str | Path, model_dir: str | Path, cache_dir: Path | None = DEFAULT_CACHE
) -> dict:
    """Choose a model folder's decoding again on its validation songs (all songs if none).

    Rewrites config.json (weights untouched) and returns the validation report.
    """
    model = OnsetModel.load(model_dir)
    songs = scan_charts(data_dir)
    split = model_split(model.folder)
    if split is not None:
        songs = [s for s in songs if s.key in set(split["validation"])]
    if not songs:
        raise ValueError(f"{data_dir}: none of the model's validation songs are here")
    data = load_song_data(songs, model.config, cache_dir)
    net = model.backend.module if model.backend is not None else None
    items = predict_charts(net, data) if net is not None else librosa_charts(data)
    tuned, report = validate(model.config, items, model.fps)
    write_json_atomic(model.folder / CONFIG_FILE, config_to_dict(tuned))
    training = model.folder / TRAINING_FILE
    if training.is_file():
        info = json.loads(training.read_text())
        info.update(validation=report, decoding_retuned_on=[s.key for s in songs])
        write_json_atomic(training, info)
    return report


def fit_hold_bias(
    step_model: StepModel, songs: Sequence[Song], onset_model_dir: Path | None = None
) -> dict[str, float]:
    """Per difficulty, the bias on hold heads' logits with which charts sampled on the rows the
    generator places (the onset model's, on each chart's own tempo map) hold as large a share
    of their notes as the human charts do. On the human charts' rows the network alone comes
    close; on generated rows, which fall elsewhere and never end a hold alone, it holds less."""
    from genelive.generator import ChartGenerator

    by_difficulty: dict[str, list] = {}
    for song in songs:
        for chart in song.charts:
            if chart.steps is not None and len(chart.steps) > 1:
                by_difficulty.setdefault(chart.difficulty, []).append((song, chart))
    chosen = [  # spread over the songs
        pair
        for pairs in by_difficulty.values()
        for pair in pairs[:: max(1, len(pairs) // HOLD_FIT_CHARTS)][:HOLD_FIT_CHARTS]
    ]
    generator = ChartGenerator(OnsetModel.load(onset_model_dir), step_model)
    rows: dict[str, list] = {}  # difficulty → (times_s, beats, mel) per chart
    human = {d: np.zeros(2) for d in by_difficulty}  # notes, holds
    for chart, (times_s, beats, mel) in _generated_rows(generator, chosen):
        middle = max(0, (len(times_s) - HOLD_FIT_ROWS) // 2)
        part = slice(middle, middle + HOLD_FIT_ROWS)
        rows.setdefault(chart.difficulty, []).append((times_s[part], beats[part], mel))
        human[chart.difficulty] += count_notes(chart.steps.states)
    bias = {}
    for difficulty, charts in sorted(rows.items()):
        notes, holds = human[difficulty]
        if not notes:
            continue
        lo, hi = HOLD_BIAS_RANGE
        for _ in range(5):
            mid = (lo + hi) / 2
            below = _sampled_hold_share(step_model, charts, difficulty, mid) < holds / notes
            lo, hi = (mid, hi) if below else (lo, mid)
        bias[difficulty] = round((lo + hi) / 2, 3)
    return bias


def _generated_rows(generator, charts: list):
    """(chart, (times_s, beats, song mel)) of the rows the generator places for each chart."""
    by_file: dict[tuple, list] = {}
    for song, chart in charts:
        by_file.setdefault((song.audio_path, chart.source), []).append(chart)
    for (audio_path, source), file_charts in by_file.items():
        levels = list(dict.fromkeys(c.difficulty for c in file_charts))
        try:
            song = generator.analyse(audio_path, levels, timing_from=source)
        except ValueError as e:  # delays/warps: no tempo map we can write
            log.warning("%s: left out of the hold fit (%s)", source, e)
            continue
        grid, first_beat = song.timing.beat_grid(song.duration_s)
        for chart in file_charts:
            probs = song.probs[chart.difficulty]
            times_s, beats = generator.note_rows(
                probs, song.fps, chart.difficulty, grid, first_beat, song.duration_s, None
            )
            yield chart, (times_s, beats, song.mel)


def _sampled_hold_share(model: StepModel, rows: list, difficulty: str, bias: float) -> float:
    """Holds / notes of charts sampled on the rows (seeded by their index)."""
    counts = [
        count_notes(model.sample(times_s, beats, difficulty, mel, seed=i, hold_bias=bias))
        for i, (times_s, beats, mel) in enumerate(rows)
    ]
    notes, holds = np.sum(counts, axis=0)
    return holds / max(notes, 1)
