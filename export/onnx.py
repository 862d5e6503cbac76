"""Export networks to ONNX, prove each graph against PyTorch, and keep a manifest that later loads
trust: the model packages describe their graphs (`GraphSpec`), this module does the rest.

For every graph: export (explicit exporter and opset) to a temporary folder, `onnx.checker`,
input/output names and dtypes, PyTorch vs onnxruntime at the export shape *and* at a second
shape (dynamic axes that silently pinned to the example show up there), then an atomic rename
into `OUT_DIR/<name>/` and an entry in `OUT_DIR/manifest.json` with the SHA-256 of every file,
the opset, exporter, package versions, input/output specs and the errors measured. A failed
check raises `ExportError` and leaves no graph folder behind. A rerun skips graphs whose entry
still matches their source (hash of weights and config) and whose files still hash right.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.backend import OnnxBackend
from export.folder import ModelFolderError, atomic_folder, write_json_atomic

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
GRAPH_FILE = "model.onnx"
DEFAULT_OPSET = 18
EXPORTERS = ("dynamo", "legacy")


class ExportError(RuntimeError):
    """An export that failed one of its checks; nothing of it was kept."""


@dataclass
class GraphSpec:
    """One network to export. `module.forward(**inputs)` returns a tensor or a dict of them."""

    name: str  # folder under OUT_DIR, e.g. "stytr2" or "unclip/decoder"
    module: torch.nn.Module | None
    example: dict[str, torch.Tensor]  # export shapes: ≥ 2 and distinct on every dynamic axis
    second: dict[str, torch.Tensor]  # another shape on every dynamic axis, for verification
    outputs: list[str]
    dynamic_axes: dict[str, dict[int, str]]  # input/output name → {axis: symbolic name}
    source: dict[str, Any]  # what the graph is made from (config, weights hash): rerun key
    atol: float = 1e-4
    rtol: float = 1e-3
    extra_files: dict[str, bytes] = field(default_factory=dict)  # written beside the graph
    # A graph one exporter cannot take may name the other (say why where the spec is made).
    exporter: str | None = None
    opset: int | None = None

    @classmethod
    def files_only(cls, name: str, files: dict[str, bytes], source: dict) -> GraphSpec:
        """No network: files a pipeline needs beside its graphs (tokenizer, scheduler configs),
        copied and hashed like a graph's."""
        return cls(name, None, {}, {}, [], {}, source, extra_files=files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_hash(files: list[Path], extra: Mapping[str, Any] | None = None) -> str:
    """A digest of the files a graph is made from, plus any settings that change it."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    return digest.hexdigest()


def backend_for(folder: str | Path | None) -> str:
    """ "onnx" for a folder `studio export` wrote (it has a manifest), else "torch"."""
    return "onnx" if folder is not None and (Path(folder) / MANIFEST).is_file() else "torch"


def read_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise ModelFolderError(f"{out_dir}: no {MANIFEST}; export first (studio export)")
    try:
        manifest = json.loads(path.read_text())
        manifest["graphs"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFolderError(f"{path}: not a valid export manifest ({e})") from None
    return manifest


def verified_graph(out_dir: str | Path, name: str) -> Path:
    """The folder of graph `name`, after checking every file against the manifest's SHA-256:
    a tampered, truncated or missing file is an error, never a silent load."""
    out_dir = Path(out_dir)
    entry = read_manifest(out_dir)["graphs"].get(name)
    if entry is None:
        raise ModelFolderError(f"{out_dir}: the export has no graph {name!r}")
    for rel, expected in entry["files"].items():
        path = out_dir / name / rel
        if not path.is_file():
            raise ModelFolderError(f"{path}: missing (listed in {out_dir / MANIFEST})")
        if file_sha256(path) != expected:
            raise ModelFolderError(
                f"{path}: its SHA-256 does not match {out_dir / MANIFEST} (changed or truncated "
                "since export); export again"
            )
    return out_dir / name


def export_graphs(
    specs: list[GraphSpec],
    out_dir: str | Path,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    report: Callable[[str], None] = print,
) -> dict:
    """Export, verify and record every spec; returns the manifest."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, not {exporter!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = read_manifest(out_dir)
    except ModelFolderError:
        manifest = {"format": 1, "graphs": {}}
    for spec in specs:
        graph_opset, graph_exporter = spec.opset or opset, spec.exporter or exporter
        old = manifest["graphs"].get(spec.name)
        if old and _still_valid(out_dir, spec, old, graph_opset, graph_exporter):
            report(f"{spec.name}: up to date, skipped")
            continue
        start = time.perf_counter()
        manifest["graphs"][spec.name] = _export_one(spec, out_dir, graph_opset, graph_exporter)
        write_json_atomic(out_dir / MANIFEST, manifest)
        err = manifest["graphs"][spec.name].get("max_abs_error")
        seconds = time.perf_counter() - start
        if err is None:
            report(f"{spec.name}: copied")
        else:
            report(f"{spec.name}: exported and verified in {seconds:.1f} s (max abs error "
                   f"{err['export_shape']:.2e} / {err['second_shape']:.2e})")  # fmt: skip
    return manifest


def _still_valid(out_dir: Path, spec: GraphSpec, entry: dict, opset: int, exporter: str) -> bool:
    if (entry.get("source") != spec.source or entry.get("opset") != opset
            or entry.get("exporter") != exporter):  # fmt: skip
        return False
    try:
        verified_graph(out_dir, spec.name)
    except ModelFolderError:
        return False
    return True


def _export_one(spec: GraphSpec, out_dir: Path, opset: int, exporter: str) -> dict:
    entry = {"source": spec.source, "opset": opset, "exporter": exporter}
    with atomic_folder(out_dir / spec.name, replace=True) as tmp:
        if spec.module is not None:
            graph = tmp / GRAPH_FILE
            module = spec.module.eval()
            _export(module, spec, graph, opset, exporter)
            io_spec = _check_graph(graph, spec)
            try:
                session = OnnxBackend(graph, device="cpu").session
            except ModelFolderError as e:
                raise ExportError(f"{spec.name}: {e}") from None
            errors = {"export_shape": _compare(module, session, spec, spec.example),
                      "second_shape": _compare(module, session, spec, spec.second)}  # fmt: skip
            entry |= {
                "versions": {p: version(p) for p in ("torch", "onnx", "onnxruntime-gpu")},
                "inputs": io_spec["inputs"],
                "outputs": io_spec["outputs"],
                "tolerance": {"atol": spec.atol, "rtol": spec.rtol},
                "max_abs_error": {k: v[0] for k, v in errors.items()},
                "max_rel_error": {k: v[1] for k, v in errors.items()},
            }
        for rel, data in spec.extra_files.items():
            (tmp / rel).write_bytes(data)
        entry["files"] = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    return entry


def _export(module, spec: GraphSpec, path: Path, opset: int, exporter: str) -> None:
    names = dict(input_names=list(spec.example), output_names=spec.outputs, opset_version=opset)
    quiet = io.StringIO()
    # It lists the torchvision ops it cannot register; we have no torchvision and need none.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with (torch.no_grad(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet),
              warnings.catch_warnings()):  # fmt: skip
            # The exporters' deprecation notices and tracer hints: the checks below decide.
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                torch.onnx.export(module, (), str(path), kwargs=dict(spec.example), dynamo=True,
                                  dynamic_shapes=_dynamic_shapes(spec), external_data=True,
                                  verbose=False, **names)  # fmt: skip
            else:
                torch.onnx.export(module, tuple(spec.example.values()), str(path), dynamo=False,
                                  dynamic_axes=spec.dynamic_axes, **names)  # fmt: skip
    except Exception as e:
        raise ExportError(f"{spec.name}: {exporter} export at opset {opset} failed: "
                          f"{str(e).splitlines()[0]}") from e  # fmt: skip


