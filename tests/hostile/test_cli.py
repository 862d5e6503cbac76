"""The command line as a careless or hostile user meets it: bad numbers, bad configs, bad files,
metadata that tries to start lines of its own, a full disk. Each case: exit status 2, one line
that says what is wrong (in the command line's words), and nothing half-written left behind."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genelive.onsets.config import DEFAULT_MODEL
from stytr2.model import StyTr2Config, StyTr2Net
from tests.hostile.helpers import everything_in, one_clear_line, short_song, studio, studio_process
from unclip.tiny import make_tiny_unclip


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return short_song(tmp_path_factory.mktemp("song"))


def run(args, capsys) -> tuple[int, str]:
    """`studio ARGS`; argparse's own refusals exit through SystemExit, caught here."""
    try:
        return studio(args, capsys)
    except SystemExit as e:
        return e.code, capsys.readouterr().err


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--temperature", "nan"], "argument --temperature: 'nan' is not a finite number"),
        (["--temperature", "inf"], "argument --temperature: 'inf' is not a finite number"),
        (["--temperature", "-1"], "--temperature must be a number from 0.01 to 10, not -1"),
        (["--max-minutes", "nan"], "argument --max-minutes: 'nan' is not a finite number"),
        (["--max-minutes", "0"], "argument --max-minutes: must be above 0"),
        (["--bpm", "nan"], "argument --bpm: 'nan' is not a finite number"),
        (["--bpm", "120", "--offset", "1e9"], "--offset must be a number from -3600 to 3600 s"),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 9223372036854775807, not -1"),
        (["--seed", str(2**64)], "--seed must be a whole number from 0 to 9223372036854775807"),
        (["--keys", "0"], "--keys must be a whole number from 1 to 18, not 0"),
        (["--density", "hard=nan"], "--density must be a number above 0 and at most 40"),
        (["--offset", "0.1"], "--offset needs --bpm"),
    ],
)
def test_bad_chart_numbers(song, tmp_path, capsys, flags, says):
    code, err = run(["chart", song, "-o", tmp_path / "out", *flags], capsys)
    assert code == 2 and says in one_clear_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def stytr2_model(tmp_path_factory) -> Path:
    from export.weights import save_model_folder

    small = StyTr2Config(d_model=32, heads=4, ffn=64, encoder_layers=1, decoder_layers=1)
    return save_model_folder(tmp_path_factory.mktemp("m") / "stytr2", small, StyTr2Net(small))


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "p.png"
    sf_rng = np.random.default_rng(0)
    from PIL import Image

    Image.fromarray(sf_rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--style-weights", "nan"], "argument --style-weights: 'nan' is not a finite number"),
        (["--alpha", "2"], "--alpha must be a number from 0 to 1, not 2"),
        (["--size", "100000"], "--size must be a whole number from 16 to 8192 pixels"),
        (["--style-weights", "1", "2"], "--style-weights has 2 style weights for 1 style images"),
    ],
)
def test_bad_style_numbers(stytr2_model, picture, tmp_path, capsys, flags, says):
    out = tmp_path / "o.png"
    args = ["style", picture, picture, "-o", out, "--model", stytr2_model, *flags]
    code, err = run(args, capsys)
    assert code == 2 and says in one_clear_line(err) and not out.exists()


@pytest.fixture(scope="module")
def tiny_unclip(tmp_path_factory) -> Path:
    return make_tiny_unclip(tmp_path_factory.mktemp("unclip") / "tiny")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["imagine", "a drum", "--seed", str(2**64)], "--seed must be a whole number from 0 to"),
        (["imagine", "x" * 100_000], "the prompt is 100,000 characters long; at most 2,000"),
        (["imagine", "  "], "the prompt is empty"),
        (["interpolate", "a", "x" * 5000, "--frames", "2"], "B is 5,000 characters long"),
        (["interpolate", "a", "b", "--frames", "1"], "frames must be 2..64, not 1"),
        (["imagine", "a", "--guidance", "nan,8"], "prior guidance must be in 1..50"),
    ],
)
def test_bad_image_requests(tiny_unclip, tmp_path, capsys, args, says):
    out = tmp_path / "out"
    code, err = run([*args, "-o", out, "--model", tiny_unclip], capsys)
    assert code == 2 and says in one_clear_line(err)
    assert not out.exists()


def test_a_long_prompt_that_names_a_server_file_is_a_prompt(tiny_unclip, tmp_path, capsys):
    """`studio interpolate` takes an end as an image only when it is a file; text that cannot be
    a file name (too long) is a prompt, not an OSError."""
    args = ["interpolate", "a cat", "/" + "x" * 5000, "--frames", "2", "-o", tmp_path / "o"]
    code, err = run([*args, "--model", tiny_unclip, "--steps", "2,2,2"], capsys)
    assert code == 2 and "B is 5,001 characters long" in one_clear_line(err)


# ----------------------------------------------------------------------------- configs


