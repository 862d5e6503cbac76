"""The web app in a real browser (Debian's chromium), started with production's settings
(app.web.serve): every control a user can click is clicked, and what it changes is checked on
the page and in the files the page serves.

Each test opens its own browser context: its own local storage, so its own session."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import simfile
from PIL import Image

from app.services.images import TEST_MODEL_NOTE
from app.web.charts_tab import TIMING_FILE_NOTE
from export.images import png_parameters
from tests.helpers import click_track, start_app, write_audio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"needs Debian's chromium at {CHROMIUM} (apt)"
)
WAIT_MS = 90_000  # a job's longest wait on 2 busy cores
BPM_FIELD = "BPM (empty: estimate)"
OFFSET_FIELD = "Offset s (beat 0 at −offset)"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser-files")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(root / "content.png")
    Image.new("RGB", (30, 30), (200, 40, 90)).save(root / "red.png")
    Image.new("RGB", (30, 30), (20, 140, 190)).save(root / "blue.png")
    (root / "timing.sm").write_text(
        "#TITLE:t;\n#OFFSET:0.100;\n#BPMS:0.000=125.000;\n#NOTES:\n dance-single:\n x:\n Easy:\n"
        " 1:\n 0,0,0,0,0:\n0000\n0000\n0000\n0000\n;\n"
    )
    return {
        "song": write_audio(root / "click.wav", click_track(120.0, 16.0, first_beat_s=0.5)[0]),
        # Long enough that a cancel clicked during its onset stage lands before it ends (4
        # minutes left too short a window on two busy cores).
        "long song": write_audio(
            root / "long.wav", click_track(120.0, 600.0, sr=16_000)[0], sr=16_000
        ),
        **{p.name: p for p in root.iterdir()},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    demo, url = start_app(tmp_path_factory.mktemp("browser-app"))
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.goto(server)
    yield page
    context.close()


# ----------------------------------------------------------------------------- helpers


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def upload(page, label: str, paths) -> None:
    """Files into the upload field whose label is `label`."""
    block = page.locator(".block").filter(has=page.get_by_text(label, exact=True)).last
    block.locator("input[type=file]").set_input_files(paths)


def set_slider(page, label: str, value) -> None:
    """Type into a slider's number box. On two busy cores a value typed while the page is still
    settling can be dropped by the browser's component; type it again then, as a user would."""
    field = page.get_by_label(f"number input for {label}")
    for _ in range(3):
        field.fill(str(value))
        field.press("Enter")
        try:
            expect(field).to_have_value(str(value), timeout=5_000)
            return
        except AssertionError:
            continue
    expect(field).to_have_value(str(value))


def choose(page, dropdown: str, option: str) -> None:
    field = page.get_by_label(dropdown, exact=True)
    field.click()
    options = page.locator(f"#{field.get_attribute('aria-controls')}")
    options.get_by_role("option", name=option, exact=True).click()


def rows(page) -> list[list[str]]:
    """The visible table rows (headers included) as lists of cell texts."""
    found = page.get_by_role("row")
    return [
        [c.strip() for c in row.locator("[role=gridcell], [role=columnheader]").all_inner_texts()]
        for row in found.all()
        if row.is_visible()
    ]


def table(page, first_header: str) -> list[list[str]]:
    """The rows under the visible header row that starts with `first_header`."""
    shown = rows(page)
    start = next(i for i, r in enumerate(shown) if r and r[0] == first_header)
    width = len(shown[start])
    body = []
    for r in shown[start + 1 :]:
        if len(r) != width:
            break
        body.append(r)
    return body


def served(page, suffix: str) -> list[str]:
    """The URLs of the served files on the page whose name ends with `suffix`."""
    links = page.locator("a[href*='file=']")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    return sorted(h for h in hrefs if h.endswith(suffix))


def fetch(page, url: str) -> bytes:
    response = page.request.get(url)
    assert response.ok, url
    return response.body()


def job_id(page) -> str:
    return page.get_by_label("Job", exact=True).input_value()


def generate(page, before: str | None = None) -> str:
    """Click Generate and wait for a new job's results; returns its id."""
    before = job_id(page) if before is None else before
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_label("Job", exact=True)).not_to_have_value(re.compile(f"^{before}$"))
    expect(page.get_by_label("Job", exact=True)).to_have_value(re.compile(r"^\d{8}-\d{6}-\w+$"))
    return job_id(page)


def error_toast(page, text: str) -> None:
    expect(page.get_by_text(text, exact=True).first).to_be_visible()


