"""Beat grids and tempo maps (genelive/timing.py): where beats fall, which start a measure, the
beat guide's frames, and what a tempo map may hold."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.timing import BeatGrid, Timing, TimingError


def test_a_constant_grid_numbers_measures_from_beat_0():
    # Beat 0 at 0.25 s: downbeats on beats 0, 4, 8.
    grid = BeatGrid.from_bpm_offset(120.0, -0.25, 4.5)
    np.testing.assert_allclose(grid.times_s, 0.25 + 0.5 * np.arange(9))
    assert np.flatnonzero(grid.downbeats).tolist() == [0, 4, 8]
    # Beat 0 at −0.75 s: the first beat in the song is beat 2, the first downbeat beat 4.
    grid = BeatGrid.from_bpm_offset(120.0, 0.75, 3.0)
    np.testing.assert_allclose(grid.times_s, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75])
    assert np.flatnonzero(grid.downbeats).tolist() == [2]
    three = BeatGrid.from_bpm_offset(60.0, 0.0, 6.0, beats_per_measure=3)
    assert np.flatnonzero(three.downbeats).tolist() == [0, 3, 6]
    slow = BeatGrid.from_bpm_offset(0.9, 0.0, 140.0)  # any positive BPM
    assert len(slow.times_s) == 3


def test_klab_tempo_maps_run_until_the_next_entry():
    grid = BeatGrid.from_bpm_info([[120, 0, 4], [60, 2000, 3], [90, 9000, 4]], 5.0)
    np.testing.assert_allclose(grid.times_s, [0, 0.5, 1, 1.5, 2, 3, 4])
    assert grid.downbeats.tolist() == [True, False, False, False, True, False, False]
    one = BeatGrid.from_bpm_info([[240, 0, 1]], 1.0)  # one beat per measure: all downbeats
    np.testing.assert_allclose(one.times_s, [0, 0.25, 0.5, 0.75])
    assert one.downbeats.all()


@pytest.mark.parametrize("entry", [[0, 0, 4], [120, -1, 4], [120, 0, 0]])
def test_klab_tempo_map_entries_that_cannot_be(entry):
    with pytest.raises(ValueError, match="invalid tempo map entry"):
        BeatGrid.from_bpm_info([entry], 5.0)


def test_the_guide_marks_beat_frames_and_downbeats():
    grid = BeatGrid(np.array([0.0, 0.32, 0.64, 0.96]), np.array([True, False, False, True]))
    fps = 25.0  # beats on frames 0, 8, 16 and 24
    plain = grid.guide(24, fps=fps)  # frame 24 is one past the end: left out
    assert np.flatnonzero(plain).tolist() == [0, 8, 16] and set(plain[[0, 8, 16]]) == {1.0}
    marked = grid.guide(25, downbeat_value=2.0, fps=fps)
    assert marked[[0, 8, 16, 24]].tolist() == [2.0, 1.0, 1.0, 2.0]


def test_tempo_maps_are_checked():
    with pytest.raises(TimingError, match="increasing beats"):
        Timing(0.0, ((0.0, 120.0), (4.0, 140.0), (4.0, 150.0)))
    for stops in [((4.0, -0.5),), ((-1.0, 0.5),)]:
        with pytest.raises(TimingError, match="non-negative"):
            Timing(0.0, ((0.0, 120.0),), stops)
    Timing(0.0, ((0.0, 120.0),), ((0.0, 0.0),))  # a zero stop at beat 0 is allowed


def test_the_first_bpm_and_constancy():
    changing = Timing(0.0, ((0.0, 120.0), (8.0, 180.0)))
    assert changing.bpm == 120.0 and not changing.is_constant
    assert Timing.constant(150.0, 0.1).is_constant
    assert not Timing(0.0, ((0.0, 120.0),), ((4.0, 0.5),)).is_constant


def test_the_beat_grid_includes_a_beat_exactly_at_either_end():
    grid, first = Timing.constant(120.0, 0.0).beat_grid(2.0)
    np.testing.assert_allclose(grid.times_s, [0, 0.5, 1, 1.5, 2])
    assert first == 0 and grid.downbeats.tolist() == [True, False, False, False, True]
    two, _ = Timing.constant(60.0, 0.0).beat_grid(1.0)  # two beats are enough
    np.testing.assert_allclose(two.times_s, [0, 1])
    with pytest.raises(TimingError, match="fewer than two beats"):
        Timing.constant(60.0, 0.0).beat_grid(0.5)


def test_timing_from_a_dict_refuses_with_the_reason():
    with pytest.raises(TimingError, match="a BPM at beat 0"):
        Timing.from_dict({"offset_s": 0, "bpms": [[1, 120]]})
    with pytest.raises(TimingError, match=r"malformed timing \(KeyError"):
        Timing.from_dict({"bpms": [[0, 120]]})
    timing = Timing(0.1, ((0.0, 120.0), (4.0, 60.0)), ((2.0, 0.25),))
    assert Timing.from_dict(timing.to_dict()) == timing


def test_constant_grids_refuse_no_tempo_and_start_anywhere():
    for bpm in (0.0, -120.0):
        with pytest.raises(ValueError, match="BPM must be positive"):
            BeatGrid.from_bpm_offset(bpm, 0.0, 10.0)
    late = BeatGrid.from_bpm_offset(120.0, 10.0, 3.0)  # beat 0 ten seconds before the song
    np.testing.assert_allclose(late.times_s, 0.5 * np.arange(7))
    assert np.flatnonzero(late.downbeats).tolist() == [0, 4]  # beats 20 and 24


def test_klab_tempo_maps_with_three_runs_and_slow_tempi():
    grid = BeatGrid.from_bpm_info([[120, 0, 4], [60, 2000, 3], [240, 4000, 4]], 5.0)
    np.testing.assert_allclose(grid.times_s, [0, 0.5, 1, 1.5, 2, 3, 4, 4.25, 4.5, 4.75])
    assert np.flatnonzero(grid.downbeats).tolist() == [0, 4, 6]
    slow = BeatGrid.from_bpm_info([[0.5, 0, 4]], 200.0)  # one beat every two minutes
    np.testing.assert_allclose(slow.times_s, [0.0, 120.0])


def test_grid_keys_tell_grids_apart():
    a = BeatGrid(np.array([0.0, 0.5]), np.array([True, False]))
    assert a.key() == BeatGrid(np.array([0.0, 0.5]), np.array([True, False])).key()
    assert a.key() != BeatGrid(np.array([0.0, 0.5]), np.array([False, True])).key()
    assert a.key() != BeatGrid(np.array([0.0, 0.6]), np.array([True, False])).key()


def test_offsets_within_an_hour_and_finite():
    assert Timing.constant(120.0, 3600.0).offset_s == 3600.0
    with pytest.raises(ValueError, match="from -3600 to 3600 s"):
        Timing.constant(120.0, 3600.5)
    with pytest.raises(TimingError, match="offset must be a finite number of seconds, not nan"):
        Timing(float("nan"), ((0.0, 120.0),))
