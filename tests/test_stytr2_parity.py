"""StyTr² against the official code: fixture weights through our importer, output at 1e-4."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from export.folder import ModelFolderError
from export.weights import load_model_folder
from stytr2.model import StyTr2Config, StyTr2Net, adaptive_avg_pool
from stytr2.official import import_official
from tests.helpers import GOLDEN, golden_tensor

FIXTURE = GOLDEN / "stytr2"


# The fixture departs from its README's formula in one place, found by fitting its stored
# intermediates: the query and key rows of every attention `in_proj_weight` are 4× the formula
# (value rows and all biases as written). With that, the official computation reproduces the stored
# `hs` to its fp16 precision; without it attention is near uniform and `hs` correlates only 0.94.
# (It sharpens the random-weight attention, so that porting mistakes in attention show.)
QK_WEIGHT_SCALE = 4.0


def fixture_tensor(key: str, shape: list[int], dtype: str) -> torch.Tensor:
    tensor = golden_tensor(key, shape, dtype, 0)
    if key.endswith("in_proj_weight"):
        tensor[: 2 * shape[1]] *= QK_WEIGHT_SCALE  # rows [q; k; v], each d_model long
    return tensor


def write_official_files(folder) -> None:
    """The four reference-format .pth files, as the release ships them (plain state dicts)."""
    spec = json.loads((FIXTURE / "keys.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in spec.items():
        state = {e["key"]: fixture_tensor(e["key"], e["shape"], e["dtype"]) for e in entries}
        torch.save(state, folder / name)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("stytr2")
    write_official_files(root / "official")
    return import_official(root / "official", root / "model")


def _image(name: str) -> torch.Tensor:
    with Image.open(FIXTURE / name) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), np.float32) / 255).permute(2, 0, 1)[
            None
        ]


def test_imported_network_matches_the_official_output(imported):
    _, net = load_model_folder(imported, StyTr2Config, StyTr2Net)
    expected = np.load(FIXTURE / "expected.npz")
    with torch.inference_mode():
        out = net(_image("content.png"), _image("style.png"))["image"].numpy()
    np.testing.assert_allclose(out, expected["out"], atol=1e-4, rtol=1e-4)


def test_importer_refuses_wrong_files_with_the_reason(tmp_path):
    write_official_files(tmp_path / "o")
    state = torch.load(tmp_path / "o" / "decoder_iter_160000.pth", weights_only=True)
    state["1.weight"] = torch.zeros(8, 8, 3, 3)
    torch.save(state, tmp_path / "o" / "decoder_iter_160000.pth")
    with pytest.raises(ModelFolderError, match=r"shape mismatches, e\.g\. decoder\.1\.weight"):
        import_official(tmp_path / "o", tmp_path / "m")
    (tmp_path / "o" / "vgg_normalised.pth").unlink()
    with pytest.raises(ModelFolderError, match=r"no vgg_normalised\.pth.*import-stytr2"):
        import_official(tmp_path / "o", tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("size", [(18, 18), (32, 20), (7, 45), (64, 64)])
def test_pooling_equals_torch_adaptive_pool_at_any_size(size):
    x = torch.randn(1, 3, *size)
    np.testing.assert_allclose(
        adaptive_avg_pool(x, 18), torch.nn.AdaptiveAvgPool2d(18)(x), atol=1e-6
    )


def test_embedding_cape_and_decoder_match_the_fixture_intermediates(imported):
    """Each stage against its stored intermediate (fp16), to localise a regression."""
    _, net = load_model_folder(imported, StyTr2Config, StyTr2Net)
    expected = np.load(FIXTURE / "expected.npz")
    with torch.inference_mode():
        emb_c = net.embedding(_image("content.png"))
        emb_s = net.embedding(_image("style.png"))
        pos_c = net.transformer.cape(emb_c)
        hs = net.transformer(emb_c, emb_s)
        out = net.decoder(torch.from_numpy(expected["hs"].astype(np.float32)))
    for got, key in ((emb_c, "emb_c"), (emb_s, "emb_s"), (pos_c, "pos_c"), (hs, "hs")):
        np.testing.assert_allclose(got.numpy(), expected[key].astype(np.float32), atol=2e-3)
    np.testing.assert_allclose(out.numpy(), expected["out"], atol=1e-4, rtol=1e-4)


def test_any_size_and_aspect_ratio_runs(imported):
    _, net = load_model_folder(imported, StyTr2Config, StyTr2Net)
    with torch.inference_mode():
        out = net(torch.rand(1, 3, 48, 80), torch.rand(1, 3, 64, 32))["image"]
    assert out.shape == (1, 3, 48, 80) and torch.isfinite(out).all()
