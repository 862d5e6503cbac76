"""Every `studio` command once as users run it: the installed console script, in its own
process, from a folder of its own. Each is checked for its exit code, the files it writes, and
one bad request's single line (exit 2, nothing written). Inputs are tiny and real: click-track
songs with charts, random pictures, tiny models made by the commands themselves."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import click_track, quarter_measures, sm_text, write_audio
from tests.hostile.helpers import one_clear_line
from tests.test_stytr2_parity import write_official_files

pytestmark = pytest.mark.slow  # about 6 minutes on 2 cores: each process loads its libraries
STUDIO = Path(sys.executable).parent / "studio"
FAST = ["--steps", "2,3,2", "--guidance", "2,3"]  # unCLIP steps per stage and guidance
FAST_FROM_IMAGE = ["--steps", "3,2", "--guidance", "3"]  # decoder and super-res stages only


def studio(
    cwd: Path, *args, ok: bool = True, timeout_s: float = 300
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(STUDIO), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout_s
    )
    if ok:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    return done


def refused(cwd: Path, *args, code: int = 2) -> str:
    """The one line a refused command prints; nothing may be left at its -o."""
    done = studio(cwd, *args, ok=False)
    assert done.returncode == code, done.stderr[-3000:]
    return one_clear_line(done.stderr)


def pickle_refusal(checkpoint: str) -> str:
    return (
        f"error: {checkpoint}: holds Python objects besides tensors (argparse.Namespace), and "
        "loading it could run code. If you trust the file's source, allow pickled checkpoints "
        "explicitly (--allow-pickle)"
    )


def pictures(folder: Path, n: int, size=(40, 48)) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studio")


@pytest.fixture(scope="module")
def corpus_dir(work) -> Path:
    """Three click-track songs at different tempi, each with a Beginner and a Hard chart."""
    root = work / "corpus"
    for i in range(3):
        bpm, seconds = 100 + 20 * i, 14.0
        audio, _ = click_track(bpm, seconds, first_beat_s=0.5)
        write_audio(root / f"song{i}" / "audio.ogg", audio, format="OGG", subtype="VORBIS")
        n_measures = int((seconds - 1) * bpm / 240)
        charts = {
            "Beginner": quarter_measures(n_measures),
            "Hard": quarter_measures(n_measures, "0100"),
        }
        (root / f"song{i}" / "c.sm").write_text(sm_text(f"Song {i}", bpm, -0.5, charts))
    return root


@pytest.fixture(scope="module")
def song(work) -> Path:
    audio, _ = click_track(120.0, 12.0, first_beat_s=0.5)
    return write_audio(work / "songs" / "click song.ogg", audio, format="OGG", subtype="VORBIS")


@pytest.fixture(scope="module")
def tiny_unclip(work) -> Path:
    studio(work, "make-tiny-unclip", "unclip", "--seed", 3)
    assert (work / "unclip" / "model_index.json").is_file()
    assert refused(work, "make-tiny-unclip", "unclip2", "--size", "huge").startswith("error: ")
    return work / "unclip"


@pytest.fixture(scope="module")
def stytr2_imported(work) -> Path:
    write_official_files(work / "official")  # plain state dicts: read without unpickling code
    shutil.copytree(work / "official", work / "with-objects")
    decoder = work / "with-objects" / "decoder_iter_160000.pth"
    torch.save({"model": torch.load(decoder), "args": argparse.Namespace(lr=5e-4)}, decoder)
    refusal = refused(work, "import-stytr2", "with-objects", "-o", "refused")
    assert refusal == pickle_refusal("with-objects/decoder_iter_160000.pth")
    assert not (work / "refused").exists()
    studio(work, "import-stytr2", "with-objects", "-o", "stytr2-pickle", "--allow-pickle")
    studio(work, "import-stytr2", "official", "-o", "stytr2")
    assert {"config.json", "model.safetensors"} <= {p.name for p in (work / "stytr2").iterdir()}
    return work / "stytr2"


# ----------------------------------------------------------------------------- charts


def test_chart_tempo_onsets_on_both_backends(work, song):
    tempo = json.loads(studio(work, "tempo", song, "--json").stdout)
    assert abs(tempo["bpm"] - 120) < 1
    assert "120" in studio(work, "tempo", song).stdout
    studio(work, "chart", song, "-o", "charts", "--difficulties", "Easy,Hard", "--seed", 4)
    written = sorted(p.name for p in (work / "charts").rglob("*") if p.is_file())
    assert any(n.endswith(".sm") for n in written) and any(n.endswith(".osu") for n in written)
    studio(work, "export", "chart", "-o", "chart-onnx")
    assert (work / "chart-onnx" / "manifest.json").is_file()
    args = ["--difficulties", "Easy,Hard", "--seed", 4, "--formats", "json", "--json"]
    torch_run = studio(work, "chart", song, "-o", "c-torch", *args)
    onnx_run = studio(
        work, "chart", song, "-o", "c-onnx", *args, "--backend", "onnx", "--model", "chart-onnx"
    )
    (torch_json,) = (work / "c-torch").rglob("*.json")
    (onnx_json,) = (work / "c-onnx").rglob("*.json")
    assert (
        json.loads(torch_json.read_text())["charts"] == json.loads(onnx_json.read_text())["charts"]
    )
    assert torch_run.stdout and onnx_run.stdout
    studio(work, "onsets", song, "-o", "onsets.npz")
    with np.load(work / "onsets.npz") as onsets:
        assert len(onsets.files) > 0
    assert (
        refused(work, "chart", "missing.ogg", "-o", "x") == "error: missing.ogg: no such audio file"
    )
    assert "--bpm" in refused(work, "chart", song, "-o", "x", "--bpm", "nan")
    assert "--max-minutes" in refused(work, "tempo", song, "--max-minutes", "-1")
    assert not (work / "x").exists()


def test_train_tune_and_evaluate_on_a_tiny_corpus(work, corpus_dir):
    common = ["--cache-dir", "cache"]
    studio(
        work,
        "train-charts",
        corpus_dir,
        "-o",
        "onsets-model",
        "--config",
        "small",
        "--steps",
        4,
        "--batch",
        2,
        "--warmup",
        1,
        "--validate-every",
        2,
        *common,
    )
    model = work / "onsets-model"
    assert {"config.json", "model.safetensors"} <= {p.name for p in model.iterdir()}
    studio(work, "tune-decoding", corpus_dir, "--model", model, *common)
    studio(
        work,
        "train-steps",
        corpus_dir,
        "-o",
        "steps-model",
        "--steps",
        4,
        "--split-from",
        model,
        *common,
    )
    assert (work / "steps-model" / "model.safetensors").is_file()
    report = json.loads(
        studio(
            work, "eval-charts", corpus_dir, "--model", model, "--no-baselines", "--json", *common
        ).stdout
    )
    assert report
    assert "--steps" in refused(work, "train-charts", corpus_dir, "-o", "bad", "--steps", 0)
    no_split = refused(work, "train-charts", corpus_dir, "-o", "bad", "--split-from", corpus_dir)
    assert "--split-from" in no_split and "records no split" in no_split
    assert "--threads" in refused(work, "train-charts", corpus_dir, "-o", "bad", "--threads", 0)
    # The tiny model's split has no test songs (3 songs): said in one line.
    no_test = refused(work, "eval-charts", corpus_dir, "--model", model, "--split", "test", *common)
    assert "test" in no_test
    assert refused(work, "eval-charts", "no-such-folder").startswith("error: ")
    assert not (work / "bad").exists()


def test_import_klab_refuses_a_pickle_unless_asked(work, golden_genelive):
    from tests.helpers import golden_tensor

    meta = json.loads((golden_genelive / "meta.json").read_text())
    keys = json.loads((golden_genelive / "keys.json").read_text())
    state = {e["key"]: golden_tensor(e["key"], e["shape"], e["dtype"], meta["SEED"]) for e in keys}
    torch.save(state, work / "klab.pth")
    torch.save({"state_dict": state, "args": argparse.Namespace()}, work / "klab-objects.pth")
    refusal = refused(work, "import-klab", "klab-objects.pth", "-o", "klab")
    assert refusal == pickle_refusal("klab-objects.pth")
    assert not (work / "klab").exists()
    studio(work, "import-klab", "klab-objects.pth", "-o", "klab-pickle", "--allow-pickle")
    studio(work, "import-klab", "klab.pth", "-o", "klab")
    config = json.loads((work / "klab" / "config.json").read_text())
    assert config["model_type"] == "genelive-onset"


def test_batch_charts(work, song):
    songs = song.parent
    studio(
        work,
        "batch",
        "charts",
        songs,
        "-o",
        "batch-charts",
        "--difficulties",
        "Easy",
        "--formats",
        "sm",
    )
    assert list((work / "batch-charts").rglob("*.sm"))
    assert refused(work, "batch", "charts", songs, "-o", "b2", "--workers", 0) == (
        "error: --workers must be a whole number from 1 to 100000, not 0"
    )
    assert refused(work, "batch", "charts", songs, "-o", "b2", "--workers", 2) == (
        "error: --workers is for --ray: the local runner is one worker"
    )
    assert not (work / "b2").exists()


# ----------------------------------------------------------------------------- style


def test_style_import_train_export_and_batch(work, stytr2_imported):
    content, styles = pictures(work / "content", 2), pictures(work / "styles", 2, (36, 30))
    pair = [content / "p0.png", styles / "p0.png"]
    studio(work, "style", *pair, "-o", "styled.png", "--model", stytr2_imported, "--size", 64)
    with Image.open(work / "styled.png") as im:
        assert max(im.size) == 64
    studio(work, "export", "stytr2", "--model", stytr2_imported, "-o", "stytr2-onnx")
    onnx = ["--model", "stytr2-onnx", "--backend", "onnx", "--size", 64]
    studio(work, "style", *pair, "-o", "styled-onnx.png", *onnx)
    a = np.asarray(Image.open(work / "styled.png"), np.int16)
    b = np.asarray(Image.open(work / "styled-onnx.png"), np.int16)
    assert np.abs(a - b).max() <= 1
    studio(
        work,
        "batch",
        "style",
        content,
        "--style",
        styles / "p1.png",
        "--model",
        stytr2_imported,
        "--size",
        48,
        "-o",
        "batch-style",
    )
    assert len(list((work / "batch-style").rglob("*.png"))) == 2
    vgg = stytr2_imported / "vgg"
    studio(
        work,
        "train-stytr2",
        "--content",
        content,
        "--style",
        styles,
        "-o",
        "trained",
        "--vgg",
        vgg,
        "--init",
        stytr2_imported,
        "--steps",
        1,
        "--batch",
        1,
        timeout_s=600,
    )
    assert (work / "trained" / "model.safetensors").is_file()
    bad_alpha = ["-o", "x.png", "--model", stytr2_imported, "--alpha", 3]
    assert "--alpha" in refused(work, "style", *pair, *bad_alpha)
    assert not (work / "x.png").exists()


# ----------------------------------------------------------------------------- images


def _pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p), np.int16) for p in sorted(folder.glob("*.png"))]


def test_image_commands_on_both_backends(work, tiny_unclip):
    model, from_image = ["--model", tiny_unclip, *FAST], ["--model", tiny_unclip, *FAST_FROM_IMAGE]
    studio(work, "imagine", "a drum", "-o", "imagined", "--seed", 2, "--num-images", 2, *model)
    assert len(_pngs(work / "imagined")) == 2
    studio(work, "export", "unclip", "--model", tiny_unclip, "-o", "unclip-onnx")
    studio(
        work,
        "imagine",
        "a drum",
        "-o",
        "imagined-onnx",
        "--seed",
        2,
        "--num-images",
        2,
        "--model",
        "unclip-onnx",
        "--backend",
        "onnx",
        *FAST,
    )
    for a, b in zip(_pngs(work / "imagined"), _pngs(work / "imagined-onnx"), strict=True):
        assert np.abs(a - b).max() <= 1
    (first,) = sorted((work / "imagined").glob("*.png"))[:1]
    studio(work, "imagine", "--from-png", first, "-o", "again", "--model", tiny_unclip)
    assert np.array_equal(_pngs(work / "again")[0], _pngs(work / "imagined")[0])
    studio(work, "vary", first, "-o", "varied", *from_image)
    assert len(_pngs(work / "varied")) == 1
    studio(work, "interpolate", "a drum", first, "--frames", 3, "-o", "blend", *model)
    assert len(_pngs(work / "blend")) == 3
    studio(work, "text-diff", first, "--to", "a cat", "--frames", 2, "-o", "diff", *from_image)
    assert len(_pngs(work / "diff")) == 2
    (work / "prompts.txt").write_text("a drum\na neon stage\n")
    studio(work, "batch", "imagine", "prompts.txt", "-o", "batch-images", *model)
    assert len(list((work / "batch-images").rglob("*.png"))) == 2
    assert "frames" in refused(
        work, "text-diff", first, "--to", "a cat", "--frames", 99, "-o", "y", *from_image
    )
    assert "strength" in refused(
        work, "text-diff", first, "--to", "a cat", "--strength", "inf", "-o", "y", *from_image
    )
    assert not (work / "y").exists()


# ----------------------------------------------------------------------------- the app


def test_app_starts_serves_and_stops(work, tiny_unclip):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = subprocess.Popen(
        [
            str(STUDIO),
            "app",
            "--port",
            str(port),
            "--jobs-dir",
            "jobs",
            "--unclip",
            tiny_unclip,
            "--stytr2",
            "none",
        ],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2)
                break
            except httpx.TransportError:
                assert app.poll() is None, app.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("the app did not answer within 120 s")
        assert "/generate_charts" in info.json()["named_endpoints"]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        app.terminate()
        app.wait(timeout=30)
    assert (work / "jobs").is_dir()
    assert "--port" in refused(work, "app", "--port", 70000)
