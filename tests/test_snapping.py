"""Snapping onsets to the beat grid with a difficulty's subdivisions."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.snapping import grid_positions, place_on_grid, snap_to_grid
from genelive.timing import BeatGrid

GRID = BeatGrid.from_bpm_offset(120.0, 0.0, 10.0)  # beats every 0.5 s from 0


def test_jittered_eighths_snap_back_exactly():
    rng = np.random.default_rng(0)
    exact = np.arange(0.0, 9.0, 0.25)
    times, beats = snap_to_grid(exact + rng.uniform(-0.03, 0.03, len(exact)), GRID, (2,))
    np.testing.assert_allclose(times, exact)
    np.testing.assert_allclose(beats, exact / 0.5)


def test_quarter_notes_only_merge_offbeats():
    times, beats = snap_to_grid(np.array([0.49, 0.74, 1.01, 3.3]), GRID, (1,))
    # 0.74 is nearer 0.5 than 1.0 and merges with 0.49; 3.3 is 0.2 s from any beat: dropped.
    np.testing.assert_allclose(times, [0.5, 1.0])
    np.testing.assert_allclose(beats, [1.0, 2.0])


def test_triplets_and_sixteenths_together():
    positions, _ = grid_positions(GRID, (4, 3))
    first_beat = positions[positions < 1]
    np.testing.assert_allclose(first_beat, [0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75])
    times, _ = snap_to_grid(np.array([0.5 + 0.5 / 3 + 0.01]), GRID, (4, 3))
    assert times[0] == pytest.approx(0.5 + 0.5 / 3)


def test_tempo_changes_follow_the_grid():
    grid = BeatGrid(np.array([0.0, 0.5, 1.0, 1.25, 1.5, 1.75]), np.zeros(6, bool))
    times, beats = snap_to_grid(np.array([0.76, 1.37]), grid, (2,))
    np.testing.assert_allclose(times, [0.75, 1.375])
    np.testing.assert_allclose(beats, [1.5, 3.5])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="positive integers"):
        snap_to_grid(np.array([1.0]), GRID, (0,))
    with pytest.raises(ValueError, match="at least two beats"):
        snap_to_grid(np.array([1.0]), BeatGrid(np.array([0.0]), np.zeros(1, bool)), (1,))


def test_each_difficulty_snaps_to_the_subdivisions_the_model_card_states():
    """Beginner quarters, Easy and Medium 8ths, Hard and Challenge 16ths (chosen on validation)."""
    from genelive.snapping import DEFAULT_SUBDIVISIONS

    dense = np.arange(0.0, 9.0, 0.5 / 48)  # every 48th of a beat
    stated = {1: [0.0], 2: [0.0, 0.5], 4: [0.0, 0.25, 0.5, 0.75]}
    per_beat = {"Beginner": 1, "Easy": 2, "Medium": 2, "Hard": 4, "Challenge": 4}
    assert set(DEFAULT_SUBDIVISIONS) == set(per_beat)
    for difficulty, n in per_beat.items():
        _, beats = snap_to_grid(dense, GRID, DEFAULT_SUBDIVISIONS[difficulty])
        np.testing.assert_allclose(np.unique(beats % 1), stated[n], err_msg=difficulty)


def test_grid_positions_end_on_the_last_beat():
    grid = BeatGrid(np.array([1.0, 2.0, 3.0]), np.zeros(3, bool))
    positions, times = grid_positions(grid, (2,))
    np.testing.assert_array_equal(positions, [0, 0.5, 1, 1.5, 2])
    np.testing.assert_array_equal(times, [1, 1.5, 2, 2.5, 3])


def test_a_two_beat_grid_is_enough():
    grid = BeatGrid(np.array([1.0, 2.0]), np.zeros(2, bool))
    times, beats = snap_to_grid(np.array([1.02, 1.97]), grid, (1,))
    np.testing.assert_array_equal(times, [1.0, 2.0])
    np.testing.assert_array_equal(beats, [0.0, 1.0])


def test_onsets_just_outside_the_grid_snap_to_its_ends():
    grid = BeatGrid(np.array([1.0, 2.0, 3.0]), np.zeros(3, bool))
    times, beats = snap_to_grid(np.array([0.95, 3.05]), grid, (1,))
    np.testing.assert_array_equal(times, [1.0, 3.0])
    np.testing.assert_array_equal(beats, [0.0, 2.0])


def test_the_distance_limit_and_ties():
    grid = BeatGrid(np.array([0.0, 1.0, 2.0]), np.zeros(3, bool))
    # Exactly at the limit is kept (0.25 and 0.5 are exact in binary); a tie goes earlier.
    times, _ = snap_to_grid(np.array([1.25]), grid, (1,), max_distance_s=0.25)
    np.testing.assert_array_equal(times, [1.0])
    times, _ = snap_to_grid(np.array([0.5]), grid, (1,), max_distance_s=0.5)
    np.testing.assert_array_equal(times, [0.0])
    # The default limit is 0.1 s: 0.09 s away is kept, 0.15 s away is dropped.
    times, _ = snap_to_grid(np.array([1.09, 1.85]), grid, (1,))
    np.testing.assert_array_equal(times, [1.0])


def test_placing_takes_the_strongest_onsets_onto_free_positions_until_the_count():
    onsets = np.array([0.49, 0.52, 1.0, 1.26, 1.5, 3.37])
    strengths = np.array([0.9, 0.95, 0.2, 0.5, 0.6, 0.99])
    # 3.37 is off the grid; 0.49 lands where 0.52 already is; then 1.5, 1.26 (→ 1.25), 1.0.
    times, beats = place_on_grid(onsets, strengths, GRID, (2,), n_rows=3)
    np.testing.assert_allclose(times, [0.5, 1.25, 1.5])
    np.testing.assert_allclose(beats, [1.0, 2.5, 3.0])
    # A count beyond the candidates takes them all; the minimum gap skips 1.25 (0.25 from 1.5).
    times, _ = place_on_grid(onsets, strengths, GRID, (2,), n_rows=10, min_gap_s=0.3)
    np.testing.assert_allclose(times, [0.5, 1.0, 1.5])
    assert len(place_on_grid(onsets, strengths, GRID, (2,), n_rows=0)[0]) == 0


def test_rows_per_mass_is_the_human_rows_over_the_activation_summed():
    from genelive.onsets.peaks import rows_per_mass

    items = [
        ("Easy", np.full(100, 0.1), np.arange(20.0)),  # 20 rows over mass 10
        ("Easy", np.full(100, 0.2), np.arange(10.0)),  # 10 rows over mass 20
        ("Hard", np.full(50, 0.2), np.arange(30.0)),  # 30 rows over mass 10
    ]
    ratios = rows_per_mass(items)
    assert ratios[1] == 1.0 and ratios[3] == 3.0
    assert ratios[0] == ratios[2] == ratios[4] == 1.5  # no charts: all charts together (60 / 40)