def _dynamic_shapes(spec: GraphSpec) -> dict:
    """dynamic_axes → torch.export's form: one `Dim` per symbolic name, shared across inputs."""
    dims: dict[str, torch.export.Dim] = {}
    shapes = {}
    for name in spec.example:
        axes = spec.dynamic_axes.get(name, {})
        shapes[name] = {axis: dims.setdefault(label, torch.export.Dim(label))
                        for axis, label in axes.items()} or None  # fmt: skip
    return shapes


def _check_graph(path: Path, spec: GraphSpec) -> dict:
    import onnx

    try:
        onnx.checker.check_model(str(path))  # by path: works for graphs over 2 GB too
    except onnx.checker.ValidationError as e:
        raise ExportError(f"{spec.name}: onnx.checker: {str(e).splitlines()[0]}") from None
    model = onnx.load(str(path), load_external_data=False)
    graph_inputs = [i for i in model.graph.input]
    names_in = [i.name for i in graph_inputs]
    names_out = [o.name for o in model.graph.output]
    if names_in != list(spec.example) or names_out != spec.outputs:
        raise ExportError(f"{spec.name}: graph names {names_in} → {names_out}, expected "
                          f"{list(spec.example)} → {spec.outputs}")  # fmt: skip

    def describe(value) -> dict:
        t = value.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
        return {"name": value.name, "dtype": dtype, "shape": dims}

    inputs = [describe(v) for v in graph_inputs]
    for described, (name, tensor) in zip(inputs, spec.example.items(), strict=True):
        want = str(tensor.numpy().dtype)
        if described["dtype"] != want:
            raise ExportError(f"{spec.name}: input {name} is {described['dtype']}, not {want}")
    return {"inputs": inputs, "outputs": [describe(v) for v in model.graph.output]}


def _compare(module, session, spec: GraphSpec, inputs: dict) -> tuple[float, float]:
    """Max abs and rel error of onnxruntime against PyTorch on `inputs`, or ExportError."""
    with torch.inference_mode():
        expected = module(**inputs)
    if isinstance(expected, torch.Tensor):
        expected = {spec.outputs[0]: expected}
    shapes = {k: tuple(v.shape) for k, v in inputs.items()}
    try:
        got = session.run(spec.outputs, {k: v.numpy() for k, v in inputs.items()})
    except Exception as e:  # onnxruntime's own exception types: an axis pinned at export, ...
        raise ExportError(f"{spec.name}: onnxruntime cannot run the graph at {shapes}: "
                          f"{str(e).splitlines()[0]}") from None  # fmt: skip
    worst_abs = worst_rel = 0.0
    for name, value in zip(spec.outputs, got, strict=True):
        want = expected[name].float().numpy()
        if value.shape != want.shape:
            raise ExportError(f"{spec.name}: output {name} has shape {value.shape} in "
                              f"onnxruntime, {want.shape} in PyTorch")  # fmt: skip
        diff = np.abs(value.astype(np.float64) - want)
        worst_abs = max(worst_abs, float(diff.max(initial=0.0)))
        worst_rel = max(worst_rel, float((diff / (np.abs(want) + 1e-6)).max(initial=0.0)))
        if not np.allclose(value, want, atol=spec.atol, rtol=spec.rtol):
            raise ExportError(f"{spec.name}: onnxruntime differs from PyTorch at {shapes}: max "
                              f"abs error {diff.max():.3g} (tolerance atol {spec.atol}, rtol "
                              f"{spec.rtol})")  # fmt: skip
    return worst_abs, worst_rel
