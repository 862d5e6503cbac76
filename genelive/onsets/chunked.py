"""A chunked-BiLSTM onset model (KLab's `paper` config) on onnxruntime: the three graphs of
`studio export chart` (the LSTM's input, one LSTM call with its state, the head), driven by the
same `chunked_bilstm` loop the PyTorch model runs. The loop is PyTorch code, so this path loads
torch; unchunked models run as one graph and do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export.folder import read_config
from export.manifest import load_graph
from genelive.onsets.config import CHUNKED_GRAPHS, OnsetConfig
from genelive.onsets.nets import chunked_bilstm


class ChunkedOnsetGraphs:
    """A chunked-BiLSTM onset model on onnxruntime, as a backend (`run`) of OnsetModel: the
    three graphs of `studio export chart`, driven by the same `chunked_bilstm` loop as PyTorch."""

    name = "onnx"

    def __init__(self, export_dir: Path, device: str = "auto"):
        # No memory arena, as for the unchunked graph (genelive.pipeline).
        self.input, lstm, self.head = (
            load_graph(export_dir, n, device, memory_arena=False) for n in CHUNKED_GRAPHS
        )
        self.device, self.path = self.input.device, self.input.path
        self.config = read_config(self.path.parent, OnsetConfig)
        self.lstm = _OnnxLstm(lstm, self.config.lstm_hidden, self.config.lstm_layers)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = torch.from_numpy(self.input.run(inputs)["lstm_input"])  # (B·D, T, C + 2)
        if x.shape[1] > self.config.lstm_chunk_frames:
            out = chunked_bilstm(self.lstm, x, self.config.lstm_chunk_frames)
        else:  # as nn.LSTM without a state: from zeros
            zeros = x.new_zeros(2 * self.lstm.num_layers, x.shape[0], self.lstm.hidden_size)
            out = self.lstm(x, (zeros, zeros))[0]
        probs = self.head.run({"lstm_output": out.numpy()})["frame_probs"]  # (B·D, T)
        n_songs, n_diff = len(inputs["log_mel"]), len(inputs["difficulty"])
        return {"onset_probs": probs.reshape(n_songs, n_diff, -1)}


class _OnnxLstm:
    """nn.LSTM's call, `(x, (h, c)) → (out, (h, c))`, on the one-chunk graph."""

    def __init__(self, backend, hidden_size: int, num_layers: int):
        self.backend, self.hidden_size, self.num_layers = backend, hidden_size, num_layers

    def __call__(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        out = self.backend.run({"x": x.numpy(), "h0": state[0].numpy(), "c0": state[1].numpy()})
        return torch.from_numpy(out["lstm_output"]), (
            torch.from_numpy(out["h"]),
            torch.from_numpy(out["c"]),
        )