def _onset_model(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if key == "thresholds":
            config["decoding"]["thresholds"] = value
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"conv_channels": -4}, "conv_channels must be a whole number from 1 to 512, not -4"),
        ({"conv_channels": "sixteen"}, "conv_channels must be a whole number, not 'sixteen'"),
        ({"lstm_hidden": 1e7}, "lstm_hidden must be a whole number, not 10000000.0"),
        ({"lstm_hidden": 10_000_000}, "lstm_hidden must be a whole number from 1 to 4096"),
        ({"thresholds": [0.5]}, "thresholds needs one value per difficulty"),
        ({"thresholds": [0.5, 0.5, 0.5, 0.5, 7]}, "thresholds must be a number from 0 to 1"),
        ({"conv_channels": 512, "lstm_hidden": 4096, "lstm_layers": 8}, "GiB model (at most 4"),
        ({"time_pools": [[2]]}, "time_pools must be a list (a list of 2 values each)"),
        ({"model_type": "pickle"}, "is not an onset model"),
    ],
)
def test_bad_model_configs(song, tmp_path, capsys, changes, says):
    model = _onset_model(tmp_path, **changes)
    code, err = run(["chart", song, "-o", tmp_path / "out", "--model", model], capsys)
    assert code == 2 and says in one_clear_line(err)
    assert not (tmp_path / "out").exists()


def test_config_files_that_are_not_configs(song, tmp_path, capsys):
    model = _onset_model(tmp_path)
    for text, says in [
        ("[" * 100_000, "nested more than 64 levels deep"),
        ('{"model_type": "genelive-onset", "n_mels": NaN}', "NaN is not a JSON number"),
        ("[]", "is not an onset model"),
        ("\xff\xfe garbage", "not valid JSON"),
    ]:
        (model / "config.json").write_text(text, errors="surrogateescape")
        code, err = run(["chart", song, "-o", tmp_path / "out", "--model", model], capsys)
        assert code == 2 and says in one_clear_line(err), text[:20]


def test_stytr2_config_that_cannot_work(stytr2_model, picture, tmp_path, capsys):
    model = tmp_path / "stytr2"
    shutil.copytree(stytr2_model, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "heads": 5}))
    code, err = run(["style", picture, picture, "-o", tmp_path / "o.png", "--model", model], capsys)
    assert code == 2 and "heads must divide d_model (32), not 5" in one_clear_line(err)


def test_timing_file_nested_100000_deep(song, tmp_path, capsys):
    deep = tmp_path / "timing.json"
    deep.write_text('{"format": "genelive-chart", "timing": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = run(["chart", song, "-o", tmp_path / "out", "--timing-from", deep], capsys)
    assert code == 2 and "nested more than 64 levels deep" in one_clear_line(err)


def test_tempo_map_that_is_not_one(song, tmp_path, capsys):
    for text in ("[" * 50_000, "[[nan, 0, 4]]", "[[120, 0, 0]]", '"x"'):
        code, err = run(["onsets", song, "-o", tmp_path / "o.npz", "--tempo-map", text], capsys)
        assert code == 2 and "--tempo-map must be JSON like" in one_clear_line(err), text[:10]


def test_a_text_file_named_mp3(tmp_path, capsys):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not audio\n" * 100)
    process = studio_process(["tempo", fake])
    line = one_clear_line(process.stderr)
    assert process.returncode == 2 and "song.mp3: not a readable audio file" in line
    assert "Note:" not in process.stderr and "possibly a pipe" not in line


def test_too_long_says_which_flag_raises_the_limit(tmp_path, capsys):
    long = tmp_path / "long.wav"
    sf.write(str(long), np.zeros(16 * 60 * 1000, np.float32), 1000)  # 16 min at 1 kHz
    code, err = run(["tempo", long], capsys)
    line = one_clear_line(err)
    assert code == 2 and "16.0 min long; the limit is 15 min" in line and "--max-minutes" in line


# ----------------------------------------------------------------------------- the app


def test_app_on_a_port_in_use_says_so_before_loading_anything():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process = studio_process(["app", "--port", port], timeout_s=60)
    line = one_clear_line(process.stderr)
    assert process.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in line
    assert "choose another (--port)" in line


def test_app_with_a_model_folder_that_is_not_one(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "bad").mkdir()
    code, err = run(
        ["app", "--port", port, "--model", tmp_path / "bad", "--jobs-dir", tmp_path / "jobs"],
        capsys,
    )
    assert code == 2 and "not a model folder" in one_clear_line(err)


# ----------------------------------------------------------------------------- metadata


def _one_chart(song, out, capsys, *flags) -> list[Path]:
    code, err = run(
        [
            "chart",
            song,
            "-o",
            out,
            "--bpm",
            "120",
            "--offset",
            "-0.5",
            "--difficulties",
            "easy",
            "--formats",
            "osu,sm,json",
            *flags,
        ],
        capsys,
    )
    assert code == 0, err
    return sorted(out.iterdir())


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_title_cannot_add_sections_or_lines(song, tmp_path, capsys):
    title = "t\n[TimingPoints]\n0,1,4,1,0,100,1,0\r\nAudioFilename: ../../../etc/passwd"
    files = _one_chart(song, tmp_path / "out", capsys, "--title", title, "--artist", "a\x1bb")
    (osu,) = [p for p in files if p.suffix == ".osu"]
    lines = _lines(osu)
    assert lines.count("[TimingPoints]") == 1
    assert [x for x in lines if x.startswith("AudioFilename")] == ["AudioFilename: click.ogg"]
    assert [x for x in lines if x.startswith("Title:")] == [
        "Title:t [TimingPoints] 0,1,4,1,0,100,1,0 AudioFilename: ../../../etc/passwd"
    ]
    assert "Artist:a b" in lines
    (sm,) = [p for p in files if p.suffix == ".sm"]
    assert sum(x.startswith("#TITLE:") for x in _lines(sm)) == 1
    assert all(x.isprintable() for p in files if p.suffix != ".ogg" for x in _lines(p))


def test_audio_tags_cannot_add_lines(tmp_path, capsys):
    tagged = short_song(tmp_path, "tagged.wav")
    with sf.SoundFile(str(tagged), "r+") as f:
        f.title = "Song\nAudioFilename: ../../../etc/passwd"
        f.artist = "Someone\n[Events]"
    files = _one_chart(tagged, tmp_path / "out", capsys)
    (osu,) = [p for p in files if p.suffix == ".osu"]
    lines = _lines(osu)
    assert [x for x in lines if x.startswith("AudioFilename")] == ["AudioFilename: tagged.ogg"]
    assert "[Events]" not in lines and "Title:Song AudioFilename: ../../../etc/passwd" in lines


def test_file_names_from_titles_stay_plain_and_inside(song, tmp_path, capsys):
    out = tmp_path / "out"
    files = _one_chart(song, out, capsys, "--title", "../../x\n\x1b[31m", "--artist", ".hid")
    assert [p.parent for p in files] == [out] * len(files)
    assert [p.name for p in files] == [
        "_.._x [31m.json",
        "_.._x [31m.sm",
        "click.ogg",
        "hid - .._.._x [31m (GenéLive) [Easy].osu",
    ]  # one line, no separators, no leading dot: plain names, none hidden
    assert all(p.name.isprintable() for p in files)
    assert everything_in(tmp_path) == ["out", *[f"out/{p.name}" for p in files]]


def test_an_existing_folder_is_refused_unless_overwrite(song, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, err = run(["chart", song, "-o", out, "--bpm", "120", "--difficulties", "easy"], capsys)
    assert code == 2 and "already exists and is not empty" in one_clear_line(err)
    assert "--overwrite" in err and everything_in(out) == ["mine.txt"]


# ----------------------------------------------------------------------------- a full disk


def _tmpfs_available() -> str | None:
    if shutil.which("unshare") is None:
        return "needs util-linux's unshare"
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs /mnt && echo ok",
        ],
        capture_output=True,
        text=True,
    )
    return None if probe.stdout.strip() == "ok" else f"no tmpfs here ({probe.stderr.strip()})"


