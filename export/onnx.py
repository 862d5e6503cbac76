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

from export.atomic import atomic_folder, write_json_atomic
from export.backend import OnnxBackend
from export.checks import check_number
from export.folder import ModelFolderError
from export.manifest import (
    DEFAULT_OPSET,
    EXPORTERS,
    GRAPH_FILE,
    MANIFEST,
    MAX_OPSET,
    PRECISIONS,
    file_sha256,
    read_manifest,
    verified_graph,
)

log = logging.getLogger(__name__)


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
    # fp16 graphs are checked against the fp32 PyTorch module: max abs error ≤ fp16_tol × the
    # output's largest magnitude (fp16 has 11 significant bits; errors grow with depth).
    fp16_tol: float = 1e-2
    extra_files: dict[str, bytes] = field(default_factory=dict)  # written beside the graph
    # The graph's own exporter and opset where the defaults do not suit it (say why where the
    # spec is made); an opset given to export_graphs overrides this one.
    exporter: str | None = None
    opset: int | None = None

    @classmethod
    def files_only(cls, name: str, files: dict[str, bytes], source: dict) -> GraphSpec:
        """No network: files a pipeline needs beside its graphs (tokenizer, scheduler configs),
        copied and hashed like a graph's."""
        return cls(name, None, {}, {}, [], {}, source, extra_files=files)


def source_hash(files: list[Path], extra: Mapping[str, Any] | None = None) -> str:
    """A digest of the files a graph is made from, plus any settings that change it."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    return digest.hexdigest()


def export_graphs(
    specs: list[GraphSpec],
    out_dir: str | Path,
    opset: int | None = None,
    exporter: str = "dynamo",
    report: Callable[[str], None] = print,
    precision: str = "fp32",
) -> dict:
    """Export, verify and record every spec; returns the manifest. precision="fp16": each graph
    goes through onnxruntime's float16 converter (inputs and outputs stay float32) and is
    verified against the fp32 PyTorch module with the spec's `fp16_tol`."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, not {exporter!r}")
    if opset is not None:
        check_number(opset, "opset", 7, MAX_OPSET, integer=True)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = read_manifest(out_dir)
    except ModelFolderError:
        manifest = {"format": 1, "graphs": {}}
    for spec in specs:
        key = {
            "source": spec.source,
            "opset": opset or spec.opset or DEFAULT_OPSET,
            "exporter": spec.exporter or exporter,
            "precision": precision,
        }
        if spec.module is None:
            key |= {"opset": None, "exporter": None, "precision": None}  # plain files
        old = manifest["graphs"].get(spec.name)
        if old and _still_valid(out_dir, spec.name, old, key):
            report(f"{spec.name}: up to date, skipped")
            continue
        start = time.perf_counter()
        manifest["graphs"][spec.name] = _export_one(spec, out_dir, key)
        write_json_atomic(out_dir / MANIFEST, manifest)
        err = manifest["graphs"][spec.name].get("max_abs_error")
        seconds = time.perf_counter() - start
        if err is None:
            report(f"{spec.name}: copied")
        else:
            report(
                f"{spec.name}: exported and verified in {seconds:.1f} s (max abs error "
                f"{err['export_shape']:.2e} / {err['second_shape']:.2e})"
            )
    return manifest


def _still_valid(out_dir: Path, name: str, entry: dict, key: dict) -> bool:
    if any(entry.get(k, "fp32" if k == "precision" else None) != v for k, v in key.items()):
        return False
    try:
        verified_graph(out_dir, name, (GRAPH_FILE,) if key["opset"] else ())
    except ModelFolderError:
        return False
    return True