def _bpms(sm) -> list[tuple[float, float]]:
    return [tuple(map(float, change.split("="))) for change in sm.bpms.split(",")]


def song_with_tempo(page, files) -> None:
    upload(page, "Song (wav, flac, ogg, mp3)", files["song"])
    expect(page.get_by_text("best", exact=True).first).to_be_visible()


# ----------------------------------------------------------------------------- Charts


def test_tempo_rows_detect_and_nudges(page, files):
    song_with_tempo(page, files)
    bpm, offset = page.get_by_label(BPM_FIELD), page.get_by_label(OFFSET_FIELD)
    candidates = {r[3]: (r[0], r[1]) for r in table(page, "BPM")}
    assert candidates["best"][0] == "120" and {"half-beat", "×2", "×½"} <= set(candidates)
    assert candidates["half-beat"][0] == "120"  # the same tempo, its beats half a beat later
    expect(bpm).to_have_value(candidates["best"][0])  # filled in (the boxes may lag the table)
    expect(offset).to_have_value(candidates["best"][1])
    for relation in ("×2", "half-beat", "×½", "best"):  # any cell of a row picks that row
        cell = page.get_by_role("row").filter(has_text=relation).get_by_role("gridcell").last
        cell.click()
        expect(bpm).to_have_value(candidates[relation][0])
        expect(offset).to_have_value(candidates[relation][1])
    start = float(candidates["best"][1])
    page.get_by_role("button", name="offset +10 ms").click()
    expect(offset).to_have_value(str(round(start + 0.01, 4)))
    for _ in range(3):
        page.get_by_role("button", name="offset −10 ms").click()
    expect(offset).to_have_value(str(round(start - 0.02, 4)))
    bpm.fill("97")
    page.get_by_role("button", name="Detect tempo").click()  # asks again: the best is back
    expect(bpm).to_have_value("120")
    expect(offset).to_have_value(candidates["best"][1])


def test_generate_with_every_option_then_listen_regenerate_and_random_seed(page, files):
    song_with_tempo(page, files)
    for name in ("Beginner", "Medium", "Challenge"):
        page.get_by_label(name, exact=True).uncheck()
    page.get_by_label("ssc", exact=True).uncheck()
    page.get_by_text("Density (notes per second, 0 = automatic)").click()
    set_slider(page, "Easy", 3)
    page.get_by_text("Title, artist, keys, sampling").click()
    page.get_by_label("Title (empty: the audio's tags or name)").fill("Clicks")
    page.get_by_label("Artist (empty: the audio's tags)").fill("Metronome")
    page.get_by_label("osu!mania keys").fill("7")
    set_slider(page, "Step sampling temperature", 0.5)
    page.get_by_label("Seed", exact=True).fill("5")
    first = generate(page, before="")
    expect(page.get_by_text("Done.").first).to_be_visible()

    stats = table(page, "difficulty")
    assert [r[0] for r in stats] == ["Easy", "Hard"] and {r[5] for r in stats} == {"5"}
    assert page.locator("img[src*='Easy.png']").count() == 1
    assert page.locator("img[src*='Hard.png']").count() == 1
    assert served(page, ".ssc") == [] and len(served(page, ".zip")) == 1
    osu = [fetch(page, url).decode() for url in served(page, ".osu")]
    assert len(osu) == 2 and all("CircleSize:7" in text for text in osu)
    assert all("Title:Clicks" in text and "Artist:Metronome" in text for text in osu)
    (sm_url,) = served(page, "Clicks.sm")
    sm = simfile.loads(fetch(page, sm_url).decode(), strict=True)
    assert _bpms(sm) == [(0.0, 120.0)] and sm.title == "Clicks"
    assert [c.difficulty for c in sm.charts] == ["Easy", "Hard"]

    # "Listen to" swaps the song with claps for the chosen difficulty's.
    assert sorted(Path(u).name for u in served(page, ".ogg")) == ["Hard.ogg", "click.ogg"]
    choose(page, "Listen to", "Easy")
    expect(page.locator("a[href$='Easy.ogg']")).to_have_count(1)

    # Regenerate one difficulty with a seed of its own: the other is kept.
    choose(page, "Regenerate this difficulty", "Hard")
    page.get_by_label("with seed (empty: random)").fill("99")
    page.get_by_role("button", name="Regenerate", exact=True).click()
    expect(page.get_by_text("Hard regenerated.").first).to_be_visible()
    after = table(page, "difficulty")
    assert after[0] == stats[0] and after[1][5] == "99" and job_id(page) == first

    # Random seed: a new seed is drawn, shown in the Seed field and used for every chart.
    page.get_by_label("Random seed").check()
    generate(page)
    seed = page.get_by_label("Seed", exact=True).input_value()
    assert seed != "5" and {r[5] for r in table(page, "difficulty")} == {seed}


