"""Export folders someone else handed over: a manifest is checked against its schema, every file
a graph needs is listed, hashed and inside the folder, and nothing is a link. Each case is a
ModelFolderError naming the problem, never a silent load of what the manifest left out."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.folder import ModelFolderError
from export.manifest import MANIFEST, file_sha256, load_graph
from export.onnx import GraphSpec, export_graphs

GRAPH = "toy/net"


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": self.linear(x)}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """An export of one graph whose weights live in external data, plus a config file."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("export") / "export"
    spec = GraphSpec(
        GRAPH,
        Toy(),
        {"x": torch.randn(2, 3)},
        {"x": torch.randn(3, 3)},
        ["y"],
        {"x": {0: "b"}, "y": {0: "b"}},
        {"v": 1},
        exporter="legacy",
        extra_files={"config.json": b"{}"},
    )
    export_graphs([spec], out, report=lambda _: None)
    graph = out / GRAPH / "model.onnx"
    model = onnx.load(str(graph))
    onnx.save_model(
        model, str(graph), save_as_external_data=True, location="model.onnx.data", size_threshold=0
    )
    _rehash(out)
    load_graph(out, GRAPH, device="cpu")  # the clean export loads
    return out


def _rehash(out: Path) -> None:
    manifest = json.loads((out / MANIFEST).read_text())
    folder = out / GRAPH
    manifest["graphs"][GRAPH]["files"] = {p.name: file_sha256(p) for p in sorted(folder.iterdir())}
    (out / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture
def export(clean, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(clean, copy, symlinks=True)
    return copy


def _edit(export: Path, change) -> None:
    manifest = json.loads((export / MANIFEST).read_text())
    change(manifest, manifest["graphs"][GRAPH])
    (export / MANIFEST).write_text(json.dumps(manifest))


def _refused(export: Path, says: str) -> None:
    with pytest.raises(ModelFolderError, match=says):
        load_graph(export, GRAPH, device="cpu")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m, g: g["files"].pop("model.onnx.data"), r"model.onnx.data: not listed in"),
        (lambda m, g: g["files"].pop("config.json"), r"config.json: not listed in"),
        (lambda m, g: g["files"].pop("model.onnx"), r"does not list model.onnx"),
        (lambda m, g: g.update(files={}), r"files: \{\} should be non-empty"),
        (lambda m, g: g.update(files=[]), r"files: \[\] is not of type 'object'"),
        (lambda m, g: m.update(graphs=[]), r"graphs: \[\] is not of type 'object'"),
        (
            lambda m, g: g["files"].update({"../../../../etc/passwd": "0" * 64}),
            r"'\.\./\.\./\.\./\.\./etc/passwd' does not match '\^",
        ),
        (
            lambda m, g: g["files"].update({"/etc/shadow": "0" * 64}),
            r"'/etc/shadow' does not match '\^",
        ),
        (lambda m, g: m["graphs"].update({"../../etc": g}), r"'\.\./\.\./etc' does not match '\^"),
        (
            lambda m, g: g["files"].update({"model.onnx": "not a hash"}),
            r"'not a hash' does not match '\^",
        ),
        (lambda m, g: g.update(precision="fp8"), r"precision: 'fp8' is not one of"),
        (lambda m, g: m.update(format=2), r"format: 1 was expected"),
    ],
)
def test_manifests_that_do_not_describe_the_folder(export, change, says):
    _edit(export, change)
    _refused(export, says)


def test_a_manifest_that_is_not_one(export):
    for text, says in [
        ("{", "not valid JSON"),
        ("[" * 100_000, "nested more than 64"),
        ('{"graphs": {"toy/net": {"files": {"a": NaN}}}}', "NaN is not a JSON"),
    ]:
        (export / MANIFEST).write_text(text)
        _refused(export, says)


def test_a_changed_byte_is_refused(export):
    data = export / GRAPH / "model.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[3] ^= 1
    data.write_bytes(bytes(raw))
    _refused(export, "SHA-256 does not match")


def test_links_are_not_followed(export, tmp_path):
    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.copy(export / GRAPH / "model.onnx", elsewhere)
    (export / GRAPH / "model.onnx").unlink()
    os.symlink(elsewhere, export / GRAPH / "model.onnx")  # same bytes, same hash
    _refused(export, "not a plain file")


def test_a_linked_graph_folder_is_refused(export, tmp_path):
    moved = tmp_path / "moved"
    shutil.move(export / GRAPH, moved)
    os.symlink(moved, export / GRAPH)
    _refused(export, "a symbolic link inside an export")


def test_a_graph_cannot_read_tensors_from_outside(export, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(64, np.float32).tobytes())
    graph = export / GRAPH / "model.onnx"
    model = onnx.load(str(graph), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = os.path.relpath(secret, graph.parent)
    onnx.save(model, str(graph))
    _rehash(export)  # the manifest is consistent: only the location gives it away
    _refused(export, r"reads '\.\./.*secret.bin', which the manifest does not list")


def test_what_the_manifest_names_must_be_there(export):
    from export.manifest import verified_graph

    assert verified_graph(export, GRAPH) == export / GRAPH
    with pytest.raises(ModelFolderError, match="the export has no graph 'toy/other'"):
        load_graph(export, "toy/other", device="cpu")
    (export / GRAPH / "config.json").unlink()
    _refused(export, r"config.json: missing \(listed in")
    shutil.rmtree(export / GRAPH)
    _refused(export, r"toy/net: missing \(listed in")


def test_a_graph_file_that_is_not_onnx(export):
    (export / GRAPH / "model.onnx").write_bytes(b"\xff\xfe not a protobuf" * 8)
    _rehash(export)  # listed and hashed: only its contents give it away
    _refused(export, "model.onnx: not a readable ONNX graph")


def test_a_graph_without_a_precision_is_fp32(export):
    _edit(export, lambda m, g: g.update(precision=None))
    assert load_graph(export, GRAPH, device="cpu").precision == "fp32"


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        (lambda m, g: g.update(opset=1), True),
        (lambda m, g: g.update(opset=100), True),
        (lambda m, g: g.update(opset=0), False),
        (lambda m, g: g.update(opset=101), False),
        (lambda m, g: m["graphs"].update({"a" * 200: g}), True),
        (lambda m, g: m["graphs"].update({"a" * 201: g}), False),
        (lambda m, g: g["files"].update({"b" * 200: "0" * 64}), True),
        (lambda m, g: g["files"].update({"b" * 201: "0" * 64}), False),
    ],
)
def test_the_schemas_limits_are_where_it_says(export, change, ok):
    from export.manifest import read_manifest

    _edit(export, change)
    if ok:
        read_manifest(export)
    else:
        with pytest.raises(ModelFolderError, match="not a valid export manifest"):
            read_manifest(export)


def test_which_backend_a_folder_is_for(export, tmp_path):
    from export.manifest import backend_for

    assert backend_for(export) == "onnx" and backend_for(str(export)) == "onnx"
    assert backend_for(tmp_path / "plain") == "torch" and backend_for(None) == "torch"


def test_a_graph_without_its_own_opset_is_exported_at_the_default(clean):
    from export.manifest import read_manifest

    assert read_manifest(clean)["graphs"][GRAPH]["opset"] == 18  # what `studio export -h` says
