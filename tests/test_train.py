"""Training: labels, schedule, batches, augmentation fixes, and a tiny real run that resumes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from genelive.onsets.model import OnsetModel
from genelive.training.augment import Augment, augment_beats, augment_features, stretch_frames
from genelive.training.corpus import scan_charts
from genelive.training.data import load_song_data
from genelive.training.onsets import (
    STATE_FILE,
    TrainConfig,
    fuzzy_targets,
    learning_rate,
    sample_batch,
    train,
)
from tests.helpers import TINY, click_track, quarter_measures, sm_text, write_audio


def make_corpus(root, n_songs=3, seconds=14.0):
    """Click-track songs at different tempi, each with a Beginner and a Hard chart on beats."""
    for i in range(n_songs):
        bpm = 100 + 20 * i
        folder = root / f"song{i}"
        audio, _ = click_track(bpm, seconds, first_beat_s=0.5)
        write_audio(folder / "audio.ogg", audio, format="OGG", subtype="VORBIS")
        n_measures = int((seconds - 1) * bpm / 240)
        charts = {
            "Beginner": ["1000\n0000\n0000\n0000"] * n_measures,
            "Hard": quarter_measures(n_measures, "0100"),
        }
        (folder / "c.sm").write_text(sm_text(f"Song {i}", bpm, -0.5, charts))
    return root


def test_fuzzy_targets_follow_klab_kernel():
    t = fuzzy_targets([torch.tensor([5]), torch.tensor([0, 2])], 12)
    np.testing.assert_allclose(
        t[0, :11].numpy(), [0, 0.01, 0.04, 0.10, 0.17, 1, 0.17, 0.10, 0.04, 0.01, 0], atol=1e-6
    )
    np.testing.assert_allclose(t[1, :4].numpy(), [1, 0.17, 1, 0.17], atol=1e-6)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    tc = TrainConfig(steps=1000, warmup_steps=100, lr=1e-3, final_lr=1e-6)
    assert learning_rate(0, tc) == pytest.approx(1e-5)
    assert learning_rate(99, tc) == pytest.approx(1e-3)
    assert learning_rate(550, tc) == pytest.approx((1e-3 + 1e-6) / 2, rel=1e-3)
    assert learning_rate(999, tc) == pytest.approx(1e-6, rel=1e-2)


def test_time_masks_reach_the_whole_window():
    """KLab drew mask starts from the frequency size; ours must reach late frames too."""
    aug = Augment(time_mask_p=1.0, freq_shift_p=0, freq_mask_p=0, high_mask_p=0, noise_p=0)
    g = torch.Generator().manual_seed(0)
    rows = torch.arange(640.0)[:, None].expand(640, 229)  # every row distinct, none = the mean
    latest = 0
    for _ in range(200):
        masked = (augment_features(rows, aug, g)[:, 0] != rows[:, 0]).nonzero()
        latest = max(latest, int(masked.max()))
    assert latest > 600


def test_beat_dropout_keeps_beats_binary():
    aug = Augment(beat_drop_p=1.0, beat_drop_rate=0.5, beat_guide_off_p=0.0)
    beats = torch.zeros(3, 400)
    beats[:, ::10] = 1
    out = augment_beats(beats, aug, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert 0 < out.sum() < beats.sum()


def test_stretch_moves_events_with_the_audio():
    frames = torch.tensor([0, 10, 63])
    assert stretch_frames(frames, 0.5, 100).tolist() == [0, 20]


def test_batches_are_seeded_and_shaped(tmp_path):
    songs = scan_charts(make_corpus(tmp_path))
    data = load_song_data(songs, TINY, cache_dir=tmp_path / "cache")
    batch = sample_batch(data, 3, 160, Augment(), torch.Generator().manual_seed(1))
    again = sample_batch(data, 3, 160, Augment(), torch.Generator().manual_seed(1))
    assert batch["features"].shape == (3, 160, 229)
    n = len(batch["difficulty"])
    assert n == 6 and batch["beats"].shape == batch["targets"].shape == (n, 160)
    for key in batch:
        assert torch.equal(batch[key], again[key]), key
    assert (batch["targets"] == 1).any()


def test_tiny_training_run_resumes_exactly(tmp_path):
    corpus = make_corpus(tmp_path / "data")
    tc = TrainConfig(
        steps=4,
        batch_windows=2,
        window_s=4.0,
        warmup_steps=2,
        validate_every=2,
        checkpoint_every=2,
        validation_fraction=0.34,
        compile=False,
    )
    tiny = dataclasses.replace(TINY, dropblock=0.1)
    full = train(corpus, tmp_path / "full", tiny, tc, tmp_path / "cache", say=lambda s: None)

    class Stop(Exception):
        pass

    def stop_at_first_validation(line):
        if line.startswith("validation at step 2"):
            raise Stop

    with pytest.raises(Stop):
        train(corpus, tmp_path / "cut", tiny, tc, tmp_path / "cache", say=stop_at_first_validation)
    first_s = torch.load(tmp_path / "cut" / STATE_FILE, weights_only=True)["time_s"]
    lines = []
    resumed = train(corpus, tmp_path / "cut", tiny, tc, tmp_path / "cache", say=lines.append)
    assert any(line.startswith("resuming from step 2") for line in lines)
    assert resumed["time_s"] > first_s > 0  # the time before the interruption counts too
    a = torch.load(tmp_path / "full" / STATE_FILE, weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / STATE_FILE, weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h["step"] for h in full["history"]] == [2, 4]

    info = json.loads((tmp_path / "full" / "training.json").read_text())
    assert len(info["split"]["validation"]) == 1 and len(info["split"]["train"]) == 2
    model = OnsetModel.load(tmp_path / "full")
    assert model.model_type == "genelive-onset"
    assert all(0.0 < t <= 1.0 for t in model.config.decoding.thresholds)

    with pytest.raises(ValueError, match="holds a run with other settings"):
        train(
            corpus,
            tmp_path / "full",
            tiny,
            dataclasses.replace(tc, lr=1e-3),
            tmp_path / "cache",
            say=lambda s: None,
        )


def test_a_given_split_is_used_and_recorded(tmp_path):
    from genelive.onsets.config import LibrosaOnsetConfig

    corpus = make_corpus(tmp_path / "data")
    keys = sorted(s.key for s in scan_charts(corpus))
    given = {"train": keys[:1], "validation": keys[1:2], "test": [*keys[2:], "gone/audio.ogg"]}
    info = train(corpus, tmp_path / "lib", LibrosaOnsetConfig(), split=given, say=print)
    # Songs the corpus no longer holds drop out; the sides are the ones given.
    assert info["split"] == {"train": keys[:1], "validation": keys[1:2], "test": keys[2:]}
    recorded = json.loads((tmp_path / "lib" / "training.json").read_text())["split"]
    assert recorded == info["split"]


def test_librosa_baseline_is_tuned_not_trained(tmp_path):
    from genelive.onsets.config import LibrosaOnsetConfig

    corpus = make_corpus(tmp_path / "data")
    tc = TrainConfig(validation_fraction=0.34)
    info = train(corpus, tmp_path / "lib", LibrosaOnsetConfig(), tc, None, say=lambda s: None)
    assert not (tmp_path / "lib" / "model.safetensors").exists()
    # Clicks on every beat: onset strength finds the Hard chart's notes.
    assert info["validation"]["tol_50ms"]["Hard"]["f"] > 0.9
    model = OnsetModel.load(tmp_path / "lib")
    assert model.describe()["backend"] == "numpy"


def test_ddc_baseline_trains_with_training_statistics(tmp_path):
    from genelive.onsets.config import DDCConfig

    corpus = make_corpus(tmp_path / "data")
    tc = TrainConfig(steps=2, batch_windows=2, window_s=4.0, warmup_steps=1, validate_every=2)
    tc = dataclasses.replace(tc, validation_fraction=0.34)
    small = DDCConfig(hidden=(16, 8))
    train(corpus, tmp_path / "ddc", small, tc, tmp_path / "cache", say=lambda s: None)
    model = OnsetModel.load(tmp_path / "ddc")
    net = model.backend.module
    # Standardised with the training songs' statistics, not left at the identity.
    assert not torch.equal(net.feature_mean, torch.zeros_like(net.feature_mean))
    assert (net.feature_std != 1).all()
    act = model(str(tmp_path / "data" / "song0" / "audio.ogg"))
    assert act.probs.shape == (5, len(act.features)) and act.fps == 100
