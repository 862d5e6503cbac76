"""Onset times → note positions on the beat grid, with the subdivisions a difficulty allows.

Charts place notes on a musical grid (quarter notes, 8ths, 16ths, triplets); the onset model's
frames are 32 ms apart. Snapping each onset to the nearest allowed grid position removes the
frame quantisation and gives the beat positions a chart file stores.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from genelive.timing import BeatGrid

# Subdivisions of a beat each difficulty may use (1 = quarter notes, 2 = 8ths, 3 = triplets,
# 4 = 16ths). Chosen on the corpus' validation songs with the bundled model: allowing triplets
# (or 32nds) on Hard/Challenge pulled more straight notes off their place than it caught
# triplets (F1 at ±50 ms 0.72 vs 0.76); see docs/model-card-genelive.md.
DEFAULT_SUBDIVISIONS: dict[str, tuple[int, ...]] = {
    "Beginner": (1,),
    "Easy": (2,),
    "Medium": (2,),
    "Hard": (4,),
    "Challenge": (4,),
}


def grid_positions(grid: BeatGrid, subdivisions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Allowed positions between the grid's first and last beat: (beats from the first (P,),
    times in seconds (P,)), sorted. Times within a beat are linear: the tempo map is constant
    between two beats (a tempo change mid-beat shifts an off-beat note by under a frame)."""
    if not subdivisions or any(int(s) < 1 for s in subdivisions):
        raise ValueError(f"subdivisions must be positive integers, not {list(subdivisions)}")
    n_beats = len(grid.times_s)
    if n_beats < 2:
        raise ValueError("the beat grid needs at least two beats to snap to")
    # k / s is the correctly rounded float of the fraction, so equal fractions from different
    # subdivisions (2/4, 1/2) are equal floats and `unique` merges them exactly.
    fractions = np.unique(np.concatenate([np.arange(int(s)) / int(s) for s in subdivisions]))
    positions = (np.arange(n_beats - 1)[:, None] + fractions[None, :]).ravel()
    positions = np.append(positions, n_beats - 1.0)
    return positions, np.interp(positions, np.arange(n_beats), grid.times_s)


def snap_to_grid(
    onset_times_s: np.ndarray,
    grid: BeatGrid,
    subdivisions: Sequence[int],
    max_distance_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Each onset → the nearest allowed position; (times (M,), beats from the first beat (M,)).

    Onsets farther than `max_distance_s` from every allowed position (outside the grid, or in
    a gap the difficulty cannot express) are dropped; onsets landing on one position make one
    note. Both outputs are sorted and unique.
    """
    positions, times = grid_positions(grid, subdivisions)
    nearest, close = _nearest_positions(times, onset_times_s, max_distance_s)
    chosen = np.unique(nearest[close])
    return times[chosen], positions[chosen]


def place_on_grid(
    onset_times_s: np.ndarray,
    strengths: np.ndarray,
    grid: BeatGrid,
    subdivisions: Sequence[int],
    n_rows: int,
    min_gap_s: float = 0.0,
    max_distance_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `n_rows` note rows from candidate onsets, strongest first: each takes its nearest
    allowed grid position if that position is free and at least `min_gap_s` from every row
    already placed. Unlike snapping a fixed set of onsets, the count is met even where several
    onsets fall on one position. Returns (times (M,), beats from the first beat (M,)), sorted."""
    positions, times = grid_positions(grid, subdivisions)
    nearest, close = _nearest_positions(times, onset_times_s, max_distance_s)
    taken: list[int] = []  # grid indices, kept sorted
    for j in np.argsort(-np.asarray(strengths, np.float64), kind="stable"):
        if len(taken) >= n_rows:
            break
        if not close[j]:
            continue
        k, t = int(nearest[j]), times[nearest[j]]
        at = bisect.bisect_left(taken, k)
        if at < len(taken) and taken[at] == k:
            continue
        if at > 0 and t - times[taken[at - 1]] < min_gap_s - 1e-6:
            continue
        if at < len(taken) and times[taken[at]] - t < min_gap_s - 1e-6:
            continue
        taken.insert(at, k)
    chosen = np.array(taken, np.int64)
    return times[chosen], positions[chosen]


def _nearest_positions(
    times: np.ndarray, onset_times_s: np.ndarray, max_distance_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each onset, the index of the nearest of the sorted `times` (M,), and whether it is
    within `max_distance_s` (M,)."""
    onsets = np.asarray(onset_times_s, np.float64)
    right = np.clip(np.searchsorted(times, onsets), 1, len(times) - 1)
    nearer_left = onsets - times[right - 1] <= times[right] - onsets
    nearest = np.where(nearer_left, right - 1, right)
    return nearest, np.abs(times[nearest] - onsets) <= max_distance_s
