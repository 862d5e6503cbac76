"""Tempo maps with segments for songs whose tempo changes (genelive.tempo_map)."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.tempo import TempoCandidate, TempoEstimate, check_half_beat
from genelive.tempo_map import TempoSegment, estimate_tempo_map, timing_from_segments
from genelive.timing import Timing
from tests.helpers import click_track, clicks_at

SR = 22050


def changing_clicks(tempi: list[tuple[float, float]], first_beat_s: float = 0.3):
    """Clicks through (bpm, seconds) sections, the music continuous across each change."""
    times, t = [], first_beat_s
    for bpm, seconds in tempi:
        section = t + np.arange(0, seconds, 60.0 / bpm)
        times.append(section)
        t = section[-1] + 60.0 / bpm
    times = np.concatenate(times)
    return clicks_at(times, times[-1] + 0.5, SR, accent_every=4), times


def grid_errors_s(timing: Timing, clicks_s: np.ndarray, duration_s: float) -> tuple:
    """(each click's distance to the nearest beat, each beat's distance to the nearest click)."""
    beats_s = timing.beat_grid(duration_s)[0].times_s
    beats_s = beats_s[(beats_s >= clicks_s[0] - 0.05) & (beats_s <= clicks_s[-1] + 0.05)]
    to_beat = np.abs(clicks_s[:, None] - beats_s[None, :]).min(axis=1)
    to_click = np.abs(beats_s[:, None] - clicks_s[None, :]).min(axis=1)
    return to_beat, to_click


def test_a_tempo_change_becomes_two_segments_whose_beats_are_the_clicks():
    audio, clicks = changing_clicks([(128.0, 40.0), (160.0, 40.0)])
    estimate = estimate_tempo_map(audio, SR)
    assert [round(s.bpm) for s in estimate.segments] == [128, 160]
    assert estimate.segments[1].start_s == pytest.approx(40.3, abs=WINDOW_TOLERANCE_S)
    timing = timing_from_segments(estimate.segments)
    assert len(timing.bpms) == 2 and timing.bpms[1][1] == pytest.approx(160, abs=0.05)
    to_beat, to_click = grid_errors_s(timing, clicks, len(audio) / SR)
    assert to_beat.max() < 0.015  # every click on a beat of the map
    assert to_click.max() < 0.015  # and no beat where there is no click


WINDOW_TOLERANCE_S = 4.0  # the change is placed to within two window hops


def test_a_constant_tempo_and_a_half_time_section_keep_one_tempo():
    audio, _ = click_track(140.0, 60.0, sr=SR, accent_every=4)
    assert estimate_tempo_map(audio, SR).segments == ()
    # Half time for 20 s: its beats are among the main tempo's, so the grid stays.
    audio, _ = changing_clicks([(120.0, 30.0), (60.0, 20.0), (120.0, 30.0)])
    assert estimate_tempo_map(audio, SR).segments == ()


def test_a_change_between_beats_stretches_the_old_tempo_to_the_new_beats():
    # The new tempo's beats sit 0.1 s off the old grid: the old tempo is stretched to end on one.
    segments = (TempoSegment(0.0, 120.0, 0.2), TempoSegment(30.0, 150.0, 30.3))
    timing = timing_from_segments(segments)
    change_beat, new_bpm = timing.bpms[1]
    assert new_bpm == 150.0 and change_beat == int(change_beat)
    change_s = float(timing.time_at(change_beat))
    assert (change_s - 30.3) / 0.4 == pytest.approx(round((change_s - 30.3) / 0.4), abs=1e-3)
    assert abs(timing.bpms[0][1] / 120 - 1) < 0.01
    assert timing.time_at(0.0) == pytest.approx(0.2, abs=1e-4)


def test_the_half_beat_check_moves_the_main_tempo_segments_with_the_best_candidate():
    best = TempoCandidate(120.0, -0.1, 0.8, "best")
    segments = (TempoSegment(0.0, 120.0, 0.1), TempoSegment(30.0, 150.0, 30.2))
    estimate = TempoEstimate((best,), unsure=False, segments=segments)
    fps = 100.0
    activation = np.zeros(int(60 * fps))
    activation[np.round((0.35 + np.arange(0, 59, 0.5)) * fps).astype(int)] = 1.0  # off-beats
    checked = check_half_beat(estimate, activation, fps)
    assert checked.offset_s == pytest.approx(-0.35)
    assert checked.segments[0].first_beat_s == pytest.approx(0.35)
    assert checked.segments[1] == segments[1]  # another tempo keeps its own phase
