"""An export folder's manifest (`studio export`): its schema, the checks every load runs, and a
graph loaded from it as an onnxruntime backend. No PyTorch here: a pipeline that runs on
onnxruntime imports this, never export/onnx.py (which writes exports)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from export.checks import parse_json
from export.folder import ModelFolderError

MANIFEST = "manifest.json"
GRAPH_FILE = "model.onnx"
DEFAULT_OPSET = 18
MAX_OPSET = 25  # newer than torch.onnx's exporters write
EXPORTERS = ("dynamo", "legacy")
PRECISIONS = ("fp32", "fp16")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backend_for(folder: str | Path | None) -> str:
    """ "onnx" for a folder `studio export` wrote (it has a manifest), else "torch"."""
    return "onnx" if folder is not None and (Path(folder) / MANIFEST).is_file() else "torch"


# What a manifest must look like before anything in it is trusted: graph names are folders
# inside the export (no "..", no absolute paths), file names are plain names inside their
# graph's folder, every hash is a SHA-256.
_NAME = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
_FILE = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["graphs"],
    "properties": {
        "format": {"const": 1},
        "graphs": {
            "type": "object",
            "propertyNames": {"pattern": _NAME, "maxLength": 200},
            "additionalProperties": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"pattern": _FILE, "maxLength": 200},
                        "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                    "precision": {"enum": [*PRECISIONS, None]},
                    "opset": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
                    "exporter": {"enum": [*EXPORTERS, None]},
                },
            },
        },
    },
}


def read_manifest(out_dir: str | Path) -> dict:
    """An export's manifest, checked against MANIFEST_SCHEMA (ModelFolderError naming the
    first problem)."""
    import jsonschema

    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise ModelFolderError(f"{out_dir}: not an export folder (no {MANIFEST}); export first")
    manifest = parse_json(
        path.read_bytes(), f"{path}: not a valid export manifest", ModelFolderError
    )
    problem = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(manifest)
    )
    if problem is not None:
        where = "/".join(map(str, problem.absolute_path)) or "the top level"
        raise ModelFolderError(f"{path}: not a valid export manifest ({where}: {problem.message})")
    return manifest


def verified_graph(out_dir: str | Path, name: str, required: tuple[str, ...] = ()) -> Path:
    """The folder of graph `name`, after checking it against the manifest: every file in the
    folder listed, every listed file there with its SHA-256, the `required` ones among them,
    nothing a symbolic link, nothing outside the export. A tampered, truncated, missing or
    added file is an error, never a silent load."""
    return _verified_entry(Path(out_dir), name, required)[0]


def load_graph(out_dir: str | Path, name: str, device: str = "auto", memory_arena: bool = True):
    """Graph `name` of an export folder as an onnxruntime backend, hash-checked first
    (`memory_arena`: see OnnxBackend)."""
    from export.backend import OnnxBackend

    folder, entry = _verified_entry(Path(out_dir), name, (GRAPH_FILE,))
    _check_external_data(folder, entry)
    precision = entry.get("precision") or "fp32"
    return OnnxBackend(folder / GRAPH_FILE, device, precision=precision, memory_arena=memory_arena)


def _verified_entry(out_dir: Path, name: str, required: tuple[str, ...]) -> tuple[Path, dict]:
    manifest_path = out_dir / MANIFEST
    entry = read_manifest(out_dir)["graphs"].get(name)
    if entry is None:
        raise ModelFolderError(f"{out_dir}: the export has no graph {name!r}")
    folder = _inside(out_dir, name)
    listed = entry["files"]
    for rel in required:
        if rel not in listed:
            raise ModelFolderError(f"{manifest_path}: graph {name!r} does not list {rel}")
    unlisted = sorted({p.name for p in folder.iterdir()} - set(listed))
    if unlisted:
        raise ModelFolderError(
            f"{folder / unlisted[0]}: not listed in {manifest_path} (not written by the "
            "export); remove it or export again"
        )
    for rel, expected in listed.items():
        path = folder / rel
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ModelFolderError(f"{path}: not a plain file (links are not followed)")
        if not path.is_file():
            raise ModelFolderError(f"{path}: missing (listed in {manifest_path})")
        if file_sha256(path) != expected:
            raise ModelFolderError(
                f"{path}: its SHA-256 does not match {manifest_path} (changed or truncated "
                "since export); export again"
            )
    return folder, entry


def _inside(out_dir: Path, name: str) -> Path:
    """The folder of graph `name`: no part of it a symbolic link, none of it outside out_dir."""
    folder = out_dir
    for piece in name.split("/"):
        folder = folder / piece
        if folder.is_symlink():
            raise ModelFolderError(f"{folder}: a symbolic link inside an export (not followed)")
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: missing (listed in {out_dir / MANIFEST})")
    if not folder.resolve().is_relative_to(out_dir.resolve()):
        raise ModelFolderError(f"{folder}: outside the export folder {out_dir}")
    return folder


def _check_external_data(folder: Path, entry: dict) -> None:
    """Every tensor file the graph names must be one of its listed files (onnxruntime would
    otherwise read whatever path the graph gives)."""
    import onnx

    try:
        model = onnx.load(str(folder / GRAPH_FILE), load_external_data=False)
    except Exception as e:  # protobuf's own decode errors
        raise ModelFolderError(f"{folder / GRAPH_FILE}: not a readable ONNX graph ({e})") from None
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        if location not in entry["files"]:
            raise ModelFolderError(
                f"{folder / GRAPH_FILE}: its tensor {tensor.name!r} reads {location!r}, which "
                "the manifest does not list"
            )


def _tensors(graph) -> Iterator:
    """Every tensor a graph holds: initializers and constant attributes, subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                yield from _tensors(subgraph)
