"""Choosing on the validation songs: an onset model's activations on every chart, the decoding
(threshold and minimum gap per difficulty) that scores best, and choosing it again for a
trained model folder (`studio tune-decoding`)."""

from __future__ import annotations

import dataclasses
import json
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
from genelive.training.corpus import scan_charts
from genelive.training.data import (
    DEFAULT_CACHE,
    TRAINING_FILE,
    SongData,
    load_song_data,
    model_split,
)


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
