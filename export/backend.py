"""One interface, two runtimes: a network as `run(named numpy arrays) -> named numpy arrays`.

Pre- and post-processing (audio decoding, features, peak picking, scheduler loops) is written once
against this interface and drives either a PyTorch module or an onnxruntime session.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from export.folder import ModelFolderError

log = logging.getLogger(__name__)


class Backend(Protocol):
    name: str  # "torch" | "onnx"
    device: str  # "cpu" | "cuda"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but no CUDA GPU is available")
    return device


class TorchBackend:
    """Runs an `nn.Module` whose `forward` takes named tensors and returns a dict of tensors."""

    name = "torch"

    def __init__(self, module: torch.nn.Module, device: str = "auto"):
        self.device = pick_device(device)
        self.module = module.eval().to(self.device)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            tensors = {
                k: torch.as_tensor(np.asarray(v), device=self.device) for k, v in inputs.items()
            }
            outputs = self.module(**tensors)
        return {k: v.float().cpu().numpy() for k, v in outputs.items()}


class OnnxBackend:
    """Runs an ONNX graph with onnxruntime; the graph's input names are `forward`'s arguments.

    onnxruntime-gpu lists CUDA as available even on machines without a GPU, so the CUDA provider
    is asked for only when torch sees a GPU, and what the session really got is checked.
    On a GPU, inputs and outputs go through an IOBinding: the outputs land in device memory
    once and are copied back once, not through onnxruntime's per-run staging. On the CPU a
    binding only adds work (105 vs 80 µs a call on the chart step graph), so plain `run`.
    """

    name = "onnx"
    arena_override: bool | None = None  # set by bench/onnx_speed.py --arena to compare both

    def __init__(self, onnx_path: str | Path, device: str = "auto", precision: str = "fp32",
                 memory_arena: bool = True):  # fmt: skip
        import onnxruntime as ort

        self.device, self.path, self.precision = pick_device(device), Path(onnx_path), precision
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: CPU-only machines stay quiet
        # The CPU arena keeps each session's high-water mark for the next run: faster where big
        # same-size buffers repeat (StyTr²: 7.3 s with it, 11.3 s without, at 512²), but every
        # session holds its own peak (unCLIP's eight graphs: 2383 vs 1164 MiB, 22.1 vs 24.5 s).
        options.enable_cpu_mem_arena = (memory_arena if self.arena_override is None
                                        else self.arena_override)  # fmt: skip
        if precision == "fp16":
            # onnxruntime 1.31 at ORT_ENABLE_ALL crashes the process (segfault) building a CPU
            # session for the chart model's fp16 graphs; every lower level, layout included, is
            # fine. Found by building sessions for each graph at each level.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        except Exception as e:  # onnxruntime raises its own, unexported exception types
            raise ModelFolderError(f"{onnx_path}: not a loadable ONNX graph ({e})") from e
        got = self.session.get_providers()
        if self.device == "cuda" and "CUDAExecutionProvider" not in got:
            log.warning("CUDA provider unavailable in onnxruntime; running %s on CPU", onnx_path)
            self.device = "cpu"
        self.io_binding = self.device == "cuda"
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = sorted(set(self.input_names) - set(inputs))
        if missing:
            raise ValueError(f"ONNX graph inputs not given: {missing}")
        feed = {k: np.ascontiguousarray(inputs[k]) for k in self.input_names}
        if not self.io_binding:
            return dict(zip(self.output_names, self.session.run(self.output_names, feed),
                            strict=True))  # fmt: skip
        binding = self.session.io_binding()
        for name, value in feed.items():
            binding.bind_cpu_input(name, value)
        for name in self.output_names:
            binding.bind_output(name, self.device)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))
