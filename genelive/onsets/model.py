"""Onset models from a folder: audio in, per-difficulty activations and onset times out.

Three kinds share this one path (front end → network on a backend → peak picking):
GenéLive! (`genelive-onset`), the DDC-style CNN (`ddc-onset`) and the librosa baseline. The
networks (PyTorch) are imported only when a model runs on PyTorch: on onnxruntime nothing here
loads torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.backend import Backend, TorchBackend, check_backend
from export.manifest import load_graph, read_manifest
from genelive.audio import load_audio
from genelive.difficulty import DIFFICULTIES, DIFFICULTY_VALUES
from genelive.features import FPS, log_mel
from genelive.onsets.config import (
    DEFAULT_MODEL,
    ONSET_GRAPH,
    WEIGHTS_DIR,
    DDCConfig,
    LibrosaOnsetConfig,
    OnsetConfig,
    read_any_config,
)
from genelive.onsets.peaks import onset_times
from genelive.timing import BeatGrid

_FEATURE_INPUT = {"genelive-onset": "log_mel", "ddc-onset": "features"}


def build_network(config):
    """The PyTorch network of a config (None for librosa: nothing to learn)."""
    if isinstance(config, OnsetConfig):
        from genelive.onsets.nets import OnsetNet

        return OnsetNet(config)
    if isinstance(config, DDCConfig):
        from genelive.onsets.baselines import DDCOnsetNet

        return DDCOnsetNet(config)
    return None


def frame_rate(config) -> float:
    return FPS if isinstance(config, OnsetConfig) else 1.0 / config.hop_s


def frontend(config, audio: np.ndarray) -> np.ndarray:
    """16 kHz mono → the model's input features, (T, ...)."""
    if isinstance(config, OnsetConfig):
        return log_mel(audio)
    from genelive.onsets.baselines import ddc_features, librosa_activation

    if isinstance(config, DDCConfig):
        return ddc_features(audio, config)
    return librosa_activation(audio, config)


def frontend_id(config) -> str:
    """Names the front end's output, for caching features computed once."""
    if isinstance(config, OnsetConfig):
        return "genelive-logmel229"
    if isinstance(config, DDCConfig):
        sizes = "-".join(f"{w:g}" for w in config.fft_sizes_ms)
        return f"ddc-mel{config.n_mels}-{sizes}ms-hop{config.hop_s:g}"
    return f"librosa-flux-mel{config.n_mels}-hop{config.hop_s:g}"


@dataclass
class Activations:
    """What an onset model saw and said about one song."""

    fps: float
    features: np.ndarray  # (T, ...) front-end output
    beats: np.ndarray  # (T,) beat guide given to the model
    probs: np.ndarray  # (D, T) onset activation per difficulty
    difficulties: tuple[str, ...]


class OnsetModel:
    """An onset model folder, ready to run: `OnsetModel.load(dir)(audio_path)`."""

    def __init__(self, config, backend: Backend | None, folder: Path):
        self.config, self.backend, self.folder = config, backend, Path(folder)
        self.fps = frame_rate(config)

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, backend: str = "torch", device: str = "auto"
    ) -> OnsetModel:
        """backend="onnx": `model_dir` is a folder `studio export chart` wrote; its graph is
        loaded only if every file matches the manifest's SHA-256."""
        folder = Path(model_dir) if model_dir is not None else DEFAULT_MODEL
        if check_backend(backend) == "onnx":
            if ONSET_GRAPH in read_manifest(folder)["graphs"]:
                # No arena: one big run per song (2-min song: 1.48 s / 748 MiB without, 1.83 s /
                # 928 MiB with, the step graph included).
                onnx_backend = load_graph(folder, ONSET_GRAPH, device, memory_arena=False)
            else:  # a chunked-BiLSTM model: three graphs and the chunk loop
                from genelive.onsets.chunked import ChunkedOnsetGraphs

                onnx_backend = ChunkedOnsetGraphs(folder, device)
            graph = onnx_backend.path.parent
            return cls(read_any_config(graph), onnx_backend, graph)
        config = read_any_config(folder)
        if isinstance(config, LibrosaOnsetConfig):
            return cls(config, None, folder)
        from export.weights import load_model_folder

        _, net = load_model_folder(folder, type(config), build_network)
        return cls(config, TorchBackend(net, device), folder)

    @property
    def model_type(self) -> str:
        return self.config.model_type

    def features(self, audio: np.ndarray) -> np.ndarray:
        return frontend(self.config, audio)

    def activations(
        self,
        features: np.ndarray,
        beats: BeatGrid | None = None,
        difficulties: Sequence[str] = DIFFICULTIES,
    ) -> Activations:
        """Features (T, ...) → (D, T) activations; the conv stack runs once for all levels.

        Without a beat grid the beat guide is all zeros (the model was trained for that too).
        """
        n_frames = len(features)
        downbeat_value = getattr(self.config, "downbeat_value", 1.0)
        guide = (
            beats.guide(n_frames, downbeat_value, self.fps)
            if beats is not None
            else np.zeros(n_frames, np.float32)
        )
        if self.backend is None:  # librosa: one curve, the same for every level
            probs = np.repeat(features[None].astype(np.float32), len(difficulties), axis=0)
        else:
            values = np.array([DIFFICULTY_VALUES[DIFFICULTIES.index(d)] for d in difficulties])
            outputs = self.backend.run(
                {
                    _FEATURE_INPUT[self.model_type]: features[None].astype(np.float32),
                    "beats": guide[None],
                    "difficulty": values.astype(np.float32),
                }
            )
            probs = outputs["onset_probs"][0]
        return Activations(self.fps, features, guide, probs, tuple(difficulties))

    def __call__(
        self,
        audio: str | Path | np.ndarray,
        beats: BeatGrid | None = None,
        difficulties: Sequence[str] = DIFFICULTIES,
    ) -> Activations:
        if not isinstance(audio, np.ndarray):
            audio = load_audio(audio)
        return self.activations(self.features(audio), beats, difficulties)

    def onsets(self, act: Activations) -> dict[str, np.ndarray]:
        """Onset times (s) per difficulty, with the decoding chosen on validation."""
        decoding = self.config.decoding
        out = {}
        for name, probs in zip(act.difficulties, act.probs, strict=True):
            i = DIFFICULTIES.index(name)
            out[name] = onset_times(
                probs, self.fps, decoding.thresholds[i], decoding.min_gap_frames[i]
            )
        return out

    def describe(self) -> dict:
        return {
            "model_type": self.model_type,
            "folder": str(self.folder),
            "bundled": self.folder.resolve().is_relative_to(WEIGHTS_DIR.resolve()),
            "backend": self.backend.name if self.backend else "numpy",
            "device": self.backend.device if self.backend else "cpu",
        }
