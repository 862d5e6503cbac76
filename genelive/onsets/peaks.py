"""From onset activations to onsets: the one peak picker, and choosing its settings on data.

`peaks` is the only place activations become peaks. Two decoders stand on it: `pick_peaks`
keeps the peaks above the validated threshold (evaluation, `OnsetModel.onsets`), and charting
ranks every peak above a low floor to meet a density target (genelive/generator.py). That they
are two decoders is deliberate for now: one would change the charts or the reported numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genelive.difficulty import DIFFICULTIES
from genelive.onsets.config import Decoding

THRESHOLD_GRID = np.round(np.arange(0.02, 0.96, 0.02), 2)
GAP_GRID_S = (0.0, 0.03, 0.06, 0.09, 0.12, 0.15, 0.2, 0.25, 0.3)  # minimum note spacing, s


def peaks(
    probs: np.ndarray, min_height: float, min_gap_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, heights) of the local maxima of `probs` that are at least `min_height` and at
    least `min_gap_frames` apart. Plateaus count once (their middle frame); where peaks crowd,
    the highest wins. The same peaks as scipy.signal.find_peaks(probs, height=, distance=)
    (tests/test_decoding.py compares them), in numpy alone: importing scipy.signal takes most of
    a second of every `studio chart`."""
    x = np.ascontiguousarray(probs, dtype=np.float64)
    frames = _local_maxima(x)
    heights = x[frames]
    keep = heights >= min_height
    frames, heights = frames[keep], heights[keep]
    keep = _spaced(frames, heights, min_gap_frames)
    return frames[keep], heights[keep]


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Frames where x rises and then falls; a flat top counts once, at its middle (rounded
    down), and never at either end of x."""
    steps = np.flatnonzero(np.diff(x))  # where x changes: x[i + 1] != x[i]
    if len(steps) < 2:
        return np.zeros(0, np.int64)
    rises = np.diff(x)[steps] > 0
    top = rises[:-1] & ~rises[1:]  # a change up, then the next change down
    left, right = steps[:-1][top] + 1, steps[1:][top]
    return (left + right) // 2  # int64, as `steps` is


def _spaced(frames: np.ndarray, heights: np.ndarray, distance: int) -> np.ndarray:
    """Which peaks stay when, from the highest down, each removes its neighbours closer than
    `distance` frames (scipy's _select_by_peak_distance, ties ordered as it orders them). Local
    maxima are at least 2 frames apart, so a distance of 1 or less removes nothing."""
    keep = np.ones(len(frames), dtype=bool)
    for j in np.argsort(heights)[::-1]:
        if not keep[j]:
            continue
        lo = np.searchsorted(frames, frames[j] - distance, side="right")
        hi = np.searchsorted(frames, frames[j] + distance, side="left")
        keep[lo:j] = False
        keep[j + 1 : hi] = False
    return keep


def pick_peaks(probs: np.ndarray, threshold: float, min_gap_frames: int) -> np.ndarray:
    """Frames of the peaks at least `threshold` high, ≥ `min_gap_frames` apart."""
    return peaks(probs, threshold, min_gap_frames)[0]


def onset_times(probs: np.ndarray, fps: float, threshold: float, min_gap_frames: int) -> np.ndarray:
    return pick_peaks(probs, threshold, min_gap_frames) / fps


def tune_decoding(
    items: Sequence[tuple[str, np.ndarray, np.ndarray]], fps: float, window_s: float = 0.05
) -> tuple[Decoding, dict[str, float]]:
    """Per difficulty, the threshold and minimum gap with the best micro-F1 at ±`window_s`.

    `items` are (difficulty, activation (T,), reference onset times) over validation charts.
    Returns the decoding and the F1 each difficulty reached with it.
    """
    from genelive.evaluation.metrics import match_count  # mir_eval: training-time only

    default = Decoding()
    thresholds, gaps, best_f = [], [], {}
    gap_frames = sorted({max(1, round(g * fps)) for g in GAP_GRID_S})
    for i, name in enumerate(DIFFICULTIES):
        charts = [(p, ref) for d, p, ref in items if d == name]
        if not charts:
            thresholds.append(default.thresholds[i])
            gaps.append(default.min_gap_frames[i])
            continue
        n_ref = sum(len(ref) for _, ref in charts)
        best = (-np.inf, default.thresholds[i], default.min_gap_frames[i])
        for gap in gap_frames:
            # Peaks at the lowest threshold, filtered per threshold: this equals picking at each
            # threshold only approximately (a neighbour suppressed by a lower peak could survive
            # a higher threshold); the chosen setting is re-scored exactly where it is reported.
            found = [peaks(p, float(THRESHOLD_GRID[0]), gap) for p, _ in charts]
            for threshold in THRESHOLD_GRID:
                n_match = n_est = 0
                for (frames, heights), (_, ref) in zip(found, charts, strict=True):
                    est = frames[heights >= threshold] / fps
                    n_est += len(est)
                    n_match += match_count(ref, est, window_s)
                f = 2 * n_match / (n_ref + n_est) if n_ref + n_est else 0.0
                if f > best[0]:
                    best = (f, float(threshold), gap)
        best_f[name] = best[0]
        thresholds.append(best[1])
        gaps.append(best[2])
    return Decoding(tuple(thresholds), tuple(gaps), rows_per_mass(items)), best_f


def rows_per_mass(items: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> tuple[float, ...]:
    """Per difficulty, the human charts' note rows per unit of activation mass: Σ rows / Σ
    activation over the charts. A BCE-trained activation sums to about the onsets' fuzzy label
    mass, so one ratio per difficulty carries over to unseen songs; a difficulty without charts
    takes the ratio of all charts together."""
    rows, mass = dict.fromkeys(DIFFICULTIES, 0), dict.fromkeys(DIFFICULTIES, 0.0)
    for name, probs, ref in items:
        rows[name] += len(ref)
        mass[name] += float(np.sum(probs))
    total = sum(rows.values()) / max(sum(mass.values()), 1e-9)
    return tuple(
        round(rows[d] / mass[d], 5) if rows[d] and mass[d] > 0 else round(total, 5)
        for d in DIFFICULTIES
    )
