"""ONNX export: verified graphs, the manifest, reruns, tampering, and StyTr² on onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from export.folder import ModelFolderError
from export.manifest import read_manifest, verified_graph
from export.onnx import ExportError, GraphSpec, export_graphs
from export.weights import save_model_folder
from stytr2 import StyleTransfer
from stytr2.model import StyTr2Config, StyTr2Net

SMALL = StyTr2Config(d_model=32, heads=4, ffn=64, encoder_layers=1, decoder_layers=1)


@pytest.fixture(scope="module")
def stytr2_model(tmp_path_factory):
    torch.manual_seed(0)
    return save_model_folder(tmp_path_factory.mktemp("m") / "stytr2", SMALL, StyTr2Net(SMALL))


@pytest.fixture(scope="module")
def exported(stytr2_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "export"
    assert main(["export", "stytr2", "--model", str(stytr2_model), "-o", str(out)]) == 0
    return out


def test_export_writes_a_manifest_with_hashes_versions_and_errors(exported):
    graphs = read_manifest(exported)["graphs"]
    assert sorted(graphs) == ["stytr2/decoder", "stytr2/embedding", "stytr2/transformer"]
    entry = graphs["stytr2/transformer"]
    assert entry["opset"] == 23 and entry["exporter"] == "dynamo"  # its fused Attention
    assert graphs["stytr2/decoder"]["opset"] == 18
    assert set(entry["versions"]) == {"torch", "onnx", "onnxruntime-gpu"}
    assert "model.onnx" in entry["files"] and all(len(h) == 64 for h in entry["files"].values())
    assert [i["name"] for i in entry["inputs"]] == ["content", "style"]
    assert entry["inputs"][0]["shape"][0] == "batch" and entry["inputs"][1]["dtype"] == "float32"
    assert 0 <= entry["max_abs_error"]["second_shape"] <= entry["tolerance"]["atol"]


def test_each_exported_graph_matches_pytorch_at_a_shape_it_never_saw(exported, stytr2_model):
    # Our own check, not the exporter's recorded error: each graph file run by a bare
    # onnxruntime session at a third shape (batch 1, new sizes) beside the PyTorch module.
    import onnxruntime as ort

    from stytr2.backends import graph_specs

    d = SMALL.d_model
    g = torch.Generator().manual_seed(7)
    fresh = {
        "stytr2/embedding": {"image": torch.rand(1, 3, 24, 88, generator=g)},
        "stytr2/transformer": {
            "content": torch.rand(1, d, 3, 11, generator=g),
            "style": torch.rand(1, d, 9, 2, generator=g),
        },
        "stytr2/decoder": {"hs": torch.rand(1, d, 2, 13, generator=g)},
    }
    for spec in graph_specs(stytr2_model):
        session = ort.InferenceSession(
            str(exported / spec.name / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        inputs = fresh[spec.name]
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.inference_mode():
            out = spec.module(**inputs)
            want = (out[spec.outputs[0]] if isinstance(out, dict) else out).numpy()
        assert got.shape == want.shape, spec.name
        assert np.abs(got - want).max() < 1e-4, spec.name


def test_a_rerun_skips_what_is_done(exported, stytr2_model, capsys):
    before = read_manifest(exported)
    assert main(["export", "stytr2", "--model", str(stytr2_model), "-o", str(exported)]) == 0
    assert capsys.readouterr().err.count("up to date, skipped") == 3
    assert read_manifest(exported) == before


def test_style_transfer_on_onnxruntime_equals_pytorch(exported, stytr2_model):
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 255, (70, 53, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 255, (40, 96, 3), dtype=np.uint8))
    options = {"alpha": 0.7, "style_weights": [1, 2]}
    torch_out = StyleTransfer.load(stytr2_model)(content, [style, content], **options)
    onnx_transfer = StyleTransfer.load(exported, backend="onnx")
    assert onnx_transfer.nets.name == "onnx"
    onnx_out = onnx_transfer(content, [style, content], **options)
    diff = np.abs(np.asarray(onnx_out, np.int16) - np.asarray(torch_out, np.int16))
    assert onnx_out.size == (53, 70) and diff.max() <= 1  # 8-bit rounding of 1e-6 differences


def test_tampered_or_truncated_graphs_are_refused(exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    data = copy / "stytr2" / "decoder" / "model.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(ModelFolderError, match="SHA-256 does not match"):
        StyleTransfer.load(copy, backend="onnx")
    (copy / "stytr2" / "embedding" / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"embedding.*SHA-256"):
        verified_graph(copy, "stytr2/embedding")
    (copy / "manifest.json").write_text("{")
    with pytest.raises(ModelFolderError, match="not a valid export manifest"):
        StyleTransfer.load(copy, backend="onnx")


class ShapeDependent(torch.nn.Module):
    """Right at the export shape only: its width is baked in as a constant."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": x * float(x.shape[-1])}


