"""One interface, two runtimes: a network as `run(named numpy arrays) -> named numpy arrays`.

Pre- and post-processing (audio decoding, features, peak picking, scheduler loops) is written once
against this interface and drives either a PyTorch module or an onnxruntime session.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from export.checks import InvalidValue
from export.folder import ModelFolderError

log = logging.getLogger(__name__)


BACKENDS = ("torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")


class Backend(Protocol):
    name: str  # "torch" | "onnx"
    device: str  # "cpu" | "cuda"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def check_backend(backend: str) -> str:
    """The one check of a backend name, for every model's `load(folder, backend=, device=)`."""
    if backend not in BACKENDS:
        raise InvalidValue.of("backend", f"must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return backend


def pick_device(device: str = "auto") -> str:
    """ "auto" → "cuda" when a CUDA GPU is here, else "cpu"."""
    if device not in DEVICES:
        raise InvalidValue.of("device", f"must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "auto":
        return "cuda" if gpu_present() else "cpu"
    if device == "cuda" and not gpu_present():
        raise InvalidValue.of("device", "is 'cuda', but no CUDA GPU is available")
    return device


def gpu_present() -> bool:
    """Whether a CUDA GPU is here. PyTorch knows, when it is loaded; an onnxruntime-only process
    does not import it for this (onnxruntime-gpu lists CUDA even without a GPU), so there the
    driver's device nodes decide, and the session's providers are checked afterwards."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


class TorchBackend:
    """Runs an `nn.Module` whose `forward` takes named tensors and returns a dict of tensors."""

    name = "torch"

    def __init__(self, module, device: str = "auto"):
        import torch  # here, not at import: the onnxruntime path never loads PyTorch

        self.torch, self.device = torch, pick_device(device)
        self.module = module.eval().to(self.device)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
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

    def __init__(
        self,
        onnx_path: str | Path,
        device: str = "auto",
        precision: str = "fp32",
        memory_arena: bool = True,
    ):
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
        options.enable_cpu_mem_arena = memory_arena
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
            return dict(
                zip(self.output_names, self.session.run(self.output_names, feed), strict=True)
            )
        binding = self.session.io_binding()
        for name, value in feed.items():
            binding.bind_cpu_input(name, value)
        for name in self.output_names:
            binding.bind_output(name, self.device)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))
