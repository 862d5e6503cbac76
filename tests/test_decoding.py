"""Peak picking, threshold tuning and the evaluation report."""

from __future__ import annotations

import numpy as np
import pytest

from genelive.evaluation.metrics import match_count, onset_report
from genelive.onsets.peaks import pick_peaks, tune_decoding


def bumps(centres, n=200, height=0.9, width=2.0):
    t = np.arange(n)
    return sum(height * np.exp(-0.5 * ((t - c) / width) ** 2) for c in centres)


def test_peaks_respect_threshold_and_gap():
    probs = bumps([20, 50, 53, 120], width=1.0) + bumps([90], height=0.2)
    assert pick_peaks(probs, 0.5, 1).tolist() == [20, 50, 53, 120]
    spaced = pick_peaks(probs, 0.5, 5).tolist()
    assert len(spaced) == 3 and spaced[0] == 20 and spaced[2] == 120
    assert 90 in pick_peaks(probs, 0.1, 1).tolist()
    flat = np.zeros(20)
    flat[5:9] = 0.8  # a plateau counts once
    assert len(pick_peaks(flat, 0.5, 1)) == 1


def test_one_to_one_matching():
    ref = np.array([1.0, 2.0, 3.0])
    assert match_count(ref, np.array([1.01, 1.02, 2.04, 3.5]), 0.05) == 2  # one est per ref
    assert match_count(ref, np.array([]), 0.05) == 0


def test_report_is_micro_averaged_per_difficulty():
    results = [
        ("Easy", np.array([1.0, 2.0]), np.array([1.0, 2.0])),  # 2/2
        ("Easy", np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 9.0])),  # 1 of 2 est, 1 of 4 ref
        ("Hard", np.array([1.0]), np.array([1.03])),  # within 50 ms, not 20 ms
    ]
    report = onset_report(results)
    easy = report["tol_50ms"]["Easy"]
    assert easy["p"] == pytest.approx(3 / 4) and easy["r"] == pytest.approx(3 / 6)
    assert easy["charts"] == 2 and easy["chart_avg_f"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    assert report["tol_50ms"]["Hard"]["f"] == 1.0 and report["tol_20ms"]["Hard"]["f"] == 0.0
    assert report["tol_50ms"]["all"]["p"] == pytest.approx(4 / 5)
    assert "Beginner" not in report["tol_50ms"]


def test_tuning_finds_the_threshold_that_separates_notes_from_noise():
    fps = 100.0
    notes = [30, 80, 130, 180]
    probs = bumps(notes, n=220, height=0.7) + bumps([55, 105, 155], n=220, height=0.3)
    ref = np.array(notes) / fps
    decoding, f = tune_decoding([("Medium", probs, ref)] * 3, fps)
    assert 0.3 < decoding.thresholds[2] < 0.7
    assert f["Medium"] == 1.0
    assert decoding.thresholds[0] == 0.5  # no Beginner charts: the default stays


def test_the_peak_picker_finds_what_scipy_finds():
    """genelive's numpy peak picker against scipy.signal.find_peaks(height=, distance=) on
    noise, on steps with ties, and on plateaus of every width."""
    from scipy.signal import find_peaks

    from genelive.onsets.peaks import peaks

    rng = np.random.default_rng(0)
    for trial in range(600):
        n = int(rng.integers(1, 300))
        x = [
            rng.random(n),
            np.round(rng.random(n) * 5) / 5,
            np.repeat(np.round(rng.random(n // 4 + 1) * 4) / 4, 4)[:n],
        ][trial % 3]
        height, distance = float(rng.choice([0.0, 0.2, 0.5, 0.9])), int(rng.integers(1, 12))
        expected, props = find_peaks(x, height=height, distance=distance)
        frames, heights = peaks(x, height, distance)
        np.testing.assert_array_equal(frames, expected)
        np.testing.assert_array_equal(heights, props["peak_heights"])


def test_onset_times_are_peak_frames_over_the_frame_rate():
    from genelive.onsets.peaks import onset_times

    probs = bumps([20, 50, 120], width=1.0)
    np.testing.assert_allclose(onset_times(probs, 31.25, 0.5, 1), [20 / 31.25, 50 / 31.25, 3.84])


def _tuned(probs, ref, fps=100.0, difficulty="Medium"):
    decoding, f = tune_decoding([(difficulty, probs, np.asarray(ref) / fps)] * 2, fps)
    i = ["Beginner", "Easy", "Medium", "Hard", "Challenge"].index(difficulty)
    return decoding.thresholds[i], decoding.min_gap_frames[i], f[difficulty]


def test_tuning_moves_off_the_default_when_that_separates_better():
    notes = [30, 80, 130, 180]
    threshold, _, f = _tuned(bumps(notes, n=220, height=0.3) + bumps([55, 155], 220, 0.1), notes)
    assert 0.1 < threshold <= 0.3 and threshold != 0.5 and f == 1.0


@pytest.mark.parametrize(
    ("note", "noise", "chosen"),
    [(0.025, 0.015, 0.02), (0.05, 0.035, 0.04)],  # the grid starts at 0.02, in steps of 0.02
)
def test_tuning_reaches_low_thresholds_in_small_steps(note, noise, chosen):
    notes = [30, 80, 130, 180]
    probs = bumps(notes, n=220, height=note) + bumps([55, 105, 155], 220, noise)
    threshold, _, f = _tuned(probs, notes)
    assert threshold == chosen and f == 1.0


def test_tuning_scores_within_50_ms():
    notes = [30, 80, 130, 180]
    _, _, f = _tuned(bumps(notes, n=220), [n + 7 for n in notes])  # 70 ms late: no match
    assert f == 0.0
    _, _, f = _tuned(bumps(notes, n=220), [n + 4 for n in notes])  # 40 ms late: all match
    assert f == 1.0


def test_tuning_finds_the_gap_that_removes_double_peaks():
    # Loud notes ring twice (80 ms later, too late to match); quiet notes are lower than the
    # echoes, so no threshold separates them: only a minimum gap does.
    notes = [30, 80, 130, 180]
    probs = bumps(notes[::2], 220, 0.9, 1.0) + bumps(notes[1::2], 220, 0.5, 1.0)
    probs += bumps([n + 8 for n in notes[::2]], 220, 0.7, 1.0)
    threshold, gap, f = _tuned(probs, notes)
    assert f == 1.0 and gap == 9 and threshold <= 0.5  # the grid's smallest gap over 8 frames


@pytest.mark.parametrize(
    "rows, words",
    [((0.5, 0.5), "one value per difficulty"), ((0.5, 0.5, -1.0, 0.5, 0.5), "rows_per_mass")],
)
def test_a_bad_rows_per_mass_is_refused_in_one_line(rows, words):
    from export.checks import InvalidValue
    from genelive.onsets.config import Decoding

    with pytest.raises(InvalidValue, match=words):
        Decoding(rows_per_mass=rows)
    assert Decoding().rows_per_mass == ()  # folders written before the field: count by threshold
