"""On a CUDA GPU (`pytest -m gpu`, run by bench/gpu_check.sh): every pipeline on torch CUDA and on
onnxruntime's CUDA provider (IOBinding; fp32 and fp16 graphs) gives what the CPU gives. Without a
GPU these fail with one line: a run that asks for them must not pass by skipping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from export.weights import save_model_folder
from stytr2 import StyleTransfer
from stytr2.model import StyTr2Config, StyTr2Net

pytestmark = pytest.mark.gpu
SMALL = StyTr2Config(d_model=32, heads=4, ffn=64, encoder_layers=1, decoder_layers=1)


@pytest.fixture(scope="module", autouse=True)
def _cuda():
    if not torch.cuda.is_available():
        pytest.fail("no CUDA GPU here: run the gpu tests on a GPU machine", pytrace=False)


def _on_cuda_provider(backend) -> bool:
    providers = backend.session.get_providers()
    return providers[0] == "CUDAExecutionProvider" and backend.io_binding


@pytest.fixture(scope="module")
def song(corpus, tmp_path_factory):
    from genelive.audio import SAMPLE_RATE, load_audio
    from genelive.training.corpus import scan_charts
    from tests.helpers import write_audio

    audio = load_audio(scan_charts(corpus)[0].audio_path)[: SAMPLE_RATE * 40]
    return write_audio(tmp_path_factory.mktemp("song") / "clip.wav", audio, sr=SAMPLE_RATE)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_chart_model_on_cuda_matches_the_cpu(song, precision, tmp_path):
    from genelive.generator import ChartGenerator

    flag = ["--fp16"] if precision == "fp16" else []
    assert main(["export", "chart", "-o", str(tmp_path / "onnx"), *flag]) == 0
    cpu = ChartGenerator.load(backend="torch", device="cpu").analyse(song, bpm=120.0).probs
    on_torch = ChartGenerator.load(backend="torch", device="cuda")
    assert on_torch.onset_model.describe()["device"] == "cuda"
    on_ort = ChartGenerator.load(tmp_path / "onnx", backend="onnx", device="cuda")
    assert _on_cuda_provider(on_ort.onset_model.backend)
    tolerance = 5e-3 if precision == "fp16" else 1e-3
    for generator in (on_torch, on_ort):
        probs = generator.analyse(song, bpm=120.0).probs
        for difficulty, want in cpu.items():
            assert np.abs(probs[difficulty] - want).max() < tolerance, difficulty


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_style_transfer_on_cuda_matches_the_cpu(precision, tmp_path):
    model = save_model_folder(tmp_path / "stytr2", SMALL, StyTr2Net(SMALL))
    flag = ["--fp16"] if precision == "fp16" else []
    assert (
        main(["export", "stytr2", "--model", str(model), "-o", str(tmp_path / "onnx"), *flag]) == 0
    )
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 255, (70, 53, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 255, (40, 96, 3), dtype=np.uint8))
    want = np.asarray(StyleTransfer.load(model, device="cpu")(content, style), np.int16)
    on_ort = StyleTransfer.load(tmp_path / "onnx", backend="onnx", device="cuda")
    assert all(_on_cuda_provider(b) for b in on_ort.nets.backends.values())
    for transfer in (StyleTransfer.load(model, device="cuda"), on_ort):
        got = np.asarray(transfer(content, style), np.int16)
        assert np.abs(got - want).max() <= 2


def test_unclip_on_cuda_matches_the_cpu(tmp_path):
    from unclip import Steps, UnCLIP
    from unclip.tiny import make_tiny_unclip

    model = make_tiny_unclip(tmp_path / "tiny")
    assert main(["export", "unclip", "--model", str(model), "-o", str(tmp_path / "onnx")]) == 0
    steps = Steps(7, 25, 7)
    want = UnCLIP.load(model, device="cpu").text_to_image("a drum", seed=3, steps=steps).arrays
    on_ort = UnCLIP.load(tmp_path / "onnx", backend="onnx", device="cuda")
    assert all(_on_cuda_provider(b) for b in on_ort.nets.sessions.values())
    on_torch = UnCLIP.load(model, device="cuda", dtype=torch.float32)
    for pipe in (on_torch, on_ort):
        got = pipe.text_to_image("a drum", seed=3, steps=steps).arrays
        assert np.abs(got - want).max() < 1e-2
