"""The web app: the Charts service, history per browser session, the API over gradio_client
(the page itself in a browser: tests/test_browser.py)."""

from __future__ import annotations

import json
import secrets
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.jobs import JobError, JobStore
from app.services.charts import ChartService, job_view
from app.services.images import TEST_MODEL_NOTE, ImageService
from export.images import png_parameters
from genelive import ChartGenerator
from genelive.audio import AudioError
from tests.helpers import click_track, write_audio
from unclip import Cancelled
from unclip.tiny import make_tiny_unclip


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    audio, _ = click_track(120.0, 16.0, first_beat_s=0.5)
    return write_audio(tmp_path_factory.mktemp("song") / "click.wav", audio)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> ChartService:
    return ChartService(ChartGenerator.load(), JobStore(tmp_path_factory.mktemp("jobs")))


def _run(service, session, song, **kw):
    args = dict(
        bpm=120.0,
        offset_s=-0.5,
        timing_file=None,
        difficulties=["Easy", "Hard"],
        densities=[0, 0, 0, 0, 0],
        seed=7,
        random_seed=False,
        formats=["sm", "osu"],
    )
    args.update(kw)
    stages = []
    report = lambda fraction, stage: stages.append((fraction, stage))  # noqa: E731
    job = service.generate(session, str(song), *args.values(), progress=report)
    return [*stages, (1.0, job)]


def test_generate_writes_a_job_with_everything_the_panel_shows(service, song):
    session = secrets.token_hex(16)
    stages = _run(service, session, song)
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "notes, arrows and holds: Hard" in [s for _, s in stages]
    job = stages[-1][1]
    view = job_view(job)
    assert [Path(p).name for p, _ in view["gallery"]] == ["Easy.png", "Hard.png"]
    assert all(Path(p).is_file() for p, _ in view["gallery"])
    assert all(Path(p).is_file() for p in view["preview"].values())
    assert [row[0] for row in view["stats"]] == ["Easy", "Hard"] and view["stats"][0][5] == 7
    names = {Path(p).name for p in view["files"]}
    assert {"click.sm", "click.ogg", "click.json"} <= names and sum(".osu" in n for n in names) == 2
    with zipfile.ZipFile(view["zip"]) as z:  # the song folder, ready for StepMania's Songs/
        assert {Path(n).name for n in z.namelist()} >= {"click.sm", "click.ogg"}
    sidecar = json.loads((job.folder / "job.json").read_text())
    assert sidecar["params"]["seed"] == 7 and sidecar["status"] == "done"


def test_history_is_per_session_and_survives_a_new_service(service, song, tmp_path):
    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    job = _run(service, mine, song, difficulties=["Medium"])[-1][1]
    again = ChartService(service.generator, JobStore(service.store.root))  # a restarted app
    assert job.id in [row[0] for row in again.history_rows(mine)]
    assert job.id not in [row[0] for row in again.history_rows(other)]
    with pytest.raises(JobError):
        again.job(other, job.id)
    with pytest.raises(JobError):
        again.job(mine, "../../etc")


def test_regenerate_one_difficulty_keeps_the_others(service, song):
    session = secrets.token_hex(16)
    job = _run(service, session, song)[-1][1]
    chart_json = job.folder / "song" / "click.json"
    before = json.loads(chart_json.read_text())["charts"]
    fresh = ChartService(service.generator, service.store)  # no analysis in memory: re-reads
    fresh.regenerate(session, job.id, "hard", 12345)
    after = json.loads(chart_json.read_text())["charts"]
    assert after[0]["notes"] == before[0]["notes"]  # Easy untouched
    assert after[1]["seed"] == 12345 and after[1]["notes"] != before[1]["notes"]


