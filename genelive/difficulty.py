"""The five difficulties of a StepMania song, GenéLive's scalar condition for each, and the
meter (difficulty number) a chart's density earns."""

from __future__ import annotations

import numpy as np

# StepMania difficulty names and GenéLive's scalar condition values (Edit counts as Challenge).
DIFFICULTIES: tuple[str, ...] = ("Beginner", "Easy", "Medium", "Hard", "Challenge")
DIFFICULTY_VALUES: tuple[int, ...] = (10, 20, 30, 40, 50)
# Chart meters (difficulty numbers) above this are jokes (a "420" Challenge), not difficulty
# numbers: the meter fit and its error leave them out.
MAX_METER = 29
MIN_FIT_CHARTS = 4  # fewer charts than this fit only a median meter
PEAK_WINDOW_S = 10.0  # the densest stretch of a chart: what players rate it by


def meter_inputs(row_times_s: np.ndarray, n_notes: int, duration_s: float) -> tuple[float, float]:
    """(notes per second over the song, note rows per second in its densest 10 s)."""
    times = np.sort(np.asarray(row_times_s, np.float64))
    in_window = np.searchsorted(times, times + PEAK_WINDOW_S) - np.arange(len(times))
    peak = float(in_window.max()) / PEAK_WINDOW_S if len(times) else 0.0
    return n_notes / max(duration_s, 1.0), peak


def fit_meter(charts: list[tuple[float, float, int]]) -> list[float]:
    """(notes/s, peak rows/s, meter) per chart → [a, b, c] of meter ≈ a + b·nps + c·peak
    (least squares; a median where too few charts or no spread)."""
    data = np.asarray(charts, np.float64).reshape(-1, 3)
    if len(data) < MIN_FIT_CHARTS or np.ptp(data[:, 0]) == 0 or np.ptp(data[:, 1]) == 0:
        return [float(np.median(data[:, 2])), 0.0, 0.0]
    design = np.column_stack([np.ones(len(data)), data[:, :2]])
    coef = np.linalg.lstsq(design, data[:, 2], rcond=None)[0]
    return [round(float(v), 3) for v in coef]


def predict_meter(fit: list[float], nps: float, peak: float) -> int:
    """The fit's meter, 1..20 (a two-term fit [a, b] from older folders has no peak term)."""
    a, b, c = [*fit, 0.0, 0.0][:3]
    return int(np.clip(round(a + b * nps + c * peak), 1, 20))
