"""Training and evaluation data: songs as cached model features plus per-chart targets."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genelive.audio import AudioError, load_audio
from genelive.difficulty import DIFFICULTIES, DIFFICULTY_VALUES
from genelive.features import time_to_frame
from genelive.onsets.model import frame_rate, frontend, frontend_id
from genelive.timing import BeatGrid
from genelive.training.corpus import Song

log = logging.getLogger(__name__)

TRAINING_FILE = "training.json"  # beside a trained model: split, recipe, metrics
DEFAULT_CACHE = Path.home() / ".cache" / "genelive-studio" / "features"


@dataclass
class ChartTarget:
    difficulty: str
    value: float  # GenéLive's condition scalar, 10..50
    onset_times_s: np.ndarray
    onset_frames: np.ndarray  # (N,) int, inside the song
    beats: np.ndarray  # (T,) beat guide from the chart's tempo map
    grid: BeatGrid


@dataclass
class SongData:
    key: str
    group: str
    features: np.ndarray  # (T, ...) float32
    charts: list[ChartTarget]

    @property
    def n_frames(self) -> int:
        return len(self.features)


def load_song_data(
    songs: Sequence[Song], config, cache_dir: Path | None = DEFAULT_CACHE
) -> list[SongData]:
    """Features (cached by audio content and front end) and targets for every song."""
    fps = frame_rate(config)
    downbeat_value = getattr(config, "downbeat_value", 1.0)
    out = []
    for i, song in enumerate(songs):
        try:
            features = cached_features(song.audio_path, config, cache_dir)
        except AudioError as e:
            log.warning("skipping %s: %s", song.key, e)
            continue
        n = len(features)
        charts = []
        for chart in song.charts:
            frames = time_to_frame(chart.onset_times_s, fps)
            charts.append(
                ChartTarget(
                    chart.difficulty,
                    float(DIFFICULTY_VALUES[DIFFICULTIES.index(chart.difficulty)]),
                    chart.onset_times_s,
                    np.unique(frames[(frames >= 0) & (frames < n)]),
                    chart.beats.guide(n, downbeat_value, fps),
                    chart.beats,
                )
            )
        out.append(SongData(song.key, song.group, features, charts))
        log.info("features %d/%d: %s (%d frames)", i + 1, len(songs), song.key, n)
    return out


def cached_features(audio_path: Path, config, cache_dir: Path | None) -> np.ndarray:
    if cache_dir is None:
        return frontend(config, load_audio(audio_path))
    digest = hashlib.sha1(Path(audio_path).read_bytes()).hexdigest()[:20]
    path = Path(cache_dir) / frontend_id(config) / f"{digest}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            log.warning("feature cache entry %s unreadable; recomputing", path)
    features = frontend(config, load_audio(audio_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{digest}.tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)
    return features


SPLIT_SIDES = ("train", "validation", "test")


def split_by_group(
    songs: Sequence[Song],
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Song keys for train, validation and test; all versions of one song (a group) land on one
    side, and each pack is split in the same proportions so every side has every pack."""
    by_pack: dict[str, dict[str, list[str]]] = {}
    for song in songs:  # a group that spans packs belongs to the pack it is first seen in
        pack = next((p for p, g in by_pack.items() if song.group in g), song.pack)
        by_pack.setdefault(pack, {}).setdefault(song.group, []).append(song.key)
    split: dict[str, list[str]] = {side: [] for side in SPLIT_SIDES}
    rng = np.random.default_rng(seed)
    for pack in sorted(by_pack):
        groups = by_pack[pack]
        names = sorted(groups)
        n_songs = sum(len(keys) for keys in groups.values())
        split_of: dict[str, list[str]] = {side: [] for side in SPLIT_SIDES}
        # A pack too small for the fraction still validates on one group: training needs it.
        fewest = 1 if validation_fraction > 0 and len(names) > 1 else 0
        wanted = {
            "test": round(test_fraction * n_songs),
            "validation": max(fewest, round(validation_fraction * n_songs)),
        }
        for i in rng.permutation(len(names)):
            side = next((s for s in wanted if len(split_of[s]) < wanted[s]), "train")
            split_of[side].extend(groups[names[i]])
        for side in SPLIT_SIDES:
            split[side].extend(split_of[side])
    return {side: sorted(keys) for side, keys in split.items()}


def model_split(model_dir: Path) -> dict[str, list[str]] | None:
    """The train/validation(/test) song keys a model folder records (training.json), if any."""
    path = Path(model_dir) / TRAINING_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("split")


def songs_in_split(songs: Sequence[Song], model_dir: Path, side: str) -> list[Song]:
    """The songs on one side ("train" / "validation" / "test") of a model folder's split."""
    recorded = model_split(model_dir)
    if recorded is None:
        raise ValueError(f"{model_dir}: records no train/validation split (training.json)")
    if side not in recorded:
        raise ValueError(
            f"{model_dir}: its split has no {side} songs (sides: {', '.join(recorded)})"
        )
    keep = set(recorded[side])
    chosen = [s for s in songs if s.key in keep]
    if not chosen:
        raise ValueError(
            f"none of {model_dir}'s {side} songs are here "
            "(song keys are audio paths relative to the training data folder)"
        )
    return chosen
