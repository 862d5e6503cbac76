"""Onset evaluation: mir_eval one-to-one matching, micro- and chart-averaged P/R/F."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import mir_eval
import numpy as np

from genelive.difficulty import DIFFICULTIES

TOLERANCES_S = {"tol_50ms": 0.05, "tol_20ms": 0.02}  # GenéLive's and DDC's


def match_count(reference_s: np.ndarray, estimated_s: np.ndarray, window_s: float) -> int:
    """Pairs in a maximum one-to-one matching within ±window_s (mir_eval's onset matching)."""
    if len(reference_s) == 0 or len(estimated_s) == 0:
        return 0
    return len(
        mir_eval.util.match_events(np.asarray(reference_s), np.asarray(estimated_s), window_s)
    )


@dataclass
class Tally:
    matched: int = 0
    n_ref: int = 0
    n_est: int = 0
    chart_f: list[float] = field(default_factory=list)

    def add(self, matched: int, n_ref: int, n_est: int) -> None:
        self.matched += matched
        self.n_ref += n_ref
        self.n_est += n_est
        self.chart_f.append(_f(matched, n_ref, n_est))

    def report(self) -> dict:
        p = self.matched / self.n_est if self.n_est else 0.0
        r = self.matched / self.n_ref if self.n_ref else 0.0
        return {
            "p": round(p, 4),
            "r": round(r, 4),
            "f": round(_f(self.matched, self.n_ref, self.n_est), 4),
            "charts": len(self.chart_f),
            "chart_avg_f": round(float(np.mean(self.chart_f)), 4) if self.chart_f else 0.0,
        }


def _f(matched: int, n_ref: int, n_est: int) -> float:
    return 2 * matched / (n_ref + n_est) if n_ref + n_est else 0.0


def onset_report(results: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """(difficulty, reference times, estimated times) per chart → {"tol_50ms": {...}, ...}.

    Each tolerance maps Beginner..Challenge and "all" to micro P/R/F (plus chart count and the
    chart-averaged F); difficulties without charts are left out.
    """
    results = list(results)
    report = {}
    for tol_name, window in TOLERANCES_S.items():
        tallies = {name: Tally() for name in (*DIFFICULTIES, "all")}
        for difficulty, ref, est in results:
            m = match_count(ref, est, window)
            tallies[difficulty].add(m, len(ref), len(est))
            tallies["all"].add(m, len(ref), len(est))
        report[tol_name] = {k: t.report() for k, t in tallies.items() if t.chart_f}
    return report


# MIREX tempo accuracy: Acc1 within 4% of the true tempo; Acc2 also at these octave-like ratios.
TEMPO_TOLERANCE = 0.04
TEMPO_RATIOS_ACC2 = (1.0, 2.0, 0.5, 3.0, 1 / 3)
OFFSET_TOLERANCE_S = 0.02
CONSTANT_TEMPO_JITTER_S = 0.001  # beat intervals of a constant tempo map differ by rounding only


@dataclass(frozen=True)
class TrueTempo:
    bpm: float  # the dominant tempo: the median beat interval
    first_beat_s: float  # the first beat at or after 0 s
    constant: bool

    @classmethod
    def from_beat_times(cls, beat_times_s: np.ndarray) -> TrueTempo:
        intervals = np.diff(beat_times_s)
        period_s = float(np.median(intervals))
        constant = bool(np.abs(intervals - period_s).max() < CONSTANT_TEMPO_JITTER_S)
        return cls(60.0 / period_s, float(beat_times_s[0]), constant)

    def phase_error_s(self, offset_s: float) -> float:
        """Where beats at StepMania offset `offset_s` fall against the true beats, modulo one
        true beat: in [−period/2, period/2)."""
        period_s = 60.0 / self.bpm
        return (-offset_s - self.first_beat_s + period_s / 2) % period_s - period_s / 2


def tempo_report(results: Iterable[tuple[TrueTempo, float, float]]) -> dict:
    """(true tempo, estimated BPM, estimated StepMania offset) per song → MIREX-style accuracy.

    acc1/acc2 over every song (its dominant tempo); `offset_within_20ms` over the constant-tempo
    songs: the estimated beats, modulo one true beat, within ±20 ms of the chart's.
    """
    acc1, acc2, phase_ok = [], [], []
    for truth, bpm, offset_s in results:
        acc1.append(_tempo_matches(bpm, truth.bpm))
        acc2.append(any(_tempo_matches(bpm, truth.bpm * r) for r in TEMPO_RATIOS_ACC2))
        if truth.constant:
            phase_ok.append(abs(truth.phase_error_s(offset_s)) <= OFFSET_TOLERANCE_S)
    return {
        "songs": len(acc1),
        "acc1": _fraction(acc1),
        "acc2": _fraction(acc2),
        "constant_tempo_songs": len(phase_ok),
        "offset_within_20ms": _fraction(phase_ok),
    }


def _tempo_matches(bpm: float, true_bpm: float) -> bool:
    return abs(bpm / true_bpm - 1) <= TEMPO_TOLERANCE


def _fraction(flags: list[bool]) -> float:
    return round(float(np.mean(flags)), 4) if flags else 0.0