def test_a_full_disk_leaves_nothing_behind(song, tmp_path):
    why = _tmpfs_available()
    if why:
        pytest.skip(why)
    import sys

    from tests.helpers import REPO

    disk = tmp_path / "disk"
    disk.mkdir()
    command = (
        f"mount -t tmpfs -o size=200k tmpfs {disk} && cd {REPO} && "
        f"PYTHONPATH={REPO} {sys.executable} -m app.cli chart '{song}' -o {disk}/out "
        f"--bpm 120 --preview; echo rc=$?; ls -A {disk}"
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "rc=2", done.stdout + done.stderr
    assert lines[1:] == []  # no song folder, no temporary sibling
    line = one_clear_line(done.stderr)
    assert "cannot write to" in line and "No space left on device" in line


# ----------------------------------------------------------------------------- batches, export


@pytest.mark.parametrize(
    ("kind", "flags", "says"),
    [
        ("charts", ["--temperature", "-1"], "--temperature must be a number from 0.01 to 10"),
        ("charts", ["--seed", str(2**63)], "--seed must be a whole number from 0 to"),
        ("charts", ["--density", "hard=99"], "--density must be a number above 0 and at most 40"),
        ("charts", ["--workers", "-3", "--ray"], "--workers must be a whole number from 1"),
    ],
)
def test_a_bad_batch_option_stops_before_anything_is_written(
    song, tmp_path, capsys, kind, flags, says
):
    out = tmp_path / "out"
    code, err = run(["batch", kind, song.parent, "-o", out, *flags], capsys)
    assert code == 2 and says in one_clear_line(err)
    assert not out.exists()


def test_an_opset_no_exporter_writes(tmp_path, capsys):
    code, err = run(["export", "chart", "-o", tmp_path / "out", "--opset", "99999"], capsys)
    assert code == 2 and "--opset must be a whole number from 7 to 25" in one_clear_line(err)
    assert not (tmp_path / "out").exists()


def test_the_jobs_folder_cannot_be_one_the_server_serves(tmp_path, capsys):
    from gradio.utils import get_upload_folder

    served = Path(get_upload_folder()) / "jobs"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, err = run(["app", "--jobs-dir", served, "--port", port], capsys)
    assert code == 2 and "is served to anyone; choose another folder (--jobs-dir)" in err