def test_a_failing_check_leaves_nothing_and_says_why(tmp_path):
    spec = GraphSpec(
        "toy",
        ShapeDependent(),
        {"x": torch.ones(2, 5)},
        {"x": torch.ones(3, 7)},
        ["y"],
        {"x": {0: "batch", 1: "width"}, "y": {0: "batch", 1: "width"}},
        {"v": 1},
    )
    with pytest.raises(ExportError, match=r"toy: onnxruntime differs from PyTorch at .*\(3, 7\)"):
        export_graphs([spec], tmp_path / "out", exporter="legacy", report=lambda _: None)
    assert not (tmp_path / "out" / "toy").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_cli_says_what_is_wrong(tmp_path, capsys):
    assert main(["export", "stytr2", "--model", str(tmp_path / "none"), "-o", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(json.dumps({"graphs": {}}))
    with pytest.raises(ModelFolderError, match="no graph 'stytr2/embedding'"):
        StyleTransfer.load(tmp_path, backend="onnx")


@pytest.fixture(scope="module")
def unclip_export(tmp_path_factory):
    from unclip.tiny import make_tiny_unclip

    root = tmp_path_factory.mktemp("unclip")
    model = make_tiny_unclip(root / "tiny")
    assert main(["export", "unclip", "--model", str(model), "-o", str(root / "onnx")]) == 0
    return model, root / "onnx"


def test_unclip_on_onnxruntime_equals_pytorch(unclip_export, tmp_path):
    from unclip import Steps, UnCLIP

    model, out = unclip_export
    graphs = read_manifest(out)["graphs"]
    assert {
        "unclip/prior",
        "unclip/decoder",
        "unclip/super_res_last",
        "unclip/image_encoder",
        "unclip/tokenizer",
    } <= set(graphs)
    assert (
        max(g["max_abs_error"]["second_shape"] for g in graphs.values() if "max_abs_error" in g)
        < 1e-4
    )
    steps = Steps(7, 25, 7)
    torch_pipe, onnx_pipe = UnCLIP.load(model), UnCLIP.load(out, backend="onnx")
    assert onnx_pipe.is_tiny_random and type(onnx_pipe.nets).__name__ == "OnnxNets"
    a = torch_pipe.text_to_image("a drum", seed=3, steps=steps)
    b = onnx_pipe.text_to_image("a drum", seed=3, steps=steps)
    assert np.abs(a.arrays - b.arrays).max() < 1e-3
    picture = tmp_path / "p.png"
    a.images[0].save(picture)
    a = torch_pipe.variations(picture, seed=1, steps=steps)
    b = onnx_pipe.variations(picture, seed=1, steps=steps)
    assert np.abs(a.arrays - b.arrays).max() < 1e-3


def test_chart_models_on_onnxruntime_write_the_same_charts(corpus, tmp_path):
    from genelive.audio import load_audio
    from genelive.generator import ChartGenerator
    from genelive.training.corpus import scan_charts
    from tests.helpers import write_audio

    out = tmp_path / "onnx"
    assert main(["export", "chart", "-o", str(out)]) == 0  # the bundled models
    assert sorted(read_manifest(out)["graphs"]) == ["chart/onset", "chart/steps"]
    song = scan_charts(corpus)[0]
    clip = write_audio(tmp_path / "clip.wav", load_audio(song.audio_path)[: 16_000 * 40], sr=16_000)
    charts = {}
    for backend, model in (("torch", None), ("onnx", out)):
        generated = ChartGenerator.load(model, backend=backend)(clip, seed=5)
        assert generated.charts and all(c.notes for c in generated.charts)
        charts[backend] = json.loads(generated.to_json())["charts"]
    assert charts["onnx"] == charts["torch"]


def test_the_app_runs_exported_folders_on_onnxruntime(unclip_export, exported, tmp_path):
    from app.jobs import JobStore
    from app.services.images import TEST_MODEL_NOTE, ImageService
    from app.services.style import StyleService

    store = JobStore(tmp_path / "jobs")
    images = ImageService(unclip_export[1], store)
    assert images.pipe.nets.name == "onnx" and TEST_MODEL_NOTE in images.status()
    assert StyleService(exported, store).transfer.nets.name == "onnx"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    assert "not a valid export manifest" in ImageService(broken, store).status()


def test_fp16_export_is_checked_against_fp32_pytorch_and_runs(stytr2_model, exported, tmp_path):
    import onnx

    out = tmp_path / "fp16"
    assert main(["export", "stytr2", "--model", str(stytr2_model), "-o", str(out), "--fp16"]) == 0
    graphs = read_manifest(out)["graphs"]
    for name, entry in graphs.items():
        assert entry["precision"] == "fp16" and entry["tolerance"] == {
            "max_abs_over_max_output": 0.01
        }
        assert [i["dtype"] for i in entry["inputs"]] == ["float32"] * len(entry["inputs"])
        graph = onnx.load(str(out / name / "model.onnx"))  # with its external data
        onnx.checker.check_model(graph)
        weights = [t.data_type for t in graph.graph.initializer if len(t.dims) >= 2]
        assert weights and set(weights) == {onnx.TensorProto.FLOAT16}, name
    fp32_errors = read_manifest(exported)["graphs"]["stytr2/transformer"]["max_abs_error"]
    fp16_errors = graphs["stytr2/transformer"]["max_abs_error"]
    assert fp16_errors["second_shape"] > 10 * fp32_errors["second_shape"]  # really half precision
    transfer = StyleTransfer.load(out, backend="onnx")
    assert {s.precision for s in transfer.nets.backends.values()} == {"fp16"}
    rng = np.random.default_rng(1)
    content = Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8))
    reference = StyleTransfer.load(stytr2_model)(content, content)
    diff = np.abs(np.asarray(transfer(content, content), np.int16) - np.asarray(reference))
    assert diff.max() <= 2


