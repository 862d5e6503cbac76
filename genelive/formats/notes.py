"""A chart's notes as every format module reads and writes them: one `Note` per tap or hold, one
`Chart` per difficulty. (The corpus's charts, read for training, are `training.corpus`'s.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ChartFileError(ValueError):
    """A chart file that cannot be read, with the reason."""


@dataclass(frozen=True)
class Note:
    column: int
    beat: float
    time_s: float
    end_beat: float | None = None  # holds only
    end_time_s: float | None = None

    @property
    def is_hold(self) -> bool:
        return self.end_beat is not None


@dataclass
class Chart:
    """One difficulty's notes."""

    difficulty: str  # Beginner..Challenge
    meter: int
    notes: list[Note]
    duration_s: float = 0.0  # the song's, for notes per second
    seed: int | None = None  # the seed its arrows were sampled with

    @property
    def n_notes(self) -> int:
        return len(self.notes)

    @property
    def n_holds(self) -> int:
        return sum(n.is_hold for n in self.notes)

    @property
    def nps(self) -> float:
        return round(self.n_notes / self.duration_s, 3) if self.duration_s > 0 else 0.0

    def summary(self) -> dict:
        return {
            "difficulty": self.difficulty,
            "meter": self.meter,
            "notes": self.n_notes,
            "holds": self.n_holds,
            "nps": self.nps,
            "seed": self.seed,
        }


def note_array(chart: Chart) -> np.ndarray:
    """(N, 3) float: time_s, column, end_time_s (NaN for taps): for pictures and mixing."""
    rows = [
        (n.time_s, n.column, np.nan if n.end_time_s is None else n.end_time_s) for n in chart.notes
    ]
    return np.array(rows, np.float64).reshape(len(rows), 3)
