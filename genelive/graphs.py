"""The chart models as ONNX graphs (`studio export chart`): the onset network whole, and the step
network as one LSTM step (the sampler feeds each row's choice back in, so it loops in Python on
either backend).

Both use the legacy TorchScript exporter at opset 17: torch.export (dynamo) rejects the onset
network's time pooling ("Cannot create Dim with inconsistent min=0, max=-oo"). The check at a
second shape (other batch, frame count and number of levels) proves the dynamic axes held.
KLab's chunked BiLSTM (`lstm_chunk_frames` > 0, the `paper` config) carries LSTM state from chunk
to chunk in a Python loop, so such a model exports as three graphs (the LSTM's input, one LSTM
call with its state, the head) and `ChunkedOnsetGraphs` runs the same `chunked_bilstm` loop the
PyTorch model runs, around them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from export.folder import CONFIG_FILE, ModelFolderError
from export.onnx import GraphSpec, source_hash
from export.weights import load_model_folder
from genelive.onsets.config import (
    CHUNKED_GRAPHS,
    DEFAULT_MODEL,
    ONSET_GRAPH,
    OnsetConfig,
    read_any_config,
)
from genelive.onsets.model import build_network
from genelive.onsets.nets import OnsetNet
from genelive.steps.config import N_ROW_FEATURES, STEPS_DIR, STEPS_GRAPH, StepConfig
from genelive.steps.nets import StepNet

LEGACY = {"exporter": "legacy", "opset": 17}


def graph_specs(onset_dir: str | Path | None = None, steps_dir: str | Path | None = None):
    onset_dir, steps_dir = Path(onset_dir or DEFAULT_MODEL), Path(steps_dir or STEPS_DIR)
    return [*_onset_specs(onset_dir), _steps_spec(steps_dir)]


def _made_from(folder: Path) -> dict:
    return {"from": source_hash([folder / CONFIG_FILE, folder / "model.safetensors"])}


def _onset_specs(folder: Path) -> list[GraphSpec]:
    config = read_any_config(folder)
    if not isinstance(config, OnsetConfig):
        raise ModelFolderError(f"{folder}: only GenéLive onset models export ({config.model_type})")
    _, net = load_model_folder(folder, OnsetConfig, build_network)
    net.eval()
    g = torch.Generator().manual_seed(0)

    def inputs(songs: int, frames: int, levels: int) -> dict[str, torch.Tensor]:
        return {
            "log_mel": torch.randn(songs, frames, config.n_mels, generator=g),
            "beats": torch.rand(songs, frames, generator=g),
            "difficulty": torch.rand(levels, generator=g),
        }

    axes = {
        "log_mel": {0: "songs", 1: "frames"},
        "beats": {0: "songs", 1: "frames"},
        "difficulty": {0: "levels"},
        "onset_probs": {0: "songs", 1: "levels", 2: "frames"},
    }
    config_file = {CONFIG_FILE: (folder / CONFIG_FILE).read_bytes()}
    if not config.lstm_chunk_frames:
        return [
            GraphSpec(
                ONSET_GRAPH,
                net,
                inputs(2, 300, 3),
                inputs(3, 517, 5),
                ["onset_probs"],
                axes,
                _made_from(folder),
                extra_files=config_file,
                **LEGACY,
            )
        ]
    rows, frames = {0: "rows", 1: "frames"}, {1: "rows"}
    width, hidden = net.lstm.input_size, net.lstm.hidden_size

    def state(n: int) -> torch.Tensor:
        return torch.randn(2 * net.lstm.num_layers, n, hidden, generator=g)

    def chunk(n: int, t: int, f: int) -> dict[str, torch.Tensor]:
        return {"x": torch.randn(n, t, f, generator=g), "h0": state(n), "c0": state(n)}

    axes_in = {k: v for k, v in axes.items() if k != "onset_probs"} | {"lstm_input": rows}
    return [
        GraphSpec(
            CHUNKED_GRAPHS[0],
            _LstmInput(net),
            inputs(2, 300, 3),
            inputs(3, 517, 5),
            ["lstm_input"],
            axes_in,
            _made_from(folder),
            extra_files=config_file,
            **LEGACY,
        ),
        GraphSpec(
            CHUNKED_GRAPHS[1],
            _LstmChunk(net),
            chunk(2, 40, width),
            chunk(3, 23, width),
            ["lstm_output", "h", "c"],
            {"x": rows, "h0": frames, "c0": frames, "lstm_output": rows, "h": frames, "c": frames},
            _made_from(folder),
            **LEGACY,
        ),
        GraphSpec(
            CHUNKED_GRAPHS[2],
            _Head(net),
            {"lstm_output": torch.randn(2, 40, 2 * hidden)},
            {"lstm_output": torch.randn(3, 23, 2 * hidden)},
            ["frame_probs"],
            {"lstm_output": rows, "frame_probs": rows},
            _made_from(folder),
            **LEGACY,
        ),
    ]


class _LstmInput(nn.Module):
    """The conv stack and the per-difficulty rows, up to the BiLSTM."""

    def __init__(self, net: OnsetNet):
        super().__init__()
        self.net = net

    def forward(self, log_mel, beats, difficulty) -> dict[str, torch.Tensor]:
        rows = self.net.per_difficulty(self.net.encode(log_mel), beats, difficulty)
        return {"lstm_input": self.net.lstm_input(*rows)}  # (B·D, T, C + 2)


class _LstmChunk(_LstmInput):
    """One call of the BiLSTM from a given state: one chunk of KLab's loop."""

    def forward(self, x, h0, c0) -> dict[str, torch.Tensor]:
        out, (h, c) = self.net.lstm(x, (h0, c0))
        return {"lstm_output": out, "h": h, "c": c}


class _Head(_LstmInput):
    def forward(self, lstm_output) -> dict[str, torch.Tensor]:
        return {"frame_probs": torch.sigmoid(self.net.head(lstm_output)[..., 0])}  # (N, T)


def _steps_spec(folder: Path) -> GraphSpec:
    config, net = load_model_folder(folder, StepConfig, StepNet)
    g = torch.Generator().manual_seed(0)

    def inputs(batch: int, rows: int) -> dict[str, torch.Tensor]:
        state = (config.layers, batch, config.hidden)
        return {
            "prev_states": torch.randint(0, 257, (batch, rows), generator=g),
            "row_features": torch.rand(batch, rows, N_ROW_FEATURES, generator=g),
            "mel": torch.randn(batch, rows, 229, generator=g),
            "h0": torch.randn(state, generator=g),
            "c0": torch.randn(state, generator=g),
        }

    by_row = {0: "batch", 1: "rows"}
    axes = {
        "prev_states": by_row,
        "row_features": by_row,
        "mel": by_row,
        "logits": by_row,
        "h0": {1: "batch"},
        "c0": {1: "batch"},
        "h": {1: "batch"},
        "c": {1: "batch"},
    }
    return GraphSpec(
        STEPS_GRAPH,
        net.eval(),
        inputs(2, 3),
        inputs(3, 1),
        ["logits", "h", "c"],
        axes,
        _made_from(folder),
        extra_files={CONFIG_FILE: (folder / CONFIG_FILE).read_bytes()},
        **LEGACY,
    )