def test_cancel_mid_job_marks_it_and_stops_the_work(service, song):
    # Cancel pressed once the analysis is done and Easy's chart is made: Hard is never made,
    # nothing is written, the job says "cancelled".
    session = secrets.token_hex(16)
    stages = []

    def cancel_at_hard(fraction, stage):
        stages.append(stage)
        if stage == "notes, arrows and holds: Hard":
            service.cancel(session)

    args = (120.0, -0.5, None, ["Easy", "Hard"], [0] * 5, 1, False, ["sm"])
    with pytest.raises(Cancelled):
        service.generate(session, str(song), *args, cancel_at_hard)
    assert "notes, arrows and holds: Easy" in stages
    assert stages[-1] == "notes, arrows and holds: Hard"  # no stage started after Cancel
    (record,) = service.store.history(session)
    assert record["status"] == "cancelled"
    assert sorted(p.name for p in (service.store.root / record["id"]).iterdir()) == ["job.json"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"song": None}, ValueError, "upload a song first"),
        ({"bpm": 5000.0}, ValueError, "at most 1000"),
        ({"difficulties": []}, ValueError, "unknown difficulty"),
        ({"formats": []}, ValueError, "unknown chart format"),
        ({"silent": True}, AudioError, "silent"),
    ],
)
def test_bad_input_is_a_clear_error(service, song, tmp_path, change, error, message):
    session = secrets.token_hex(16)
    path = song
    if change.pop("silent", False):
        path = write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 3, np.float32), 16000)
    if "song" in change:
        path = change.pop("song")
    with pytest.raises(error, match=message):
        _run(service, session, path if path else "", **change)


def test_tempo_candidates_for_the_ui(service, song):
    rows, bpm, _, note = service.tempo(str(song))
    assert bpm == pytest.approx(120, rel=0.01) and rows[0][0] == bpm and note


FAST = {
    "seed": 5,
    "random_seed": False,
    "prior_steps": 2,
    "decoder_steps": 3,
    "sr_steps": 2,
    "prior_guidance": 4,
    "decoder_guidance": 8,
}


def test_images_service_jobs_history_and_cancel(tmp_path):
    service = ImageService(make_tiny_unclip(tmp_path / "tiny"), JobStore(tmp_path / "jobs"))
    assert TEST_MODEL_NOTE in service.status()
    session = secrets.token_hex(16)
    job, shown, _ = service.run(session, "imagine", {"prompt": "a drum", "num_images": 2}, FAST)
    assert [Path(p).name for p, _ in shown] == ["imagine-000.png", "imagine-001.png"]
    assert shown[1][1].startswith("seed 6") and TEST_MODEL_NOTE in shown[1][1]
    assert png_parameters(shown[0][0])["prompt"] == "a drum"
    assert job.record["status"] == "done" and job.record["results"]["seeds"] == [5, 6]
    ends = {"a_prompt": "a cat", "a_image": None, "b_prompt": "", "b_image": shown[0][0]}
    _, strip, _ = service.run(session, "interpolate", {**ends, "frames": 3}, FAST)
    assert len(strip) == 3 and strip[2][1].startswith("seed 5, t = 1.0")

    def cancel_soon(fraction, what):
        service.cancel(session)

    with pytest.raises(Cancelled):
        service.run(session, "vary", {"image": shown[0][0], "num_images": 1}, FAST, cancel_soon)
    rows = service.history_rows(session)
    assert [r[2] for r in rows] == ["vary", "interpolate", "imagine"]
    assert rows[0][5] == "cancelled" and rows[2][3] == "a drum"
    with pytest.raises(ValueError, match="prompt or an image"):
        service.run(
            session,
            "interpolate",
            {"a_prompt": "", "a_image": None, "b_prompt": "x", "b_image": None, "frames": 3},
            FAST,
        )
    assert "No unCLIP model" in ImageService(tmp_path / "none", JobStore(tmp_path)).status()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from app.web import build_app, serve

    jobs = tmp_path_factory.mktemp("app-jobs")
    tiny = make_tiny_unclip(tmp_path_factory.mktemp("unclip") / "tiny")
    demo = build_app(jobs_dir=jobs, stytr2_dir=jobs / "no-stytr2", unclip_dir=tiny)
    yield serve(demo, port=None, block=False)  # production's launch settings
    demo.close()