def test_a_precision_change_re_exports_and_all_names_what_it_skips(
    stytr2_model, exported, tmp_path, capsys
):
    import shutil

    out = tmp_path / "all"
    shutil.copytree(exported, out)
    args = ["export", "--all", "--stytr2", str(stytr2_model), "--unclip", str(tmp_path / "none")]
    assert main([*args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("up to date, skipped") == 3 and "unclip: no model at" in err
    assert sorted(read_manifest(out)["graphs"]) == [
        "chart/onset",
        "chart/steps",
        "stytr2/decoder",
        "stytr2/embedding",
        "stytr2/transformer",
    ]
    assert main(["export", "chart", "-o", str(out), "--fp16"]) == 0
    assert "exported and verified" in capsys.readouterr().err
    assert read_manifest(out)["graphs"]["chart/onset"]["precision"] == "fp16"
    assert main(["export", "-o", str(out)]) == 2
    assert "name one pipeline" in capsys.readouterr().err


def test_fp16_chart_graphs_load_and_chart_like_fp32(corpus, tmp_path):
    """onnxruntime's fully optimised CPU session crashes on these graphs in fp16: the backend
    must pick a level that works (a crash would take the test process down)."""
    from genelive.audio import SAMPLE_RATE, load_audio
    from genelive.generator import ChartGenerator
    from genelive.training.corpus import scan_charts
    from tests.helpers import write_audio

    folders = {p: tmp_path / p for p in ("fp32", "fp16")}
    for precision, folder in folders.items():
        flag = ["--fp16"] if precision == "fp16" else []
        assert main(["export", "chart", "-o", str(folder), *flag]) == 0
    song = scan_charts(corpus)[0]
    audio = load_audio(song.audio_path)[: SAMPLE_RATE * 30]
    clip = write_audio(tmp_path / "clip.wav", audio, sr=SAMPLE_RATE)
    generators = {p: ChartGenerator.load(f, backend="onnx") for p, f in folders.items()}
    probs = {p: g.analyse(clip, bpm=120.0).probs for p, g in generators.items()}
    for difficulty, fp32 in probs["fp32"].items():
        assert 0 < np.abs(probs["fp16"][difficulty] - fp32).max() < 2e-3
    songs = {p: g(clip, seed=0, bpm=120.0) for p, g in generators.items()}
    beats = {p: [n.beat for c in s.charts for n in c.notes] for p, s in songs.items()}
    same = len(set(beats["fp16"]) & set(beats["fp32"])) / len(set(beats["fp32"]))
    assert same > 0.95


def test_app_onnx_option_serves_each_tab_the_export_holds(exported, tmp_path):
    from app.cli.serve import onnx_app_folders

    assert onnx_app_folders(exported) == {"stytr2": exported}
    with pytest.raises(ModelFolderError, match=r"no manifest\.json"):
        onnx_app_folders(tmp_path)


def test_chunked_bilstm_models_export_as_three_graphs_and_match(tmp_path):
    """KLab's `paper` config carries LSTM state across chunks in a Python loop: three graphs
    and the same loop on onnxruntime give PyTorch's activations, chunk borders included."""
    import dataclasses

    from genelive.difficulty import DIFFICULTIES, DIFFICULTY_VALUES
    from genelive.onsets.config import CHUNKED_GRAPHS
    from genelive.onsets.model import OnsetModel
    from genelive.onsets.nets import OnsetNet
    from tests.helpers import TINY

    torch.manual_seed(0)
    config = dataclasses.replace(TINY, lstm_chunk_frames=32, lstm_layers=2)
    model = save_model_folder(tmp_path / "chunked", config, OnsetNet(config))
    out = tmp_path / "onnx"
    assert main(["export", "chart", "--model", str(model), "-o", str(out)]) == 0
    assert set(CHUNKED_GRAPHS) <= set(read_manifest(out)["graphs"])
    features = np.random.default_rng(0).standard_normal((150, config.n_mels)).astype(np.float32)
    levels = ("Easy", "Hard", "Challenge")
    torch_act = OnsetModel.load(model).activations(features, None, levels).probs
    onnx_model = OnsetModel.load(out, backend="onnx")
    assert type(onnx_model.backend).__name__ == "ChunkedOnsetGraphs"
    onnx_act = onnx_model.activations(features, None, levels).probs
    assert onnx_act.shape == torch_act.shape == (3, 150)
    np.testing.assert_allclose(onnx_act, torch_act, atol=1e-5)
    unchunked = OnsetNet(dataclasses.replace(config, lstm_chunk_frames=0))
    unchunked.load_state_dict(OnsetModel.load(model).backend.module.state_dict())
    with torch.inference_mode():
        full = unchunked(
            torch.from_numpy(features)[None],
            torch.zeros(1, 150),
            torch.tensor([DIFFICULTY_VALUES[DIFFICULTIES.index(d)] for d in levels]),
        )["onset_probs"][0]
    assert np.abs(full.numpy() - onnx_act).max() > 1e-5  # the chunking really ran