def _export_one(spec: GraphSpec, out_dir: Path, key: dict) -> dict:
    entry = dict(key)
    with atomic_folder(out_dir / spec.name, replace=True) as tmp:
        if spec.module is not None:
            graph, fp16 = tmp / GRAPH_FILE, key["precision"] == "fp16"
            module = spec.module.eval()
            _export(module, spec, graph, key["opset"], key["exporter"])
            if fp16:
                _to_fp16(graph, spec.name)
            io_spec = _check_graph(graph, spec)
            try:
                session = OnnxBackend(graph, device="cpu", precision=key["precision"]).session
            except ModelFolderError as e:
                raise ExportError(f"{spec.name}: {e}") from None
            shapes = {"export_shape": spec.example, "second_shape": spec.second}
            errors = {k: _compare(module, session, spec, v, fp16) for k, v in shapes.items()}
            tolerance = (
                {"max_abs_over_max_output": spec.fp16_tol}
                if fp16
                else {"atol": spec.atol, "rtol": spec.rtol}
            )
            entry |= {
                "versions": {p: version(p) for p in ("torch", "onnx", "onnxruntime-gpu")},
                "inputs": io_spec["inputs"],
                "outputs": io_spec["outputs"],
                "tolerance": tolerance,
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
    try:
        # The exporters print progress and notes of their own; for this call only, they go to a
        # buffer (every check that matters follows the export).
        with (
            torch.no_grad(),
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
            warnings.catch_warnings(),
            _quiet_loggers(*EXPORTER_CHATTER),
        ):
            # The exporters' deprecation notices and tracer hints: the checks below decide.
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                torch.onnx.export(
                    module,
                    (),
                    str(path),
                    kwargs=dict(spec.example),
                    dynamo=True,
                    dynamic_shapes=_dynamic_shapes(spec),
                    external_data=True,
                    verbose=False,
                    **names,
                )
            else:
                torch.onnx.export(
                    module,
                    tuple(spec.example.values()),
                    str(path),
                    dynamo=False,
                    dynamic_axes=spec.dynamic_axes,
                    **names,
                )
    except Exception as e:
        raise ExportError(
            f"{spec.name}: {exporter} export at opset {opset} failed: {str(e).splitlines()[0]}"
        ) from e


# It lists the torchvision ops it cannot register (we have no torchvision and need none); it
# notes each Split it leaves unfolded (harmless, one line per attention layer).
EXPORTER_CHATTER = (
    "torch.onnx._internal.exporter._registration",
    "onnxscript.optimizer._constant_folding",
)


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """These loggers at ERROR for the block only; their levels are restored after."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _dynamic_shapes(spec: GraphSpec) -> dict:
    """dynamic_axes → torch.export's form: one `Dim` per symbolic name, shared across inputs."""
    dims: dict[str, torch.export.Dim] = {}
    shapes = {}
    for name in spec.example:
        axes = spec.dynamic_axes.get(name, {})
        shapes[name] = {
            axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in axes.items()
        } or None
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
        raise ExportError(
            f"{spec.name}: graph names {names_in} → {names_out}, expected "
            f"{list(spec.example)} → {spec.outputs}"
        )

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


def _compare(module, session, spec: GraphSpec, inputs: dict, fp16: bool) -> tuple[float, float]:
    """Max abs and rel error of onnxruntime against PyTorch on `inputs`, or ExportError."""
    with torch.inference_mode():
        expected = module(**inputs)
    if isinstance(expected, torch.Tensor):
        expected = {spec.outputs[0]: expected}
    shapes = {k: tuple(v.shape) for k, v in inputs.items()}
    try:
        got = session.run(spec.outputs, {k: v.numpy() for k, v in inputs.items()})
    except Exception as e:  # onnxruntime's own exception types: an axis pinned at export, ...
        raise ExportError(
            f"{spec.name}: onnxruntime cannot run the graph at {shapes}: {str(e).splitlines()[0]}"
        ) from None
    worst_abs = worst_rel = 0.0
    for name, value in zip(spec.outputs, got, strict=True):
        want = expected[name].float().numpy()
        if value.shape != want.shape:
            raise ExportError(
                f"{spec.name}: output {name} has shape {value.shape} in "
                f"onnxruntime, {want.shape} in PyTorch"
            )
        diff = np.abs(value.astype(np.float64) - want)
        worst_abs = max(worst_abs, float(diff.max(initial=0.0)))
        worst_rel = max(worst_rel, float((diff / (np.abs(want) + 1e-6)).max(initial=0.0)))
        if fp16:
            bound = spec.fp16_tol * float(np.abs(want).max(initial=0.0))
            ok, rule = bool(diff.max(initial=0.0) <= bound), f"{spec.fp16_tol} × max |output|"
        else:
            ok = np.allclose(value, want, atol=spec.atol, rtol=spec.rtol)
            rule = f"atol {spec.atol}, rtol {spec.rtol}"
        if not ok:
            raise ExportError(
                f"{spec.name}: onnxruntime differs from PyTorch at {shapes}: max "
                f"abs error {diff.max():.3g} (tolerance {rule})"
            )
    return worst_abs, worst_rel


def _to_fp16(path: Path, name: str) -> None:
    """Rewrite the fp32 graph at `path` (and its external data) as fp16 with onnxruntime's
    converter. Inputs and outputs stay float32, so every pipeline feeds and reads the same
    arrays at either precision; ops on the converter's block list stay fp32 behind casts."""
    import onnx_ir
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "fp32 values out of fp16 range": clipped, checked
            model = convert_float_to_float16(str(path), keep_io_types=True)  # by path: > 2 GB ok
    except Exception as e:
        raise ExportError(f"{name}: the float16 converter failed: {e}") from e
    _drop_repeated_casts(model.graph)
    fp16_model = onnx_ir.from_proto(model)
    fp16_model.graph.sort()  # the converter appends the input casts after their readers
    for old in path.parent.glob(f"{path.name}*"):
        old.unlink()
    onnx_ir.save(fp16_model, path, external_data=f"{path.name}.data")


def _drop_repeated_casts(graph) -> None:
    """Where several blocked nodes read one fp16 value, the converter inserts the same Cast
    (same name, same output) once per reader; onnxruntime refuses repeated node names. The
    first copy precedes every reader, so the others can go."""
    seen: dict[str, bytes] = {}
    kept = []
    for node in graph.node:
        data = node.SerializeToString()
        if node.name and seen.get(node.name) == data:
            continue
        seen.setdefault(node.name, data)
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
