"""From onset activations to onset times: peak picking, and choosing its settings on data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import find_peaks

from genelive.difficulty import DIFFICULTIES
from genelive.evaluation.metrics import match_count
from genelive.onsets.config import Decoding

THRESHOLD_GRID = np.round(np.arange(0.02, 0.96, 0.02), 2)
GAP_GRID_S = (0.0, 0.03, 0.06, 0.09, 0.12, 0.15, 0.2, 0.25, 0.3)  # minimum note spacing, s


def pick_peaks(probs: np.ndarray, threshold: float, min_gap_frames: int) -> np.ndarray:
    """Frames that are local maxima of `probs`, at least `threshold`, ≥ `min_gap_frames` apart.

    Plateaus count once (their middle frame); where peaks crowd, the highest wins.
    """
    frames, _ = find_peaks(
        np.asarray(probs, dtype=np.float64), height=threshold, distance=max(1, min_gap_frames)
    )
    return frames


def onset_times(probs: np.ndarray, fps: float, threshold: float, min_gap_frames: int) -> np.ndarray:
    return pick_peaks(probs, threshold, min_gap_frames) / fps


def tune_decoding(
    items: Sequence[tuple[str, np.ndarray, np.ndarray]], fps: float, window_s: float = 0.05
) -> tuple[Decoding, dict[str, float]]:
    """Per difficulty, the threshold and minimum gap with the best micro-F1 at ±`window_s`.

    `items` are (difficulty, activation (T,), reference onset times) over validation charts.
    Returns the decoding and the F1 each difficulty reached with it.
    """
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
        best = (-1.0, default.thresholds[i], default.min_gap_frames[i])
        for gap in gap_frames:
            peaks = [_peaks_with_heights(p, gap) for p, _ in charts]
            for threshold in THRESHOLD_GRID:
                n_match = n_est = 0
                for (frames, heights), (_, ref) in zip(peaks, charts, strict=True):
                    est = frames[heights >= threshold] / fps
                    n_est += len(est)
                    n_match += match_count(ref, est, window_s)
                f = 2 * n_match / (n_ref + n_est) if n_ref + n_est else 0.0
                if f > best[0]:
                    best = (f, float(threshold), gap)
        best_f[name] = best[0]
        thresholds.append(best[1])
        gaps.append(best[2])
    return Decoding(tuple(thresholds), tuple(gaps)), best_f


def _peaks_with_heights(probs: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Peaks at the lowest threshold, to be filtered per threshold.

    Filtering by height after spacing equals find_peaks(height=t, distance=gap) only
    approximately (a suppressed neighbour could survive at a higher threshold); the chosen
    setting is re-scored exactly by the evaluation that reports it.
    """
    frames, props = find_peaks(
        np.asarray(probs, np.float64), height=float(THRESHOLD_GRID[0]), distance=gap
    )
    return frames, props["peak_heights"]
