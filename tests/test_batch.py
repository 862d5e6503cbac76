"""Batch jobs: manifest, per-item errors, reruns, atomic outputs, and Ray = local byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from app.batch.on_ray import pack, unpack
from app.batch.runner import MANIFEST, Batch, BatchError, progress_line, run_batch, run_local
from app.batch.tasks import list_items
from app.cli import main
from export.weights import save_model_folder
from stytr2.model import StyTr2Config, StyTr2Net
from tests.helpers import write_audio

SMALL = StyTr2Config(d_model=32, heads=4, ffn=64, encoder_layers=1, decoder_layers=1)


@pytest.fixture(scope="module")
def songs(corpus, tmp_path_factory):
    """Two 20-second clips of corpus songs (one in a subfolder) and a file that is not audio."""
    from genelive.audio import SAMPLE_RATE, load_audio
    from genelive.training.corpus import scan_charts

    root = tmp_path_factory.mktemp("songs")
    for i, song in enumerate(scan_charts(corpus)[:2]):
        audio = load_audio(song.audio_path)[SAMPLE_RATE * 30 : SAMPLE_RATE * 50]
        write_audio(root / ("sub" if i else "") / f"song{i}.wav", audio, sr=SAMPLE_RATE)
    (root / "broken.mp3").write_bytes(b"not audio at all")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "skip.wav").write_bytes(b"")
    return root


def chart_args(songs, out, *extra):
    return [
        "batch",
        "charts",
        str(songs),
        "-o",
        str(out),
        "--formats",
        "sm,json",
        "--difficulties",
        "easy,hard",
        *extra,
    ]


def tree(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


@pytest.fixture(scope="module")
def local_run(songs, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "local"
    with pytest.raises(SystemExit) as exit_info:
        main(chart_args(songs, out))
    assert exit_info.value.code == 1  # one item failed, the others ran
    return out


def test_one_bad_file_fails_alone_and_is_recorded(local_run):
    manifest = json.loads((local_run / MANIFEST).read_text())
    items = manifest["items"]
    assert sorted(items) == ["broken.mp3", "song0.wav", "sub/song1.wav"]  # .hidden skipped
    assert (
        items["broken.mp3"]["status"] == "failed" and "AudioError" in items["broken.mp3"]["error"]
    )
    assert items["song0.wav"]["status"] == items["sub/song1.wav"]["status"] == "done"
    assert manifest["settings"]["difficulties"] == ["Easy", "Hard"]
    files = tree(local_run)
    assert {"song0/song0.sm", "song0/song0.json", "song0/song0.ogg", "sub/song1/song1.sm"} <= set(
        files
    )
    assert not (local_run / "broken").exists()
    charts = json.loads(files["song0/song0.json"])["charts"]
    assert [c["difficulty"] for c in charts] == ["Easy", "Hard"] and charts[1]["notes"]


def test_a_rerun_skips_what_is_done_and_retries_what_failed(local_run, songs, capsys):
    before = tree(local_run)
    import shutil

    shutil.rmtree(local_run / "sub" / "song1")  # a done item whose output went missing
    with pytest.raises(SystemExit) as exit_info:
        main(chart_args(songs, local_run))
    assert exit_info.value.code == 1  # the broken file failed again
    err = capsys.readouterr().err
    assert "3 items, 1 already done, 2 to run" in err
    assert "sub/song1.wav: done" in err and "broken.mp3: FAILED" in err
    manifest = json.loads((local_run / MANIFEST).read_text())
    assert manifest["items"]["broken.mp3"]["attempts"] == 2
    assert manifest["items"]["song0.wav"]["attempts"] == 1
    assert tree(local_run) == before  # redone byte for byte


def test_other_settings_in_the_same_folder_are_refused(local_run, songs, capsys):
    assert main(chart_args(songs, local_run, "--seed", "1")) == 2
    assert "another seed" in capsys.readouterr().err


def test_a_folder_that_is_not_a_batch_is_refused(tmp_path, songs, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    assert main(chart_args(songs, tmp_path / "out")) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(chart_args(tmp_path / "none", tmp_path / "x")) == 2
    assert "no such folder" in capsys.readouterr().err


def test_ray_writes_the_same_bytes_as_the_local_runner(local_run, songs, tmp_path, monkeypatch):
    """`studio batch ... --ray` as users run it: it starts a local Ray instance (token auth),
    from a folder holding a model folder named like one of our packages (Ray puts the driver's
    folder first on its workers' path), with a relative OUT_DIR."""
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # before Ray is imported: it reads it then
    ray = pytest.importorskip("ray")
    (tmp_path / "genelive").mkdir()  # a model folder named like the package
    studio = str(Path(sys.executable).parent / "studio")
    command = [studio, *chart_args(songs, "ray", "--ray", "--workers", "2")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # one item failed, the others ran
    assert "broken.mp3: FAILED" in done.stderr and "Traceback" not in done.stderr
    out = tmp_path / "ray"
    try:
        assert tree(out) == tree(local_run)
        statuses = {
            k: v["status"] for k, v in json.loads((out / MANIFEST).read_text())["items"].items()
        }
        assert statuses == {"broken.mp3": "failed", "song0.wav": "done", "sub/song1.wav": "done"}
        with pytest.raises(BatchError, match="cannot start a charts worker"):
            settings = json.loads((out / MANIFEST).read_text())["settings"]
            settings["model"] = str(tmp_path / "nope")
            bad = Batch.open("charts", songs, tmp_path / "bad", settings)
            from app.batch.on_ray import ray_runner

            run_batch(bad, ray_runner(), report=lambda _: None)
    finally:
        ray.shutdown()


def test_style_batch_restyles_every_image(tmp_path):
    torch.manual_seed(0)
    model = save_model_folder(tmp_path / "stytr2", SMALL, StyTr2Net(SMALL))
    rng = np.random.default_rng(0)
    (tmp_path / "content" / "a").mkdir(parents=True)
    for name in ("one.png", "a/two.jpg"):
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(
            tmp_path / "content" / name
        )
    (tmp_path / "content" / "bad.png").write_bytes(b"\x89PNG broken")
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "s.png")
    args = [
        "batch",
        "style",
        str(tmp_path / "content"),
        "--style",
        str(tmp_path / "s.png"),
        "--model",
        str(model),
        "-o",
        str(tmp_path / "out"),
        "--alpha",
        "0.5",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1  # bad.png failed, the others ran
    for name in ("one.png", "a/two.png"):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.size == (56, 40) and json.loads(image.text["parameters"])["alpha"] == 0.5
    items = json.loads((tmp_path / "out" / MANIFEST).read_text())["items"]
    assert "ImageError" in items["bad.png"]["error"]


def test_imagine_batch_one_folder_per_prompt(tmp_path):
    from unclip.tiny import make_tiny_unclip

    model = make_tiny_unclip(tmp_path / "tiny")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# key art\na red drum\n\na blue stage\na red drum\n")
    items = list_items("imagine", prompts)
    assert [i.source for i in items] == ["a red drum", "a blue stage"]
    out = tmp_path / "out"
    assert (
        main(
            [
                "batch",
                "imagine",
                str(prompts),
                "-o",
                str(out),
                "--model",
                str(model),
                "--steps",
                "2,2,2",
                "--num-images",
                "2",
            ]
        )
        == 0
    )
    for item in items:
        pngs = sorted((out / item.output).iterdir())
        assert [p.name for p in pngs] == ["image-000.png", "image-001.png"]
        with Image.open(pngs[1]) as image:
            params = json.loads(image.text["parameters"])
        assert params["prompt"] == item.source and params["seed"] == 1


def test_pack_unpack_and_progress_line():
    files = {"a.sm": b"x", "preview/b.png": b"\x00" * 3}
    assert unpack(pack(files)) == files and pack(files) == pack(dict(files))
    assert unpack(pack({"": b"png"})) == {"": b"png"}

    class Done:
        item, error, seconds = type("I", (), {"id": "x.ogg"})(), None, 2.0

    line = progress_line(3, 10, 60.0, Done())
    assert line.startswith("[3/10] x.ogg: done in 2.0 s") and "3.0/min" in line
    assert "ETA 00:02:20" in line


def test_run_local_loads_the_model_once(monkeypatch, tmp_path):
    import app.batch.runner as runner

    loads = []

    def counting_worker(kind, settings):
        loads.append(kind)
        return lambda item: {"": item.source.encode()}

    monkeypatch.setattr(runner, "make_worker", counting_worker)
    monkeypatch.setattr(runner, "check_settings", lambda kind, settings: None)  # no real options
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "in" / name).write_bytes(b"")
    batch = Batch.open("style", tmp_path / "in", tmp_path / "out", {"k": 1})
    summary = run_batch(batch, run_local, report=lambda _: None)
    assert loads == ["style"] and summary["done"] == 2 and summary["failed"] == 0
    assert (tmp_path / "out" / "a.png").read_bytes().endswith(b"a.png")
