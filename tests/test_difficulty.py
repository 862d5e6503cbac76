"""The meter (difficulty number) from a chart's density: inputs, fit and prediction."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.difficulty import fit_meter, meter_inputs, predict_meter


def test_meter_inputs_are_the_mean_rate_and_the_densest_ten_seconds():
    rows_s = np.concatenate([np.arange(0, 5, 0.25), np.arange(60, 100, 2.0)])  # 20 in 5 s
    nps, peak = meter_inputs(rows_s, n_notes=50, duration_s=100.0)
    assert nps == pytest.approx(0.5)
    assert peak == pytest.approx(2.0)  # 20 rows in the densest 10 s
    assert meter_inputs(np.zeros(0), 0, 0.0) == (0.0, 0.0)  # no notes, no song: no error


def test_the_fit_recovers_a_linear_meter_and_predictions_stay_in_range():
    rng = np.random.default_rng(0)
    nps, peak = rng.uniform(1, 6, 40), rng.uniform(2, 10, 40)
    charts = list(zip(nps, peak, 1.0 + 0.5 * nps + 1.0 * peak, strict=True))
    fit = fit_meter(charts)
    assert fit == pytest.approx([1.0, 0.5, 1.0], abs=1e-3)
    assert predict_meter(fit, 2.0, 4.0) == 6
    assert predict_meter(fit, 100.0, 100.0) == 20 and predict_meter([-50, 0, 0], 1, 1) == 1
    assert predict_meter([3.0, 1.0], 2.0, 99.0) == 5  # an older two-term fit: no peak term


def test_too_few_charts_fit_their_median():
    assert fit_meter([(1.0, 2.0, 3), (2.0, 3.0, 5), (3.0, 4.0, 4)]) == [4.0, 0.0, 0.0]
