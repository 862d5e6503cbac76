"""From a song to chart files: the `studio chart` command, the API, determinism, playability."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from app.cli import main
from export.atomic import OutputError
from genelive import ChartGenerator
from genelive.formats.reading import check_round_trip, read_chart_file
from genelive.steps.arrows import HEAD, N_STATES, STATE_COLUMNS, TAIL, TAP, count_notes
from genelive.steps.model import PlayRules
from tests.helpers import click_track, write_audio

SECONDS = 24.0


@pytest.fixture(scope="module")
def song_path(tmp_path_factory):
    audio, _ = click_track(120.0, SECONDS, first_beat_s=0.5)
    return write_audio(tmp_path_factory.mktemp("song") / "click song.wav", audio)


@pytest.fixture(scope="module")
def generator():
    return ChartGenerator.load()


def _chart(args, capsys) -> tuple[int, dict | None, str]:
    code = main(["chart", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and out.strip().startswith("{") else None), err


def test_studio_chart_writes_a_song_folder_that_reads_back(song_path, tmp_path, capsys):
    out = tmp_path / "out"
    args = [song_path, "-o", out, "--json", "--bpm", 120, "--offset", -0.5]
    code, summary, _ = _chart(args, capsys)
    assert code == 0
    assert summary["bpm"] == 120.0 and summary["offset"] == -0.5
    assert [c["difficulty"] for c in summary["charts"]] == [
        "Beginner",
        "Easy",
        "Medium",
        "Hard",
        "Challenge",
    ]
    for c in summary["charts"]:
        assert c["notes"] > 0 and 1 <= c["meter"] <= 20
        assert c["nps"] == pytest.approx(c["notes"] / SECONDS, abs=0.01)
    names = sorted(p.split("/")[-1] for p in summary["files"])
    assert "click song.ogg" in names and "click song.sm" in names and "click song.ssc" in names
    assert sum(n.endswith(".osu") for n in names) == 5
    song = read_chart_file(out / "click song.json")
    assert sf.info(str(out / "click song.ogg")).duration == pytest.approx(SECONDS, abs=0.01)
    for path in out.iterdir():
        if path.suffix in (".sm", ".ssc", ".osu"):
            assert check_round_trip(song, path) <= 0.001


def test_notes_sit_on_the_beats_of_a_click_track(song_path, generator):
    song = generator(song_path, difficulties="beginner,hard", bpm=120, offset_s=-0.5)
    for chart in song.charts:
        beats = np.array([n.beat for n in chart.notes])
        times = np.array([n.time_s for n in chart.notes])
        np.testing.assert_allclose(times, 0.5 + 0.5 * beats, atol=1e-9)  # beat 0 at 0.5 s
        sub = 1 if chart.difficulty == "Beginner" else 4
        assert np.allclose(beats * sub, np.round(beats * sub))  # on the allowed subdivisions
        on_clicks = np.mean(np.isclose(beats, np.round(beats)))  # clicks only on the beats
        assert on_clicks >= 0.8, (chart.difficulty, on_clicks)


def test_same_seed_same_bytes_other_seed_other_chart(song_path, generator, tmp_path):
    def files(seed, folder):
        song = generator(song_path, seed=seed, bpm=120, offset_s=-0.5)
        paths = song.save(tmp_path / folder, formats=["sm", "osu", "json"])
        return {p.name: p.read_bytes() for p in paths}

    a, b, c = files(3, "a"), files(3, "b"), files(4, "c")
    assert a == b
    assert a["click song.sm"] != c["click song.sm"]


def test_charts_are_playable(song_path, generator):
    song = generator(song_path, seed=1, bpm=240, offset_s=-0.5, density_nps={"challenge": 1.0})
    for chart in song.charts:
        events = []  # (time, +1 down / -1 up); a foot lifts at a tail as another steps
        by_column: dict[int, list] = {}
        for n in chart.notes:
            end = n.end_time_s if n.is_hold else n.time_s
            events += [(n.time_s, 1), (end - 1e-6 if n.is_hold else end + 1e-6, -1)]
            by_column.setdefault(n.column, []).append((n.time_s, end))
        down = np.cumsum([d for _, d in sorted(events)])
        assert down.max() <= (1 if chart.difficulty == "Beginner" else 2)
        for spans in by_column.values():  # nothing stepped on a held column
            spans.sort()
            assert all(s2[0] > s1[1] for s1, s2 in itertools.pairwise(spans))
    assert song.chart("Challenge").nps == pytest.approx(1.0, abs=0.1)  # the user's density


def test_tempo_is_estimated_when_not_given(song_path, generator):
    song = generator(song_path, difficulties=["Easy"])
    assert song.tempo is not None
    assert song.timing.bpm == pytest.approx(120.0, rel=0.01)
    summary = song.summary()
    assert summary["tempo_candidates"][0]["bpm"] == song.timing.bpm
    assert {c["relation"] for c in summary["tempo_candidates"]} >= {"×2", "×½"}


def test_a_song_whose_tempo_changes_is_charted_on_a_tempo_map(generator, tmp_path):
    from tests.test_tempo_map import changing_clicks

    audio, clicks = changing_clicks([(128.0, 30.0), (160.0, 30.0)])
    path = write_audio(tmp_path / "changes.wav", audio)
    song = generator(path, difficulties=["Medium"])
    assert [round(bpm) for _, bpm in song.timing.bpms] == [128, 160]
    note_s = np.array([n.time_s for n in song.chart("Medium").notes])
    assert np.abs(note_s[:, None] - clicks[None, :]).min(axis=1).max() < 0.02  # on the clicks
    for written in song.save(tmp_path / "out", formats=("sm", "osu")):
        if written.suffix in (".sm", ".osu"):
            read = read_chart_file(written)
            assert [round(bpm) for _, bpm in read.timing.bpms] == [128, 160]
            assert check_round_trip(song, written) < 0.002


def test_timing_from_an_existing_chart(song_path, tmp_path, capsys):
    src = tmp_path / "src"
    code, _, _ = _chart(
        [song_path, "-o", src, "--json", "--bpm", 120, "--offset", -0.25, "--formats", "sm"],
        capsys,
    )
    assert code == 0
    code, second, _ = _chart(
        [song_path, "-o", tmp_path / "b", "--json", "--timing-from", src / "click song.sm"],
        capsys,
    )
    assert code == 0 and (second["bpm"], second["offset"]) == (120.0, -0.25)


def test_preview_picture_and_claps(song_path, generator, tmp_path):
    song = generator(song_path, difficulties=["Medium"], bpm=120, offset_s=-0.5)
    paths = song.save(tmp_path, formats=["json"], preview=True)
    names = {p.relative_to(tmp_path).as_posix() for p in paths}
    assert {"preview/Medium.png", "preview/Medium.ogg"} <= names
    with Image.open(tmp_path / "preview" / "Medium.png") as im:
        assert im.width > 600 and im.height > 300
    mix, rate = sf.read(str(tmp_path / "preview" / "Medium.ogg"))
    assert len(mix) / rate == pytest.approx(SECONDS, abs=0.05)
    original, _ = sf.read(str(tmp_path / "click song.ogg"))
    n = min(len(mix), len(original))
    mix, original = mix[:n], original[:n]
    residual = mix - mix @ original / (original @ original) * original  # the claps, roughly
    at_notes, between = [], []
    for note in song.chart("Medium").notes:
        i = round(note.time_s * rate)
        at_notes.append(np.abs(residual[i : i + int(0.02 * rate)]).mean())
        between.append(np.abs(residual[i - int(0.1 * rate) : i - int(0.05 * rate)]).mean())
    assert np.median(at_notes) > 5 * np.median(between)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bpm", "0"], "--bpm must be a number above 0"),
        (["--bpm", "1500"], "at most 1000"),
        (["--difficulties", "easy,extreme"], "unknown difficulty 'extreme'"),
        (["--formats", "sm,bms"], "unknown chart format 'bms'"),
        (["--offset", "0.1"], "--offset needs --bpm"),
        (["--density", "hard"], "--density wants"),
    ],
)
def test_bad_settings_exit_2_with_a_message(song_path, tmp_path, capsys, args, message):
    code, _, err = _chart([song_path, "-o", tmp_path / "o", *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_audio_and_unwritable_output(tmp_path, song_path, capsys):
    silent = write_audio(tmp_path / "silent.wav", np.zeros(16000 * 5, np.float32), 16000)
    code, _, err = _chart([silent, "-o", tmp_path / "o"], capsys)
    assert code == 2 and "silent" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _chart([song_path, "-o", blocker / "sub", "--bpm", 120], capsys)
    assert code == 2 and "cannot write" in err


def test_a_failed_write_leaves_nothing_behind(song_path, generator, tmp_path, monkeypatch):
    import export.atomic

    song = generator(song_path, difficulties=["Easy"], bpm=120, offset_s=-0.5)
    calls, fsync = [], export.atomic.os.fsync

    def failing_fsync(fd):  # the third file of the folder hits a full disk
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(export.atomic.os, "fsync", failing_fsync)
    with pytest.raises(OutputError, match="No space left"):
        song.save(tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == []
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary sibling


def test_play_rules_never_allow_a_dead_end():
    rules = PlayRules("Beginner", max_hold_beats=2.0)
    assert not rules.allowed(0.0, last=False)[0]  # never an empty row
    rules.take(2 * 4**1, 0.0)  # hold head in column 1
    ok = rules.allowed(1.0, last=False)
    vals = STATE_COLUMNS[ok]
    assert np.all((vals[:, 1] == TAIL) | (vals[:, 1] == 0))  # held: only release or wait
    assert np.all(((vals == TAP) | (vals == HEAD)).sum(1) + (vals[:, 1] == 0) <= 1)
    forced = STATE_COLUMNS[rules.allowed(2.5, last=False)]  # held too long: must end
    assert np.all(forced[:, 1] == TAIL)
    last = STATE_COLUMNS[PlayRules("Hard", 8.0).allowed(3.0, last=True)]
    assert not np.any(last == HEAD) and len(last) < N_STATES


def test_step_model_learns_from_two_corpus_songs(corpus, tmp_path):
    from genelive.steps.config import StepConfig
    from genelive.steps.model import StepModel
    from genelive.training.corpus import scan_charts
    from genelive.training.steps import StepTrainConfig, train_steps

    songs = [s for s in scan_charts(corpus) if any(c.steps for c in s.charts)][:2]
    report = train_steps(
        songs[:1],
        songs[1:],
        tmp_path / "steps",
        StepConfig(state_dim=8, audio_dim=8, hidden=16, layers=1),
        StepTrainConfig(steps=60, batch=8, chunk_rows=32, lr=1e-2, validate_every=20),
        cache_dir=tmp_path / "cache",
        test_songs=songs[1:],
    )
    history = [h["val_perplexity"] for h in report["history"]]
    ppl = report["validation_perplexity"]
    assert history[-1] < history[0] and ppl["model"]["all"] < 256
    assert set(ppl) == {"model", "bigram", "unigram", "rows"} and ppl["rows"] > 100
    # The test songs are reported (here the same song: the same numbers), per pack too.
    test = report["test_perplexity"]
    assert test["model"] == ppl["model"] and list(test["per_pack"]) == [songs[1].pack]
    assert test["per_pack"][songs[1].pack]["rows"] == ppl["rows"]
    assert report["split"]["test"] == [songs[1].key]
    model = StepModel.load(tmp_path / "steps")
    assert set(model.config.density_nps) <= {"Beginner", "Easy", "Medium", "Hard", "Challenge"}
    times = np.arange(20) * 0.25
    states = model.sample(times, np.arange(20) / 2, "Hard", np.zeros((400, 229)), seed=0)
    assert states.shape == (20,) and np.all(states > 0)
    again = model.sample(times, np.arange(20) / 2, "Hard", np.zeros((400, 229)), seed=0)
    assert np.array_equal(states, again)
    # The hold bias was fitted on the validation song's charts, and it moves the hold rate.
    levels = {c.difficulty for c in songs[1].charts if c.steps is not None}
    assert set(model.config.hold_bias) == levels
    assert all(-3 <= b <= 5 for b in model.config.hold_bias.values())
    assert all(len(fit) == 3 for fit in model.config.meter_fit.values())
    holds = [
        count_notes(model.sample(times, np.arange(20) / 2, "Hard", np.zeros((400, 229)), 0, 1, b))
        for b in (-30.0, 30.0)
    ]
    assert holds[0][1] == 0 and holds[1][1] >= 5
