"""Tempo and beat phase from audio, and their MIREX-style scoring."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.audio import load_audio
from genelive.evaluation.metrics import TrueTempo, tempo_report
from genelive.tempo import TempoCandidate, TempoEstimate, check_half_beat, estimate_tempo
from tests.helpers import click_track, write_audio


@pytest.mark.parametrize(("bpm", "first_beat_s"), [(128.0, 0.5), (174.0, 0.81), (97.5, 0.2)])
def test_click_track_tempo_and_offset(tmp_path, bpm, first_beat_s):
    audio, clicks = click_track(bpm, 30.0, first_beat_s=first_beat_s, accent_every=4)
    song = load_audio(write_audio(tmp_path / "c.ogg", audio, format="OGG", subtype="VORBIS"))
    estimate = estimate_tempo(song)
    assert estimate.bpm == pytest.approx(bpm, abs=0.05)
    period_s = 60.0 / bpm
    assert -period_s < estimate.offset_s <= 0
    # Beat 0 at −offset: every click must sit on the estimated grid.
    error_s = (clicks + estimate.offset_s + period_s / 2) % period_s - period_s / 2
    assert np.abs(error_s).max() < 0.02
    relations = [c.relation for c in estimate.candidates]
    assert relations[0] == "best" and {"×2", "×½"} <= set(relations)
    assert len(set(c.bpm for c in estimate.candidates)) == len(relations)
    assert sum(c.confidence for c in estimate.candidates) == pytest.approx(1.0, abs=0.01)


def test_too_short_or_flat_audio_is_refused():
    with pytest.raises(ValueError, match="too short or too flat"):
        estimate_tempo(np.zeros(16000 * 10, np.float32))
    with pytest.raises(ValueError, match="too short"):
        estimate_tempo(click_track(120, 2.0, sr=16000)[0])


def test_true_tempo_from_a_beat_grid():
    steady = TrueTempo.from_beat_times(np.arange(0.2, 60, 0.5))
    assert steady.constant and steady.bpm == pytest.approx(120) and steady.first_beat_s == 0.2
    changing = TrueTempo.from_beat_times(
        np.concatenate([np.arange(0, 30, 0.5), 30 + np.arange(10)])
    )
    assert not changing.constant and changing.bpm == pytest.approx(120)


def test_tempo_report_counts_octaves_and_phase():
    truth = TrueTempo(120.0, 0.1, True)
    report = tempo_report(
        [
            (truth, 121.0, -0.105),  # right tempo, beats 5 ms late: all good
            (truth, 240.0, -0.35),  # double: acc2 only; its beats 0.25 s off the true ones
            (truth, 150.0, -0.1),  # wrong tempo, beat phase right
            (TrueTempo(100.0, 0.0, False), 100.0, 0.0),  # changing tempo: no phase score
        ]
    )
    assert report == {
        "songs": 4,
        "acc1": 0.5,
        "acc2": 0.75,
        "constant_tempo_songs": 3,
        "offset_within_20ms": round(2 / 3, 4),
    }


def test_tempo_command_json_and_errors(tmp_path, capsys):
    import json

    from app.cli import main

    audio, _ = click_track(150, 20.0, first_beat_s=0.3)
    path = write_audio(tmp_path / "s.wav", audio)
    assert main(["tempo", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bpm"] == pytest.approx(150, abs=0.05) and out["candidates"][0]["relation"] == "best"
    assert main(["tempo", str(write_audio(tmp_path / "z.wav", np.zeros(32000)))]) == 2
    assert "silent" in capsys.readouterr().err


def _estimate(bpm: float, offset_s: float) -> TempoEstimate:
    best = TempoCandidate(bpm, offset_s, 0.6, "best")
    return TempoEstimate((best, TempoCandidate(bpm * 2, offset_s, 0.4, "×2")), unsure=False)


@pytest.mark.parametrize("notes_half_a_beat_off", [False, True])
def test_the_half_beat_check_moves_the_phase_to_where_the_notes_are(notes_half_a_beat_off):
    fps, bpm, offset_s = 100.0, 120.0, -0.2  # beats at 0.2, 0.7, 1.2, ... s
    activation = np.zeros(3000)
    true_beats_s = np.arange(0.2, 29.0, 0.5) + (0.25 if notes_half_a_beat_off else 0.0)
    activation[np.round(true_beats_s * fps).astype(int)] = 0.9  # the notes
    activation[np.round((true_beats_s + 0.25) * fps).astype(int)] = 0.2  # weaker off-beats
    checked = check_half_beat(_estimate(bpm, offset_s), activation, fps)
    first, second = checked.candidates[:2]
    assert (first.relation, second.relation) == ("best", "half-beat")
    assert first.bpm == second.bpm == bpm and checked.candidates[2].relation == "×2"
    assert first.offset_s == (-0.45 if notes_half_a_beat_off else offset_s)
    assert second.offset_s == (offset_s if notes_half_a_beat_off else -0.45)
    assert first.confidence + second.confidence == pytest.approx(0.6, abs=0.002)
    assert first.confidence > 3 * second.confidence and not checked.unsure


def test_the_half_beat_check_is_unsure_when_both_phases_hold_as_many_notes():
    activation = np.zeros(3000)
    activation[::25] = 0.5  # every 0.25 s: on the beats and between them alike
    checked = check_half_beat(_estimate(120.0, 0.0), activation, 100.0)
    assert checked.unsure
    assert -0.5 < checked.candidates[1].offset_s <= 0  # the shifted phase stays in range
