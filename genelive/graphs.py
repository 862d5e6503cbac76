"""The chart models as ONNX graphs (`studio export chart`): the onset network whole, and the step
network as one LSTM step (the sampler feeds each row's choice back in, so it loops in Python on
either backend).

Both use the legacy TorchScript exporter at opset 17: torch.export (dynamo) rejects the onset
network's time pooling ("Cannot create Dim with inconsistent min=0, max=-oo"). The check at a
second shape (other batch, frame count and number of levels) proves the dynamic axes held.
KLab's chunked BiLSTM (`lstm_chunk_frames` > 0, the `paper` config) loops over chunks in Python
and is not exported yet.
"""

from __future__ import annotations

from pathlib import Path

import torch

from export.folder import CONFIG_FILE, ModelFolderError, load_model_folder
from export.onnx import GraphSpec, source_hash
from genelive.config import OnsetConfig
from genelive.pipeline import DEFAULT_MODEL, ONSET_GRAPH, build_network, read_any_config
from genelive.steps import N_ROW_FEATURES, STEPS_DIR, STEPS_GRAPH, StepConfig, StepNet

LEGACY = {"exporter": "legacy", "opset": 17}


def graph_specs(onset_dir: str | Path | None = None, steps_dir: str | Path | None = None):
    onset_dir, steps_dir = Path(onset_dir or DEFAULT_MODEL), Path(steps_dir or STEPS_DIR)
    return [_onset_spec(onset_dir), _steps_spec(steps_dir)]


def _made_from(folder: Path) -> dict:
    return {"from": source_hash([folder / CONFIG_FILE, folder / "model.safetensors"])}


def _onset_spec(folder: Path) -> GraphSpec:
    config = read_any_config(folder)
    if not isinstance(config, OnsetConfig):
        raise ModelFolderError(f"{folder}: only GenéLive onset models export ({config.model_type})")
    if config.lstm_chunk_frames:
        raise ModelFolderError(
            f"{folder}: chunked BiLSTM models (lstm_chunk_frames > 0) do not "
            "export yet; use the PyTorch backend"
        )
    _, net = load_model_folder(folder, OnsetConfig, build_network)
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
    return GraphSpec(
        ONSET_GRAPH,
        net.eval(),
        inputs(2, 300, 3),
        inputs(3, 517, 5),
        ["onset_probs"],
        axes,
        _made_from(folder),
        extra_files={CONFIG_FILE: (folder / CONFIG_FILE).read_bytes()},
        **LEGACY,
    )


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
