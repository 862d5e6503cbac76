"""Parity with KLab's released GenéLive! code on ../shared/golden/genelive (atol = rtol = 1e-4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from app.cli import main
from genelive.features import log_mel
from genelive.onsets.model import OnsetModel
from genelive.timing import BeatGrid
from tests.helpers import golden_tensor

TOL = {"atol": 1e-4, "rtol": 1e-4}


@pytest.fixture(scope="module")
def imported(tmp_path_factory, golden_genelive):
    golden = golden_genelive
    meta = json.loads((golden / "meta.json").read_text())
    keys = json.loads((golden / "keys.json").read_text())
    state = {e["key"]: golden_tensor(e["key"], e["shape"], e["dtype"], meta["SEED"]) for e in keys}
    root = tmp_path_factory.mktemp("klab")
    torch.save(state, root / "klab.pth")
    assert main(["import-klab", str(root / "klab.pth"), "-o", str(root / "model")]) == 0
    return root / "model", meta, dict(np.load(golden / "expected.npz"))


def test_front_end_matches(golden_genelive):
    expected = np.load(golden_genelive / "expected.npz")
    clip = np.load(golden_genelive / "clip.npy")
    np.testing.assert_allclose(log_mel(clip), expected["log_mel"], **TOL)


def test_beat_guides_match_both_klab_paths(golden_genelive):
    meta = json.loads((golden_genelive / "meta.json").read_text())
    expected = np.load(golden_genelive / "expected.npz")
    n = meta["n_frames"]
    grid = BeatGrid.from_bpm_info(meta["bpm_info"], n / 31.25)
    # Training path: every beat 1. Inference path of their code: downbeats 2.
    np.testing.assert_array_equal(grid.guide(n), expected["beats_train"])
    np.testing.assert_array_equal(grid.guide(n, downbeat_value=2.0), expected["beats"])


def test_network_matches_through_the_importer(imported):
    model_dir, meta, expected = imported
    model = OnsetModel.load(model_dir)
    assert sum(p.numel() for p in model.backend.module.parameters()) == meta["n_parameters"]
    for beats, key in (
        (expected["beats"], "onset_probs"),
        (expected["beats_train"], "onset_probs_beats_train"),
    ):
        out = model.backend.run(
            {
                "log_mel": expected["log_mel"][None],
                "beats": beats[None],
                "difficulty": np.array(meta["difficulties"], np.float32),
            }
        )["onset_probs"][0]
        np.testing.assert_allclose(out, expected[key], **TOL)


def test_onsets_command_reproduces_the_reference(imported, golden_genelive, tmp_path):
    model_dir, meta, expected = imported
    wav = tmp_path / "clip.wav"
    # The clip peaks above full scale: keep it as float samples so nothing is clipped.
    sf.write(wav, np.load(golden_genelive / "clip.npy"), 16000, subtype="FLOAT")
    out = tmp_path / "out.npz"
    tempo = json.dumps(meta["bpm_info"])
    assert (
        main(["onsets", str(wav), "--model", str(model_dir), "--tempo-map", tempo, "-o", str(out)])
        == 0
    )
    got = np.load(out)
    np.testing.assert_allclose(got["log_mel"], expected["log_mel"], **TOL)
    np.testing.assert_array_equal(got["beats"], expected["beats_train"])
    np.testing.assert_allclose(got["onset_probs"], expected["onset_probs_beats_train"], **TOL)
