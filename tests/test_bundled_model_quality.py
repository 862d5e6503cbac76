"""The bundled chart models on the whole validation split, as the model card reports them
(docs/model-card-genelive.md): a change that costs real songs F1 fails here even where the
two-song checks of test_cli_and_app.py do not notice. About 3 minutes on 2 cores: `slow`.

Each bound sits 0.02 under the card's number (the numbers are deterministic on one machine;
the margin absorbs BLAS differences between machines). Retraining the models means updating
the card and these numbers together."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from genelive.difficulty import DIFFICULTIES

pytestmark = pytest.mark.slow

# micro-F1 at ±50 ms per difficulty, then all (model card, "Validation results")
CARD_F1_50MS = {
    "onset": [0.482, 0.729, 0.701, 0.732, 0.777, 0.713],
    "ddc-cnn": [0.320, 0.476, 0.521, 0.607, 0.734, 0.581],
    "librosa": [0.290, 0.471, 0.594, 0.641, 0.728, 0.591],
}
CARD_GENERATED_ALL = {"chart_timing": 0.707, "estimated_timing": 0.650}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("features")


def _eval(corpus, cache, capsys, *flags) -> dict:
    args = ["eval-charts", str(corpus), "--split", "validation", "--json", "--cache-dir"]
    assert main([*args, str(cache), *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_onsets_and_baselines_on_the_validation_split(corpus, cache, capsys):
    report = _eval(corpus, cache, capsys)
    assert (report["songs"], report["charts"]) == (12, 48)
    blocks = {"onset": report["onset"], **report["baselines"]}
    for name, card in CARD_F1_50MS.items():
        got = [blocks[name]["tol_50ms"][d]["f"] for d in (*DIFFICULTIES, "all")]
        for difficulty, value, stated in zip((*DIFFICULTIES, "all"), got, card, strict=True):
            assert value > stated - 0.02, (name, difficulty, value)
    # GenéLive beats both baselines at every difficulty, at ±50 ms and at ±20 ms.
    for tol in ("tol_50ms", "tol_20ms"):
        for difficulty in (*DIFFICULTIES, "all"):
            ours = blocks["onset"][tol][difficulty]["f"]
            assert ours > max(blocks[b][tol][difficulty]["f"] for b in ("ddc-cnn", "librosa"))
    tempo = report["tempo"]  # card: acc1 0.917, acc2 1.000, phase 0.800 of 10
    assert tempo["acc1"] >= 11 / 12 and tempo["acc2"] == 1.0
    assert tempo["offset_within_20ms"] >= 0.8


def test_whole_generated_charts_on_the_validation_split(corpus, cache, capsys):
    report = _eval(corpus, cache, capsys, "--generated", "--snap", "--no-baselines", "--no-tempo")
    for timing, stated in CARD_GENERATED_ALL.items():
        block = report["generated"][timing]
        assert block["tol_50ms"]["all"]["f"] > stated - 0.02, timing
    ratio = report["generated"]["chart_timing"]["notes_vs_human"]
    # card: 1.26, 1.17, 0.95, 0.93, 0.73 (Beginner … Challenge)
    for difficulty, stated in zip(DIFFICULTIES, [1.26, 1.17, 0.95, 0.93, 0.73], strict=True):
        assert abs(ratio[difficulty] - stated) < 0.1, (difficulty, ratio[difficulty])
