"""The web app as a hostile or careless client meets it, over raw HTTP and gradio_client, against
a live app started with production's settings (app.web.serve) on 127.0.0.1.

Promises: one session never reads another's work (files, history, jobs); an API argument is
text or an uploaded file, never a server path; every refused input is one line in the app's
words; a refused request leaves no job behind; one damaged record never breaks a History."""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from app.web import build_app
from export.images import png_parameters
from tests.helpers import REPO, start_app
from tests.hostile.helpers import everything_in, short_song

FAST = [5, False, 2, 3, 2, 4, 8]  # seed, random seed, prior/decoder/super-res steps, guidance


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-app")
    demo, url = start_app(root)
    yield {"url": url, "jobs": root / "jobs", "root": root}
    demo.close()


class Client:
    """Raw HTTP as any script can speak it: upload, call, read the event stream."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=180)

    def upload(self, path: Path, name: str | None = None) -> dict:
        with open(path, "rb") as f:
            files = {"files": (name or path.name, f.read())}
        (server_path,) = self.http.post(f"{self.url}/gradio_api/upload", files=files).json()
        return {
            "path": server_path,
            "orig_name": name or path.name,
            "meta": {"_type": "gradio.FileData"},
        }

    def call(self, api: str, *data) -> tuple[str, object]:
        """("complete", outputs) or ("error", message)."""
        body = json.dumps({"data": list(data)})  # NaN is allowed here, as Python writes it
        started = self.http.post(
            f"{self.url}/gradio_api/call/{api}",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert started.status_code == 200, started.text
        stream = self.http.get(f"{self.url}/gradio_api/call/{api}/{started.json()['event_id']}")
        event = data_line = None
        for line in stream.text.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data_line = line[6:]
        payload = json.loads(data_line) if data_line not in (None, "null") else None
        if event == "error":
            return "error", (payload or {}).get("error")
        return event, payload

    def refused(self, api: str, *data) -> str:
        event, message = self.call(api, *data)
        assert event == "error" and isinstance(message, str), (event, message)
        assert "\n" not in message and "Traceback" not in message, message
        return message

    def fetch(self, path: str) -> httpx.Response:
        return self.http.get(f"{self.url}/gradio_api/file={path}")


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app["url"])


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return short_song(tmp_path_factory.mktemp("song"))


def _chart_request(session, song_file, bpm=120, offset=-0.5, seed=3, timing=None):
    return [
        session,
        song_file,
        bpm,
        offset,
        timing,
        ["Easy"],
        0,
        0,
        0,
        0,
        0,
        seed,
        False,
        ["sm", "json"],
        4,  # keys
        1.0,  # temperature
        "",  # title
        "",  # artist
    ]


@pytest.fixture(scope="module")
def owner(client, song) -> dict:
    """A session with one finished chart job and one image job."""
    session = secrets.token_hex(16)
    event, out = client.call("generate_charts", *_chart_request(session, client.upload(song)))
    assert event == "complete", out
    event, images = client.call("imagine", session, "a drum", 1, *FAST)
    assert event == "complete", images
    return {"session": session, "job": out[1], "outputs": out, "image": images[2][0]["path"]}


def _history(client, session) -> list:
    event, out = client.call("history", session)
    assert event == "complete"
    return out[0]["data"]


# ----------------------------------------------------------------------------- other sessions


def test_the_jobs_folder_is_not_served(app, client, owner):
    job = app["jobs"] / owner["job"]
    assert (job / "job.json").is_file()
    targets = [job / "job.json", *sorted((job / "song").iterdir()), *job.glob("*.zip")]
    for path in targets:
        assert client.fetch(str(path)).status_code == 403, path
    traversal = f"{Path(owner['image']).parent}/../../../{job.relative_to('/')}/job.json"
    assert client.fetch(traversal).status_code == 403


def test_what_a_response_names_is_a_served_copy(app, client, owner):
    zip_file = owner["outputs"][7]
    assert not str(zip_file["path"]).startswith(str(app["jobs"]))
    got = client.fetch(zip_file["path"])
    (original,) = (app["jobs"] / owner["job"]).glob("*.zip")
    assert got.status_code == 200 and got.content == original.read_bytes()


def test_another_session_sees_nothing(client, owner):
    other = secrets.token_hex(16)
    assert _history(client, other) == []
    for api, args in [
        ("show_job", [owner["job"]]),
        ("reuse_settings", [owner["job"]]),
        ("regenerate_chart", [owner["job"], "Easy", 5]),
    ]:
        assert client.refused(api, other, *args) == "no such job"


@pytest.mark.parametrize(
    "variant", [lambda s: s + "\n", str.upper, lambda s: s[:-1], lambda s: "../" + s[3:]]
)
def test_a_session_id_must_be_exactly_one(client, owner, variant):
    fake = variant(owner["session"])
    assert _history(client, fake) == []
    assert "has no id yet; reload the page" in client.refused("show_job", fake, owner["job"])


# ----------------------------------------------------------------------------- never a path


def test_an_interpolation_prompt_is_never_opened_as_a_file(client, owner, tmp_path):
    session = secrets.token_hex(16)
    for prompt in ("/etc/passwd", owner["image"], "/root/.bashrc"):
        event, out = client.call("interpolate", session, prompt, None, "a cat", None, 2, *FAST)
        assert event == "complete", out
        png = tmp_path / "frame.png"
        png.write_bytes(client.fetch(out[2][0]["path"]).content)
        assert png_parameters(png)["a"] == prompt  # drawn from the text, not read from the file


def test_a_file_the_client_did_not_upload_is_refused(client):
    forged = {"path": "/etc/passwd", "orig_name": "song.ogg", "meta": {"_type": "gradio.FileData"}}
    session = secrets.token_hex(16)
    message = client.refused("generate_charts", *_chart_request(session, forged))
    assert (
        message
        == "Cannot move /etc/passwd to the gradio cache dir because it was not uploaded by a user."
    )
    assert "not uploaded by a user" in client.refused(
        "stylize", session, forged, [forged], 1.0, False, "", 0
    )
    assert "not in the list of choices" in client.refused(
        "regenerate_chart", session, "x", "Extreme", 5
    )


def test_a_one_megabyte_prompt(client):
    message = client.refused("imagine", secrets.token_hex(16), "x" * 1_000_000, 1, *FAST)
    assert (
        message
        == "Prompt is 1,000,000 characters long; at most 2,000 (CLIP reads its first 77 tokens)"
    )


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("seed", "says"),
    [
        (
            2**64,
            "Seed must be a whole number from 0 to 9223372036854775807, not 18446744073709551616",
        ),
        (1e30, "Seed must be a whole number from 0 to 9223372036854775807, not 1e+30"),
        (-1, "Seed must be a whole number from 0 to 9223372036854775807, not -1"),
        (float("nan"), "Seed must be a finite number, not nan"),
        ("seven", "Seed must be a number, not 'seven'"),
    ],
)
def test_seeds_are_checked_before_a_job_is_made(client, song, seed, says):
    session = secrets.token_hex(16)
    request = _chart_request(session, client.upload(song), seed=seed)
    assert client.refused("generate_charts", *request) == says
    assert client.refused("imagine", session, "a drum", 1, seed, False, 2, 3, 2, 4, 8) == says
    assert _history(client, session) == []  # nothing stored, so nothing can break it later


@pytest.mark.parametrize(
    ("bpm", "offset", "says"),
    [
        ("abc", None, "BPM (empty: estimate) must be a number, not 'abc'"),
        (float("inf"), None, "BPM (empty: estimate) must be a finite number, not inf"),
        (5000, None, "BPM must be a number above 0 and at most 1000, not 5000"),
        (120, float("nan"), "Offset s (beat 0 at −offset) must be a finite number, not nan"),
        (120, 1e9, "Offset must be a number from -3600 to 3600 s, not 1000000000"),
    ],
)
def test_timing_numbers(client, song, bpm, offset, says):
    request = _chart_request(secrets.token_hex(16), client.upload(song), bpm, offset)
    assert client.refused("generate_charts", *request) == says


def test_slider_values_out_of_range_or_not_numbers(client):
    session = secrets.token_hex(16)
    assert "Images (image i uses seed + i) must be a number" in client.refused(
        "imagine", session, "a drum", "many", *FAST
    )
    assert "Prior steps must be a finite number, not nan" in client.refused(
        "imagine", session, "a drum", 1, 5, False, float("nan"), 3, 2, 4, 8
    )


# ----------------------------------------------------------------------------- bad files


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that says it is width × height and holds nothing: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-images")
    good = root / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8)).save(good)
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image\n")
    (root / "truncated.png").write_bytes(good.read_bytes()[:200])
    _png_header_only(root / "bomb.png", 30_000, 30_000)
    _png_header_only(root / "large.png", 9_000, 9_000)
    return {p.stem: p for p in root.iterdir()}


BAD_IMAGES = [
    ("empty", "empty.png: the file is empty"),
    ("text", "text.png: not a readable image"),
    ("truncated", "truncated.png: not a readable image"),
    ("bomb", "bomb.png: more than 64,000,000 pixels; scale it down first"),
    ("large", "large.png: 9000×9000 is more than 64,000,000 pixels"),
]


@pytest.mark.parametrize(("name", "says"), BAD_IMAGES)
def test_bad_images_to_every_image_endpoint(client, bad_images, name, says):
    session, bad, good = secrets.token_hex(16), bad_images[name], bad_images["good"]
    content = client.refused(
        "stylize", session, client.upload(bad), [client.upload(good)], 1.0, False, "", 0
    )
    assert says in content
    style = client.refused(
        "stylize", session, client.upload(good), [client.upload(bad)], 1.0, False, "", 0
    )
    assert says.split(":")[1] in style
    assert says in client.refused("vary", session, client.upload(bad), 1, *FAST)
    assert says in client.refused(
        "interpolate", session, "", client.upload(bad), "a cat", None, 2, *FAST
    )


def test_style_weights_that_are_not_numbers(client, bad_images):
    session, good = secrets.token_hex(16), bad_images["good"]
    for weights, says in [
        ("nan", "Style weights must be a number from 0 to 1000000, not nan"),
        ("one two", "Style weights must be numbers such as '1 2'"),
    ]:
        message = client.refused(
            "stylize", session, client.upload(good), [client.upload(good)], 1.0, False, weights, 0
        )
        assert says in message


def test_bad_songs(client, tmp_path):
    text = tmp_path / "song.mp3"
    text.write_text("this is not audio\n" * 50)
    message = client.refused(
        "generate_charts", *_chart_request(secrets.token_hex(16), client.upload(text))
    )
    assert message.startswith("song.mp3: not a readable audio file")
    long = tmp_path / "long.wav"
    sf.write(str(long), np.zeros(16 * 60 * 1000, np.float32), 1000)
    message = client.refused("tempo", client.upload(long))
    assert message == "long.wav: 16.0 min long; the limit is 15 min. Trim the file"


def test_a_timing_file_nested_100000_deep(client, song, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"format": "genelive-chart", "timing": ' + "[" * 100_000 + "]" * 100_000 + "}")
    request = _chart_request(
        secrets.token_hex(16), client.upload(song), None, None, timing=client.upload(deep)
    )
    assert "nested more than 64 levels deep" in client.refused("generate_charts", *request)


# ----------------------------------------------------------------------------- history


def test_one_damaged_record_never_breaks_a_history(app, client, owner):
    session = owner["session"]
    before = _history(client, session)
    for i, record in enumerate(
        [
            "{not json",
            json.dumps({"id": "x", "session": session}),
            json.dumps(
                {
                    "id": "20260101-000000-00000002",
                    "session": session,
                    "kind": "chart",
                    "created": "now",
                    "created_ns": 1,
                    "status": "done",
                    "params": {"seed": 2**70},
                    "results": {},
                }
            ),
        ]
    ):
        folder = app["jobs"] / f"20260101-000000-0000000{i}"
        folder.mkdir()
        (folder / "job.json").write_text(record)
    assert _history(client, session) == before
    message = client.refused("show_job", session, "20260101-000000-00000002")
    assert message.startswith("job 20260101-000000-00000002")


# ----------------------------------------------------------------------------- kill -9


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_killed_app_leaves_no_half_job_and_a_restart_marks_it(tmp_path):
    """`kill -9` of `studio app` mid-job; on restart the job is "interrupted" and its folder
    holds nothing but its record (no partial song folder, no temporary files)."""
    song = short_song(tmp_path, "long song.wav")
    jobs, none, port = tmp_path / "jobs", tmp_path / "none", _free_port()
    command = [
        sys.executable,
        "-m",
        "app.cli",
        "app",
        "--port",
        str(port),
        "--jobs-dir",
        str(jobs),
        "--stytr2",
        str(none),
        "--unclip",
        str(none),
    ]
    app = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = Client(f"http://127.0.0.1:{port}/")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if client.http.get(client.url + "/").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        session = secrets.token_hex(16)
        request = _chart_request(session, client.upload(song))
        request[5] = ["Beginner", "Easy", "Medium", "Hard", "Challenge"]
        client.http.post(
            f"{client.url}/gradio_api/call/generate_charts", json={"data": request}
        )  # started; never waited for
        record = None
        while time.monotonic() < deadline and record is None:
            for sidecar in jobs.glob("*/job.json"):
                record = json.loads(sidecar.read_text())
            time.sleep(0.02)
        app.kill()  # SIGKILL: nothing of ours runs after this
        app.wait(timeout=30)
    finally:
        app.kill()
    assert record is not None and record["status"] == "running"
    folder = jobs / record["id"]
    build_app(jobs_dir=jobs, stytr2_dir=none, unclip_dir=none)  # what `studio app` does first
    after = json.loads((folder / "job.json").read_text())
    assert after["status"] == "interrupted" and "run it again" in after["error"]
    assert everything_in(folder) == ["job.json"]


# ----------------------------------------------------------------------------- every endpoint


def _endpoint_cases(client: Client, owner: dict, song: Path, png: Path, text: Path) -> dict:
    """Per named endpoint: (good arguments, bad arguments, the whole refusal). The session is the
    owner's, so the good calls reach its job; each bad call is one a careless client makes. A
    refusal of None: the bad call completes and shows nothing (History of an unknown session)."""
    session, job = owner["session"], owner["job"]
    upload = client.upload
    return {
        "tempo": (
            [upload(song)],
            [upload(text)],
            "text.png: not a readable audio file (its contents are not wav, flac, ogg or mp3, "
            "whatever its name says)",
        ),
        "generate_charts": (
            _chart_request(session, upload(song)),
            _chart_request(session, upload(song), bpm=-3),
            "BPM (empty: estimate) must be at least 0, not -3",
        ),
        "regenerate_chart": (
            [session, job, "Easy", 9],
            [session, "../" + job, "Easy", 9],
            "no such job",
        ),
        "stylize": (
            [session, upload(png), [upload(png)], 1.0, False, "", 0],
            [session, upload(png), [upload(png)], 7.0, False, "", 0],
            "Style strength must be from 0 to 1, not 7",
        ),
        "imagine": (
            [session, "a drum", 1, *FAST],
            [session, "", 1, *FAST],
            "Prompt is empty: describe the image to make",
        ),
        "vary": (
            [session, upload(png), 1, *FAST],
            [session, None, 1, *FAST],
            "upload an image to vary",
        ),
        "interpolate": (
            [session, "a drum", None, "a cat", None, 2, *FAST],
            [session, "", None, "a cat", None, 2, *FAST],
            "give each end a prompt or an image",
        ),
        "history": ([session], ["not a session"], None),
        "reuse_settings": ([session, job], [session, "no-such-job"], "no such job"),
        "show_job": ([session, job], [session, job + "/../" + job], "no such job"),
        "models": ([], [], None),
    }


def test_every_endpoint_with_good_and_bad_input(app, client, owner, song, bad_images):
    """The table's keys are the app's named endpoints, so a new endpoint without a case fails."""
    named = client.http.get(f"{client.url}/gradio_api/info").json()["named_endpoints"]
    cases = _endpoint_cases(client, owner, song, bad_images["good"], bad_images["text"])
    assert sorted(f"/{name}" for name in cases) == sorted(named)
    for name, (good, bad, says) in cases.items():
        event, out = client.call(name, *good)
        assert event == "complete", (name, out)
        if says is not None:
            assert client.refused(name, *bad) == says, name
    assert _history(client, "not a session") == []
    event, models = client.call("models")
    assert set(models[0]) == {"onset", "steps", "stytr2", "unclip"}
    assert models[0]["unclip"]["test_model"] is True
