"""Onset evaluation: mir_eval one-to-one matching, micro- and chart-averaged P/R/F."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import mir_eval
import numpy as np

from genelive.config import DIFFICULTIES

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
