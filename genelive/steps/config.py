"""The step-selection model's config (`config.json`: network sizes and the corpus statistics its
training writes) and the row encoding it shares with the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from export.checks import check_config
from genelive.difficulty import DIFFICULTIES
from genelive.steps.arrows import N_STATES

START_STATE = N_STATES  # the "previous row" of the first row
BEAT_PHASES = (0.0, 0.5, 0.25, 1 / 3)  # on the beat, 8th, 16th, triplet (and their mirrors)
N_ROW_FEATURES = len(DIFFICULTIES) + 4 + len(BEAT_PHASES) + 2
STEPS_DIR = Path(__file__).parents[1] / "weights" / "steps"
STEPS_GRAPH = "chart/steps"  # its name in an export folder


@dataclass
class StepConfig:
    model_type: ClassVar[str] = "genelive-steps"
    state_dim: int = 64  # embedding of the previous row's state
    audio_dim: int = 32  # projection of the row's 229-bin log-mel frame
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.2
    # Longest hold the sampler lets run before it closes it, in beats.
    max_hold_beats: float = 8.0
    # Corpus statistics written at training, per difficulty: notes per second over the song
    # (10th, 50th, 90th percentiles), notes per row (jumps make it > 1), meter ≈ a + b · nps +
    # c · peak rows/s in the densest 10 s (over all packs, and per pack: packs rate alike
    # densities differently), and the shortest gap between note rows that charters use (2nd
    # percentile, s).
    density_nps: dict[str, list[float]] = field(default_factory=dict)
    notes_per_row: dict[str, float] = field(default_factory=dict)
    meter_fit: dict[str, list[float]] = field(default_factory=dict)
    meter_fit_by_pack: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    min_gap_s: dict[str, float] = field(default_factory=dict)
    # Added to the logits of states that start a hold, per difficulty: chosen on validation so
    # sampled charts hold as often as the human ones (`fit_hold_bias`). The network learned
    # holds whose tails end on rows of their own; generated rows are onsets only, and without
    # it the sampler writes half the human share.
    hold_bias: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        check_config(
            self,
            {
                "state_dim": (1, 4096),
                "audio_dim": (1, 4096),
                "hidden": (1, 4096),
                "layers": (1, 8),
                "dropout": (0.0, 1.0),
                "max_hold_beats": (0.25, 1000.0),
            },
        )
