"""Model folders, safe checkpoint reading, and the two backends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pytest
import torch

from export import atomic as atomic_mod
from export.atomic import write_atomic
from export.backend import OnnxBackend, TorchBackend
from export.checkpoint import read_state_dict
from export.folder import CONFIG_FILE, WEIGHTS_FILE, ModelFolderError, read_config
from export.weights import load_model_folder, save_model_folder


@dataclass(frozen=True)
class Inner:
    scale: tuple[float, ...] = (1.0, 2.0)


@dataclass(frozen=True)
class ToyConfig:
    model_type: ClassVar[str] = "toy"
    width: int = 3
    pools: tuple[tuple[int, int], ...] = ((1, 2),)
    inner: Inner = field(default_factory=Inner)


class Toy(torch.nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.linear = torch.nn.Linear(cfg.width, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": self.linear(x)}


def test_round_trip_keeps_config_types_and_weights(tmp_path):
    cfg = ToyConfig(width=5, pools=((2, 3), (4, 5)), inner=Inner((0.5,)))
    net = Toy(cfg)
    save_model_folder(tmp_path, cfg, net, {"extra.json": {"a": 1}})
    config, loaded = load_model_folder(tmp_path, ToyConfig, Toy)
    assert config == cfg and isinstance(config.inner, Inner)
    assert torch.equal(loaded.linear.weight, net.linear.weight)
    assert json.loads((tmp_path / "extra.json").read_text()) == {"a": 1}
    assert not list(tmp_path.glob("*.tmp")), "temporary files left behind"


def _corrupt_config(tmp_path, **changes):
    data = json.loads((tmp_path / CONFIG_FILE).read_text())
    data.update(changes)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "other"}, "holds a 'other' model"),
        ({"depth": 2}, "unknown config keys ['depth']"),
        ({"inner": {"scale": [1.0], "bogus": 1}}, "unknown config keys ['bogus']"),
    ],
)
def test_config_errors_name_the_problem(tmp_path, changes, message):
    save_model_folder(tmp_path, ToyConfig(), Toy(ToyConfig()))
    _corrupt_config(tmp_path, **changes)
    with pytest.raises(ModelFolderError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_config(tmp_path, ToyConfig)


def test_missing_unexpected_and_misshaped_weights_are_listed(tmp_path):
    save_model_folder(tmp_path, ToyConfig(width=4), Toy(ToyConfig(width=4)))
    _corrupt_config(tmp_path, width=3)  # weights are now the wrong shape
    with pytest.raises(ModelFolderError, match=r"wrong shape: linear.weight: \(2, 4\)"):
        load_model_folder(tmp_path, ToyConfig, Toy)

    class Bigger(Toy):
        def __init__(self, cfg):
            super().__init__(cfg)
            self.extra = torch.nn.Linear(1, 1)

    _corrupt_config(tmp_path, width=4)
    with pytest.raises(ModelFolderError, match=r"missing: extra\.bias, extra\.weight"):
        load_model_folder(tmp_path, ToyConfig, Bigger)


def test_truncated_weights_and_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="not a model folder"):
        read_config(tmp_path / "nowhere", ToyConfig)
    save_model_folder(tmp_path, ToyConfig(), Toy(ToyConfig()))
    data = (tmp_path / WEIGHTS_FILE).read_bytes()
    (tmp_path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match="unreadable or truncated"):
        load_model_folder(tmp_path, ToyConfig, Toy)


def test_write_atomic_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    write_atomic(target, b"old")

    def disk_full(fd):
        raise OSError("No space left on device")

    monkeypatch.setattr(atomic_mod.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


class NotATensor:
    pass


def test_pickled_checkpoints_are_refused_unless_allowed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "obj": NotATensor()}, path)
    with pytest.raises(ModelFolderError, match="allow pickled checkpoints explicitly"):
        read_state_dict(path)
    with pytest.raises(ModelFolderError, match="entries that are not tensors"):
        read_state_dict(path, allow_pickle=True)


def test_state_dict_wrappers_and_prefixes_are_removed(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {"module.a": torch.ones(1), "module.b": torch.zeros(2)}}, path)
    assert sorted(read_state_dict(path)) == ["a", "b"]
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFolderError, match="not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "junk.pth")
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match=r"cut\.pth"):
        read_state_dict(tmp_path / "cut.pth")


def test_torch_and_onnx_backends_agree(tmp_path):
    net = Toy(ToyConfig(width=3)).eval()

    class Export(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)["y"]

    path = tmp_path / "toy.onnx"
    torch.onnx.export(
        Export(net),
        (torch.randn(2, 3),),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
    )
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    torch_out = TorchBackend(net, "cpu").run({"x": x})["y"]
    onnx_backend = OnnxBackend(path, device="auto")
    onnx_out = onnx_backend.run({"x": x})["y"]
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-6)
    binding_by_default = onnx_backend.io_binding
    onnx_backend.io_binding = not binding_by_default  # the other path (GPU: binding) too
    np.testing.assert_array_equal(onnx_backend.run({"x": x})["y"], onnx_out)
    if not torch.cuda.is_available():
        assert not binding_by_default  # on the CPU: plain run
        assert onnx_backend.device == "cpu"
        assert onnx_backend.session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="inputs not given"):
        onnx_backend.run({})
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelFolderError, match="not a loadable ONNX graph"):
        OnnxBackend(tmp_path / "bad.onnx")
