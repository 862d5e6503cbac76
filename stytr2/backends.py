"""StyTr² as three networks — patch embedding, transformer, CNN decoder — behind one interface,
on PyTorch or on onnxruntime, so the pipeline (padding, strength, style mixing, tiles, colours) is
written once. The split is where the pipeline needs its own steps: it blends transformer outputs
(strength, several styles) before decoding.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from export.backend import TorchBackend
from export.folder import CONFIG_FILE, read_config
from export.manifest import load_graph
from export.onnx import GraphSpec, source_hash
from export.weights import load_model_folder
from stytr2.model import StyTr2Config, StyTr2Net

GRAPHS = ("embedding", "transformer", "decoder")


class Embed(nn.Module):
    def __init__(self, net: StyTr2Net):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"tokens": self.net.embedding(image)}  # (B, 3, H, W) → (B, d, H/8, W/8)


class Transform(nn.Module):
    def __init__(self, net: StyTr2Net):
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"hs": self.net.transformer(content, style)}  # (B, d, h, w)


class Decode(nn.Module):
    def __init__(self, net: StyTr2Net):
        super().__init__()
        self.net = net

    def forward(self, hs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"image": self.net.decoder(hs)}  # (B, d, h, w) → (B, 3, 8h, 8w)


class StyleNets:
    """StyTr²'s three networks on one backend (export/backend.py), as the pipeline calls them:
    torch tensors in and out. On PyTorch they are the export wrappers above run by a
    TorchBackend, so both backends run exactly the modules that are exported."""

    def __init__(self, backends: dict, config: StyTr2Config):
        self.backends, self.config = backends, config
        self.name, self.device = backends["embedding"].name, backends["embedding"].device

    @classmethod
    def on_torch(cls, net: StyTr2Net, device: str = "auto") -> StyleNets:
        net.eval()
        wrappers = {"embedding": Embed(net), "transformer": Transform(net), "decoder": Decode(net)}
        return cls({n: TorchBackend(w, device) for n, w in wrappers.items()}, net.config)

    @classmethod
    def on_onnx(cls, export_dir: Path, device: str = "auto") -> StyleNets:
        """The three graphs of `studio export stytr2`, checked against its manifest first."""
        backends = {n: load_graph(export_dir, f"stytr2/{n}", device) for n in GRAPHS}
        config = read_config(backends["embedding"].path.parent, StyTr2Config)
        return cls(backends, config)

    def _run(self, name: str, **inputs: torch.Tensor) -> torch.Tensor:
        out = self.backends[name].run({k: v.numpy() for k, v in inputs.items()})
        return torch.from_numpy(next(iter(out.values())))

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self._run("embedding", image=image)  # (B, 3, H, W) → (B, d, H/8, W/8)

    def transform(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self._run("transformer", content=content, style=style)  # (B, d, h, w)

    def decode(self, hs: torch.Tensor) -> torch.Tensor:
        return self._run("decoder", hs=hs)  # (B, d, h, w) → (B, 3, 8h, 8w)


# From opset 23 attention exports as one `Attention` node, which onnxruntime runs without keeping
# every head's (tokens × tokens) score matrix: at 512² (4096 tokens, 8 heads) peak memory drops
# from 4168 to 2367 MiB and time from 8.4 to 6.9 s against opset 18's MatMul → Softmax → MatMul.
ATTENTION_OPSET = 23


def graph_specs(model_dir: str | Path) -> list[GraphSpec]:
    """The three graphs of a StyTr² folder, with example and verification shapes that differ on
    every axis (batch, height, width; content and style sizes apart)."""
    folder = Path(model_dir)
    config, net = load_model_folder(folder, StyTr2Config, StyTr2Net)
    net.eval()
    source = {"model": source_hash([folder / CONFIG_FILE, folder / "model.safetensors"])}
    d = config.d_model
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    config_bytes = (folder / CONFIG_FILE).read_bytes()
    return [
        GraphSpec(
            "stytr2/embedding",
            Embed(net),
            {"image": rand(2, 3, 64, 48)},
            {"image": rand(3, 3, 40, 72)},
            ["tokens"],
            {
                "image": {0: "batch", 2: "height", 3: "width"},
                "tokens": {0: "batch", 2: "rows", 3: "columns"},
            },
            source,
            extra_files={CONFIG_FILE: config_bytes},
        ),
        GraphSpec(
            "stytr2/transformer",
            Transform(net),
            {"content": rand(2, d, 8, 6), "style": rand(2, d, 5, 7)},
            {"content": rand(3, d, 6, 9), "style": rand(3, d, 7, 4)},
            ["hs"],
            {
                "content": {0: "batch", 2: "rows", 3: "columns"},
                "style": {0: "batch", 2: "style_rows", 3: "style_columns"},
                "hs": {0: "batch", 2: "rows", 3: "columns"},
            },
            source,
            opset=ATTENTION_OPSET,
        ),
        GraphSpec(
            "stytr2/decoder",
            Decode(net),
            {"hs": rand(2, d, 8, 6)},
            {"hs": rand(3, d, 5, 9)},
            ["image"],
            {
                "hs": {0: "batch", 2: "rows", 3: "columns"},
                "image": {0: "batch", 2: "height", 3: "width"},
            },
            source,
        ),
    ]