def test_api_endpoints_with_gradio_client(server, song, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    names = set(client.view_api(return_format="dict")["named_endpoints"])
    assert {
        "/tempo",
        "/generate_charts",
        "/regenerate_chart",
        "/history",
        "/reuse_settings",
        "/show_job",
        "/models",
        "/stylize",
    } <= names
    session = secrets.token_hex(16)
    song_file = handle_file(str(song))
    # The Charts tab's reusable settings, in its order (the timing file goes after BPM and
    # offset in the call, and is never reused).
    given = [120, -0.5, ["Easy", "Medium"], 0, 2.5, 0, 0, 0, 3, False, ["sm", "osu", "json"]]
    given += [6, 0.7, "Click", "Metronome"]
    out = client.predict(
        session, song_file, *given[:2], None, *given[2:], api_name="/generate_charts"
    )
    job_id, stats, files = out[1], out[5], out[6]
    assert [row[0] for row in stats["data"]] == ["Easy", "Medium"] and stats["data"][0][2] > 0
    osu = [Path(f).read_text() for f in files if f.endswith(".osu")]
    assert len(osu) == 2 and all("CircleSize:6" in text for text in osu)
    assert all("Title:Click" in text and "Artist:Metronome" in text for text in osu)
    history = client.predict(session, api_name="/history")
    assert history["data"][0][0] == job_id
    # Every setting comes back as it was given, in the order of the Charts tab's controls
    # (the seed as used; "random seed" off so that the same seed is used again).
    settings = client.predict(session, job_id, api_name="/reuse_settings")
    assert list(settings) == given
    redone = client.predict(session, job_id, "Easy", 99, api_name="/regenerate_chart")
    assert redone[5]["data"][0][5] == 99  # the new seed, in the stats table
    shown = client.predict(session, job_id, api_name="/show_job")
    assert shown[1] == job_id and Path(shown[7]).suffix == ".zip"
    rows, bpm, _, _ = client.predict(song_file, api_name="/tempo")
    assert bpm == pytest.approx(120, rel=0.01) and rows["data"][0][3] == "best"
    with pytest.raises(Exception, match="no such job"):
        client.predict(secrets.token_hex(16), job_id, api_name="/show_job")
    with pytest.raises(Exception, match="at most 1000"):
        client.predict(
            session,
            handle_file(str(song)),
            5000,
            None,
            None,
            ["Easy"],
            0,
            0,
            0,
            0,
            0,
            3,
            False,
            ["sm"],
            api_name="/generate_charts",
        )
    models = client.predict(api_name="/models")
    assert models["onset"]["bundled"] is True and models["steps"]["backend"] == "torch"
    assert models["unclip"]["test_model"] is True and models["unclip"]["backend"] == "torch"
    picture = tmp_path / "content.png"
    Image.new("RGB", (32, 32), (90, 40, 200)).save(picture)
    with pytest.raises(Exception, match="no StyTr² weights"):  # none installed in the test app
        client.predict(
            session,
            handle_file(str(picture)),
            [handle_file(str(picture))],
            1.0,
            False,
            "",
            0,
            api_name="/stylize",
        )
    status, gallery, files, rows = client.predict(
        session, "a drum", 2, *FAST.values(), api_name="/imagine"
    )
    assert "done" in status and len(gallery) == len(files) == 2
    assert png_parameters(files[1])["seed"] == 6 and rows["data"][0][2] == "imagine"
    _, variations, _, _ = client.predict(
        session, handle_file(str(picture)), 1, *FAST.values(), api_name="/vary"
    )
    assert len(variations) == 1
    with pytest.raises(Exception, match="Prior steps must be from 2 to 50, not 1"):  # the slider
        client.predict(session, "x", 1, 5, False, 1, 3, 2, 4, 8, api_name="/imagine")