def test_a_timing_file_replaces_the_tempo(page, files):
    song_with_tempo(page, files)
    upload(page, "…or timing from an existing chart", files["timing.sm"])
    expect(page.get_by_text(TIMING_FILE_NOTE)).to_be_visible()
    expect(page.get_by_label(BPM_FIELD)).to_have_value("")
    expect(page.get_by_label(OFFSET_FIELD)).to_have_value("")
    generate(page, before="")
    (sm_url,) = served(page, "click.sm")  # (the other .sm is the upload)
    sm = simfile.loads(fetch(page, sm_url).decode(), strict=True)
    assert _bpms(sm) == [(0.0, 125.0)] and float(sm.offset) == 0.1
    page.get_by_label(BPM_FIELD).fill("120")  # both at once: refused in the app's words
    page.get_by_role("button", name="Generate", exact=True).click()
    error_toast(page, "give either the timing file or BPM (and Offset), not both")


def test_bad_numbers_are_one_line_in_the_page(page, files):
    song_with_tempo(page, files)
    page.get_by_label(BPM_FIELD).fill("5000")
    page.get_by_role("button", name="Generate", exact=True).click()
    error_toast(page, "BPM must be a number above 0 and at most 1000, not 5000")


def test_cancel_mid_job(page, files):
    upload(page, "Song (wav, flac, ogg, mp3)", files["long song"])
    expect(page.get_by_text("best", exact=True).first).to_be_visible()
    page.get_by_role("button", name="Generate", exact=True).click()
    # Cancelled while the onset network runs (seconds on a 10-minute song; the five charts
    # after it take well under one, too little time for a click on two busy cores).
    expect(page.get_by_text(re.compile(r"^onsets\b")).first).to_be_visible()
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_text("Cancelled.").first).to_be_visible()
    assert job_id(page) == ""  # no results shown
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("gridcell", name="cancelled")).to_be_visible()


# ----------------------------------------------------------------------------- History


def test_history_rows_reuse_and_show(page, browser, server, files):
    song_with_tempo(page, files)
    page.get_by_label("Seed", exact=True).fill("5")
    page.get_by_text("Density (notes per second, 0 = automatic)").click()
    set_slider(page, "Easy", 3)
    expect(page.get_by_label("number input for Easy")).to_have_value("3")
    older = generate(page, before="")
    page.get_by_label("Seed", exact=True).fill("8")
    set_slider(page, "Easy", 0)
    page.get_by_label("Challenge", exact=True).uncheck()
    newer = generate(page)

    page.reload()  # the history is kept for this browser
    # Opened before Reuse fills it: a slider first drawn after its value arrived can show
    # its initial value (Gradio renders closed accordions lazily).
    page.get_by_text("Density (notes per second, 0 = automatic)").click()
    expect(page.get_by_label("number input for Easy")).to_have_value("0")
    page.get_by_role("tab", name="History").click()
    expect(page.get_by_role("gridcell", name=older)).to_be_visible()
    history = table(page, "job")
    assert [r[0] for r in history] == [newer, older]  # newest first
    assert [r[5] for r in history] == ["8", "5"] and history[1][7] == "done"
    page.get_by_role("gridcell", name=older).click()
    expect(page.get_by_label("Job (click a row)")).to_have_value(older)

    page.get_by_role("button", name="Reuse these settings").click()
    page.get_by_role("tab", name="Charts").click()
    expect(page.get_by_label("Seed", exact=True)).to_have_value("5")
    expect(page.get_by_label(BPM_FIELD)).to_have_value("120")
    assert page.get_by_label("Challenge", exact=True).is_checked()
    expect(page.get_by_label("number input for Easy")).to_have_value("3")

    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="Show its results").click()
    page.get_by_role("tab", name="Charts").click()
    expect(page.get_by_label("Job", exact=True)).to_have_value(older)
    expect(page.get_by_text("From history.").first).to_be_visible()
    assert [r[0] for r in table(page, "difficulty")][-1] == "Challenge"

    # Another browser sees none of it, on any tab.
    other = browser.new_context().new_page()
    other.goto(server)
    other.get_by_role("tab", name="History").click()
    other.get_by_role("button", name="Refresh").click()
    expect(other.get_by_role("columnheader", name="job").first).to_be_visible()
    assert table(other, "job") == []
    other.context.close()


