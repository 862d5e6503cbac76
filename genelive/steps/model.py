"""Step selection: which arrows each note row gets (DDC's idea, Donahue et al. 2017).

An LSTM reads the chart row by row and predicts the row's arrow state (one of 4⁴ = 256: nothing,
tap, hold head or tail per column) from the previous row's state, the difficulty, the time and
beat gaps around the row, where the row sits in the beat, and the audio (log-mel frame) there.
Charts are sampled from it with a seed, under playability rules that the samples cannot break:
holds close with a tail in their column, nothing is stepped on a held column, at most two feet
are down at once (one on Beginner: no jumps), no hold is left open at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.backend import Backend, TorchBackend, check_backend
from export.folder import read_config
from export.manifest import load_graph
from genelive.difficulty import DIFFICULTIES
from genelive.features import FPS, time_to_frame
from genelive.steps.arrows import HEAD, N_COLUMNS, N_STATES, NONE, STATE_COLUMNS, TAIL, TAP
from genelive.steps.config import (
    BEAT_PHASES,
    N_ROW_FEATURES,
    START_STATE,
    STEPS_DIR,
    STEPS_GRAPH,
    StepConfig,
)


def row_inputs(
    times_s: np.ndarray, beats: np.ndarray, difficulty: str, song_mel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows' features (R, N_ROW_FEATURES) and log-mel frames (R, 229), float32.

    `beats` may be NaN (an osu! chart without a beat grid); `song_mel` is the song's (T, 229)
    log-mel, normalised here per song so loudness does not matter.
    """
    times_s = np.asarray(times_s, np.float64)
    n = len(times_s)
    feats = np.zeros((n, N_ROW_FEATURES), np.float32)
    feats[:, DIFFICULTIES.index(difficulty)] = 1.0
    col = len(DIFFICULTIES)
    gaps_s = np.diff(times_s)
    dt_prev = np.concatenate([[4.0], gaps_s])
    dt_next = np.concatenate([gaps_s, [4.0]])
    feats[:, col] = np.log(np.clip(dt_prev, 1e-3, 4.0))
    feats[:, col + 1] = np.log(np.clip(dt_next, 1e-3, 4.0))
    known = np.isfinite(beats)
    db = np.diff(np.where(known, beats, 0.0))
    feats[:, col + 2] = np.clip(np.concatenate([[8.0], db]), 0, 8) / 8 * known
    feats[:, col + 3] = np.clip(np.concatenate([db, [8.0]]), 0, 8) / 8 * known
    col += 4
    frac = np.where(known, np.mod(beats, 1.0), np.nan)
    frac = np.minimum(frac, 1.0 - frac)  # mirror: 3/4 ≡ 1/4, 2/3 ≡ 1/3
    with np.errstate(invalid="ignore"):
        for i, phase in enumerate(BEAT_PHASES):
            feats[:, col + i] = np.abs(frac - min(phase, 1 - phase)) < 0.01
    col += len(BEAT_PHASES)
    feats[:, col] = known & ~feats[:, col - len(BEAT_PHASES) : col].any(1)  # other phase
    feats[:, col + 1] = ~known
    mel = (song_mel - song_mel.mean(0)) / (song_mel.std(0) + 1e-3)
    frames = np.clip(time_to_frame(times_s, FPS), 0, len(mel) - 1)
    return feats, mel[frames].astype(np.float32)


class StepModel:
    """A trained step-selection folder: `StepModel.load(dir).sample(...)`."""

    def __init__(self, config: StepConfig, backend: Backend, folder: Path):
        self.config, self.backend, self.folder = config, backend, Path(folder)

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, backend: str = "torch", device: str = "auto"
    ) -> StepModel:
        """backend="onnx": `model_dir` is a folder `studio export chart` wrote (hash-checked).
        One row at a time is latency-bound, so "auto" is the CPU here, GPU or not."""
        folder = Path(model_dir) if model_dir is not None else STEPS_DIR
        device = "cpu" if device == "auto" else device
        if check_backend(backend) == "onnx":
            onnx_backend = load_graph(folder, STEPS_GRAPH, device, memory_arena=False)
            graph = onnx_backend.path.parent
            return cls(read_config(graph, StepConfig), onnx_backend, graph)
        from export.weights import load_model_folder
        from genelive.steps.nets import StepNet

        config, net = load_model_folder(folder, StepConfig, StepNet)
        return cls(config, TorchBackend(net, device), folder)

    def sample(
        self,
        times_s: np.ndarray,
        beats: np.ndarray,
        difficulty: str,
        song_mel: np.ndarray,
        seed: int,
        temperature: float = 1.0,
        hold_bias: float | None = None,
    ) -> np.ndarray:
        """States (R,) for the rows, sampled with `seed` under the playability rules;
        `hold_bias` (default: the config's for the difficulty) is added to hold heads' logits."""
        feats, mel = row_inputs(times_s, beats, difficulty, song_mel)
        if hold_bias is None:
            hold_bias = self.config.hold_bias.get(difficulty, 0.0)
        bias = np.where(_HAS_HEAD, hold_bias, 0.0)  # (256,)
        rng = np.random.default_rng([seed, DIFFICULTIES.index(difficulty)])
        rules = PlayRules(difficulty, self.config.max_hold_beats)
        h = c = np.zeros((self.config.layers, 1, self.config.hidden), np.float32)
        prev = START_STATE
        states = np.zeros(len(times_s), np.int64)
        for i in range(len(times_s)):
            out = self.backend.run(
                {
                    "prev_states": np.array([[prev]], np.int64),
                    "row_features": feats[None, i : i + 1],
                    "mel": mel[None, i : i + 1],
                    "h0": h,
                    "c0": c,
                }
            )
            h, c = out["h"], out["c"]
            logits = (out["logits"][0, 0].astype(np.float64) + bias) / max(temperature, 1e-3)
            allowed = rules.allowed(beats[i], last=i == len(times_s) - 1)
            p = np.exp(logits - logits[allowed].max()) * allowed
            prev = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
            prev = min(prev, N_STATES - 1)
            while not allowed[prev]:  # float edge: the draw landed on a zero-width state
                prev -= 1
            rules.take(prev, beats[i])
            states[i] = prev
        return states


_NEW = ((STATE_COLUMNS == TAP) | (STATE_COLUMNS == HEAD)).sum(1)  # (256,) feet put down
_HAS_HEAD = (STATE_COLUMNS == HEAD).any(1)


class PlayRules:
    """What a player can hit, given the holds in progress."""

    def __init__(self, difficulty: str, max_hold_beats: float):
        self.max_down = 1 if difficulty == "Beginner" else 2
        self.max_hold_beats = max_hold_beats
        self.hold_start = np.full(N_COLUMNS, np.nan)  # beat where each held column's hold began

    def allowed(self, beat: float, last: bool) -> np.ndarray:
        held = np.isfinite(self.hold_start)
        vals = STATE_COLUMNS
        ok = np.where(held, (vals == NONE) | (vals == TAIL), vals != TAIL).all(1)
        must_end = held & (last | (beat - self.hold_start >= self.max_hold_beats))
        ok &= (vals[:, must_end] == TAIL).all(1)
        still_down = (held[None, :] & (vals != TAIL)).sum(1)
        ok &= _NEW + still_down <= self.max_down
        if last:
            ok &= ~_HAS_HEAD
        ok[0] = False  # a row always has something
        return ok

    def take(self, state: int, beat: float) -> None:
        vals = STATE_COLUMNS[state]
        self.hold_start[vals == TAIL] = np.nan
        self.hold_start[vals == HEAD] = beat
