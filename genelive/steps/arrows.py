"""Per-row arrow states of a 4-panel chart: what the step-selection model reads and writes.

A row is one instant at which something happens on the pads. Each of the 4 columns is in one of
4 states (nothing, tap, hold head, hold tail), so a row is one of 4⁴ = 256 states, coded as
Σ value_c · 4^c (column 0 in the lowest digit). Rolls count as holds and lifts as taps; mines,
fakes and keysounds are not steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

N_COLUMNS = 4
NONE, TAP, HEAD, TAIL = 0, 1, 2, 3
N_STATES = 4**N_COLUMNS
# (256, 4): the value of each column in each state.
STATE_COLUMNS = (np.arange(N_STATES)[:, None] // 4 ** np.arange(N_COLUMNS)[None, :]) % 4


def encode(columns: Iterable[int]) -> int:
    return int(sum(int(v) * 4**c for c, v in enumerate(columns)))


@dataclass(frozen=True)
class StepRows:
    """A chart as a sequence of rows."""

    times_s: np.ndarray  # (R,) ascending
    beats: np.ndarray  # (R,) beat position of each row (float; NaN where unknown)
    states: np.ndarray  # (R,) int64 state codes, never 0

    def __len__(self) -> int:
        return len(self.states)


def rows_from_events(
    events: Iterable[tuple[float, float, int, int]],
) -> StepRows:
    """(time_s, beat, column, value) events → rows, merging events at one time (to 0.1 ms)."""
    rows: dict[int, list] = {}
    for time_s, beat, column, value in events:
        key = round(time_s * 10_000)
        row = rows.setdefault(key, [time_s, beat, [NONE] * N_COLUMNS])
        row[2][column] = value
    keys = sorted(rows)
    return StepRows(
        np.array([rows[k][0] for k in keys], np.float64),
        np.array([rows[k][1] for k in keys], np.float64),
        np.array([encode(rows[k][2]) for k in keys], np.int64),
    )


def count_notes(states: np.ndarray) -> tuple[int, int]:
    """(notes, holds): notes are taps plus hold heads (what a player hits)."""
    values = STATE_COLUMNS[np.asarray(states, np.int64)]
    return int(((values == TAP) | (values == HEAD)).sum()), int((values == HEAD).sum())
