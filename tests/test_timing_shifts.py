"""Chart timing that can see a shift: offsets that are not whole beats, tempo changes, irregular
click patterns, and the edges of the grid. Every note must land on the click it was made for."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genelive import ChartGenerator
from genelive.onsets.peaks import peaks
from genelive.snapping import grid_positions, snap_to_grid
from genelive.timing import BeatGrid, Timing
from tests.helpers import write_audio

OFFSETS_S = [-0.37, -0.25, -0.1, 0.0, 0.13, 0.9, -2.31]
TEMPO_MAPS = [
    Timing(-0.37, ((0.0, 128.0),)),
    Timing(-0.25, ((0.0, 120.0), (6.5, 150.0))),  # a change on an off-beat
    Timing(0.4, ((0.0, 96.0), (8.0, 180.0), (13.25, 140.0)), ((4.0, 0.3),)),  # and a stop
]


@pytest.mark.parametrize("offset_s", OFFSETS_S)
@pytest.mark.parametrize("bpm", [120.0, 137.5])
def test_the_first_grid_beat_is_numbered_as_the_tempo_map_numbers_it(bpm, offset_s):
    timing = Timing.constant(bpm, offset_s)
    grid, first_beat = timing.beat_grid(20.0)
    assert 0.0 <= grid.times_s[0] < 60.0 / bpm + 1e-9  # the first beat inside the song
    # Beat number first_beat + i falls exactly where the grid says: no one-beat shift.
    expected = timing.time_at(first_beat + np.arange(len(grid.times_s), dtype=np.float64))
    np.testing.assert_allclose(grid.times_s, expected, atol=1e-9)
    assert first_beat == math.ceil((offset_s - 1e-9) * bpm / 60.0)
    np.testing.assert_array_equal(
        grid.downbeats, (first_beat + np.arange(len(grid.times_s))) % 4 == 0
    )


@pytest.mark.parametrize("timing", TEMPO_MAPS, ids=["constant", "change", "stop"])
def test_tempo_maps_place_beats_where_their_segments_say(timing):
    grid, first_beat = timing.beat_grid(30.0)
    beats = first_beat + np.arange(len(grid.times_s), dtype=np.float64)
    np.testing.assert_allclose(timing.time_at(beats), grid.times_s, atol=1e-9)
    for beat, t in zip(beats, grid.times_s, strict=True):  # and back
        assert abs(timing.beat_at(float(t)) - beat) < 1e-6 or timing.stops


def test_time_at_by_hand():
    timing = TEMPO_MAPS[2]  # 96 BPM until beat 8, then 180 until 13.25, then 140; stop at 4
    spb = 60.0 / 96.0
    assert timing.time_at(0.0) == pytest.approx(-0.4)
    assert timing.time_at(4.0) == pytest.approx(-0.4 + 4 * spb)  # on the stop: before it
    assert timing.time_at(5.0) == pytest.approx(-0.4 + 5 * spb + 0.3)
    assert timing.time_at(10.0) == pytest.approx(-0.4 + 8 * spb + 0.3 + 2 * 60 / 180)
    after = -0.4 + 8 * spb + 0.3 + 5.25 * 60 / 180 + 0.75 * 60 / 140
    assert timing.time_at(14.0) == pytest.approx(after)


def test_snapping_reaches_both_ends_of_the_grid():
    grid = BeatGrid.from_bpm_offset(120.0, -0.25, 10.0)  # beats at 0.25, 0.75, ..., 9.75
    positions, times = grid_positions(grid, (4,))
    assert positions[0] == 0.0 and positions[-1] == len(grid.times_s) - 1
    assert times[-1] == grid.times_s[-1]
    snapped, beats = snap_to_grid(grid.times_s[[0, -1]] + [0.01, -0.01], grid, (4,))
    np.testing.assert_allclose(snapped, grid.times_s[[0, -1]])
    np.testing.assert_allclose(beats, [0, len(grid.times_s) - 1])
    # The last sixteenth before the last beat exists too (no grid position lost at the end).
    last_16th = grid.times_s[-1] - 0.125
    assert snap_to_grid(np.array([last_16th]), grid, (4,))[0][0] == pytest.approx(last_16th)


@pytest.mark.parametrize("gap", [2, 4, 7])
def test_peaks_exactly_min_gap_apart_are_both_kept(gap):
    x = np.zeros(40)
    x[[5, 5 + gap, 6 + 2 * gap]] = [0.9, 0.8, 0.7]  # gap apart, then gap + 1 apart
    np.testing.assert_array_equal(peaks(x, 0.1, gap)[0], [5, 5 + gap, 6 + 2 * gap])
    x = np.zeros(40)
    x[[5, 4 + gap]] = [0.9, 0.8]  # one frame closer than the gap: the lower one goes
    np.testing.assert_array_equal(peaks(x, 0.1, gap)[0], [5])


def _irregular_clicks(seconds: float, timing: Timing, sr: int = 22050, seed: int = 0):
    """A pad with clicks on a random two thirds of the 8th-note positions of the tempo map."""
    rng = np.random.default_rng(seed)
    grid, first = timing.beat_grid(seconds - 0.3)
    eighths = np.arange(2 * first, 2 * (first + len(grid.times_s) - 1) + 1) / 2.0
    chosen = np.sort(rng.choice(eighths, size=2 * len(eighths) // 3, replace=False))
    times = timing.time_at(chosen)
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.05 * np.sin(2 * np.pi * 220 * t)
    burst = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.arange(int(0.03 * sr)) / (0.004 * sr))
    for onset in times:
        start = round(onset * sr)
        audio[start : start + len(burst)] += 0.9 * burst[: len(audio) - start]
    return audio.astype(np.float32), times


@pytest.fixture(scope="module")
def generator():
    return ChartGenerator.load()


@pytest.mark.parametrize("offset_s", [-0.37, 0.13])
def test_every_note_lands_on_a_click(generator, tmp_path, offset_s):
    timing = Timing.constant(128.0, offset_s)
    audio, clicks = _irregular_clicks(24.0, timing)
    song = write_audio(tmp_path / "clicks.wav", audio)
    made = generator(song, ["Easy", "Hard"], seed=1, bpm=128.0, offset_s=offset_s)
    for chart in made.charts:
        times = np.array(sorted(n.time_s for n in chart.notes))
        assert len(times) > 10, chart.difficulty
        distance = np.abs(times[:, None] - clicks[None, :]).min(axis=1)
        assert distance.max() < 0.02, (chart.difficulty, times[distance.argmax()])
        assert abs(times[0] - clicks[0]) < 0.02 or times[0] > clicks[0]  # never before it
    hard = np.array(sorted(n.time_s for n in made.chart("Hard").notes))
    assert abs(hard[0] - clicks[0]) < 0.02  # Hard starts on the first click