# ----------------------------------------------------------------------------- Style, Images


def test_style_tab(page, files):
    page.get_by_role("tab", name="Style").click()
    upload(page, "Content", files["content.png"])
    upload(page, "Style image(s)", [files["red.png"], files["blue.png"]])
    set_slider(page, "Style strength", 0.5)
    page.get_by_label("Keep the content's colours").check()
    page.get_by_label("Style weights (one per style, e.g. '1 2')").fill("1 3")
    page.get_by_label("Longer side px (0 = as uploaded)").fill("64")
    page.get_by_role("button", name="Stylise").click()
    expect(page.get_by_role("gridcell", name="done")).to_be_visible()
    (url,) = served(page, "content-stylised.png")
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "out.png"
        png.write_bytes(fetch(page, url))
        with Image.open(png) as image:
            assert image.size == (64, 46)
        params = png_parameters(png)
    assert params["alpha"] == 0.5 and params["styles"] == ["red.png", "blue.png"]
    assert params["style_weights"] == [1, 3] and params["preserve_color"] is True
    (row,) = table(page, "job")
    assert row[2:] == ["content.png", "red.png, blue.png", "0.5", "done"]


def test_images_tab(page, files):
    page.get_by_role("tab", name="Images", exact=True).click()
    expect(page.get_by_text(TEST_MODEL_NOTE).first).to_be_visible()
    page.get_by_text("Seed, steps and guidance").click()
    page.get_by_label("Random seed").filter(visible=True).uncheck()
    seed = page.get_by_label("Seed", exact=True).filter(visible=True)  # not the Charts tab's
    seed.fill("11")
    expect(seed).to_have_value("11")  # filled after the checkbox's own update has landed
    for label, value in [
        ("Prior steps", 2),
        ("Decoder steps", 3),
        ("Super-res steps", 2),
        ("Prior guidance", 3),
        ("Decoder guidance", 5),
    ]:
        set_slider(page, label, value)
    page.get_by_label("Prompt", exact=True).fill("a neon drum")
    set_slider(page, "Images (image i uses seed + i)", 2)
    page.get_by_role("button", name="Make images").click()
    expect(page.get_by_role("gridcell", name="a neon drum")).to_be_visible()
    shown = sorted(Path(u).name for u in served(page, ".png"))
    assert shown == ["imagine-000.png", "imagine-001.png"]
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "one.png"
        png.write_bytes(fetch(page, served(page, "imagine-001.png")[0]))
        params = png_parameters(png)
    assert params["seed"] == 12 and params["prompt"] == "a neon drum"
    assert params["steps"] == {"prior": 2, "decoder": 3, "super_res": 2}

    page.get_by_role("tab", name="Variations").click()
    upload(page, "Image", files["content.png"])
    set_slider(page, "Variations", 1)
    page.get_by_role("button", name="Make variations").click()
    expect(page.get_by_role("gridcell", name="vary")).to_be_visible()

    page.get_by_role("tab", name="Interpolate").click()
    upload(page, "…or from: image", files["content.png"])
    page.get_by_label("To: prompt").fill("a cat")
    set_slider(page, "Frames (ends included, same noise)", 3)
    page.get_by_role("button", name="Interpolate", exact=True).click()
    expect(page.get_by_role("gridcell", name="content.png → a cat")).to_be_visible()
    assert len(served(page, ".png")) == 3

    # Cancel while the second of four long images is being made.
    for label, value in [("Prior steps", 50), ("Decoder steps", 100), ("Super-res steps", 20)]:
        set_slider(page, label, value)
    page.get_by_role("tab", name="From text").click()
    set_slider(page, "Images (image i uses seed + i)", 4)
    page.get_by_role("button", name="Make images").click()
    expect(page.get_by_text("image 2 of 4").first).to_be_visible()
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_text("Cancelled.").first).to_be_visible()
    tasks = [(r[2], r[-1]) for r in table(page, "job")]
    assert tasks == [
        ("imagine", "cancelled"),
        ("interpolate", "done"),
        ("vary", "done"),
        ("imagine", "done"),
    ]


def test_models_tab(page):
    page.get_by_role("tab", name="Models").click()
    expect(page.get_by_text("Onset model").first).to_be_visible()
    expect(page.get_by_text("StyTr²").first).to_be_visible()
