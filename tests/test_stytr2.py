"""Style transfer on real images: sizes, options, bad images, the CLI (fixture weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import export.images as images
from app.cli import main
from export.images import open_image, to_image, to_tensor
from export.weights import load_model_folder
from stytr2 import ImageError, StyleTransfer
from stytr2.model import StyTr2Config, StyTr2Net
from stytr2.pipeline import keep_colors
from tests.test_stytr2_parity import FIXTURE, write_official_files


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("stytr2-cli")
    write_official_files(root / "official")
    assert main(["import-stytr2", str(root / "official"), "-o", str(root / "model")]) == 0
    return root / "model"


@pytest.fixture(scope="module")
def transfer(model_dir):
    return StyleTransfer.load(model_dir)


def _png(path, size, mode="RGB", color=(200, 30, 60)):
    Image.new(mode, size, color).save(path)
    return path


def test_studio_style_writes_exactly_the_network_output(model_dir, transfer, tmp_path):
    out = tmp_path / "out.png"
    args = ["style", str(FIXTURE / "content.png"), str(FIXTURE / "style.png"), "-o", str(out)]
    assert main([*args, "--model", str(model_dir)]) == 0
    with torch.inference_mode():
        c = to_tensor(open_image(FIXTURE / "content.png"))
        s = to_tensor(open_image(FIXTURE / "style.png"))
        _, net = load_model_folder(model_dir, StyTr2Config, StyTr2Net)  # the network itself
        expected = np.asarray(to_image(net(c, s)["image"]))
    with Image.open(out) as written:
        assert np.array_equal(np.asarray(written), expected)
        params = json.loads(written.info["parameters"])
    assert params["alpha"] == 1.0 and params["styles"] == ["style.png"]


def test_any_size_keeps_every_pixel(transfer, tmp_path):
    content = _png(tmp_path / "c.png", (50, 37))
    style = _png(tmp_path / "s.png", (64, 96), color=(10, 200, 90))
    assert transfer(content, style).size == (50, 37)
    assert transfer(content, style, size=64).size == (64, 47)


def test_options_do_what_they_say(transfer):
    content, style = FIXTURE / "content.png", FIXTURE / "style.png"
    full = np.asarray(transfer(content, style), np.int16)
    assert np.array_equal(
        np.asarray(transfer(content, [style, content], style_weights=[1, 0])), full
    )
    half = np.asarray(transfer(content, style, alpha=0.5), np.int16)
    none = np.asarray(transfer(content, style, alpha=0.0), np.int16)
    assert (
        np.abs(half - full).mean() > 0 and np.abs(none - full).mean() > np.abs(half - full).mean()
    )
    # Colour kept: the luma of the stylised image with the chroma of the content, by the
    # JPEG (BT.601 full-range) formulas written out here rather than the pipeline's calls.
    kept = np.asarray(transfer(content, style, preserve_color=True), np.int16)
    luma = _ycbcr(full)[..., 0]
    chroma = _ycbcr(np.asarray(open_image(content)))[..., 1:]
    expected = _rgb(np.concatenate([luma[..., None], chroma], axis=-1))
    # PIL converts in 8-bit fixed point: off by up to 4 levels, 1.2 on average.
    assert np.abs(kept - expected).max() <= 4 and np.abs(kept - expected).mean() < 1.5
    assert np.abs(kept - full).mean() > 5  # and not the stylised image's own colours


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([y, cb, cr], axis=-1)


def _rgb(ycbcr: np.ndarray) -> np.ndarray:
    y, cb, cr = np.moveaxis(np.rint(ycbcr), -1, 0)  # PIL holds each plane as 8 bits
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255)


def test_colour_preservation_takes_the_contents_chroma():
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(60, 200, (32, 32, 3), dtype=np.uint8))
    grey = Image.new("RGB", (32, 32), (128, 128, 128))  # mid-grey: no clipping back to RGB
    kept = np.asarray(keep_colors(content, grey).convert("YCbCr"), np.int16)
    original = np.asarray(content.convert("YCbCr"), np.int16)
    assert np.abs(kept[..., 1:] - original[..., 1:]).max() <= 2  # Cb, Cr: the content's
    assert np.abs(kept[..., 0] - 128).max() <= 2  # Y: the stylised image's


@pytest.mark.parametrize(
    ("alpha", "weights", "message"),
    [
        (1.5, None, "alpha must be a number from 0 to 1"),
        (1.0, [1, 2], "2 style weights for 1"),
        (1.0, [0], "not all zero"),
    ],
)
def test_bad_options(transfer, alpha, weights, message):
    with pytest.raises(ValueError, match=message):
        transfer(FIXTURE / "content.png", FIXTURE / "style.png", alpha=alpha, style_weights=weights)


def test_odd_images_are_converted_not_rejected(tmp_path):
    _png(tmp_path / "p.png", (20, 20), "P", 3)
    Image.new("CMYK", (20, 20), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(tmp_path / "deep.png")
    for name in ("p.png", "cmyk.jpg", "clear.png", "deep.png"):
        assert open_image(tmp_path / name).mode == "RGB", name
    assert open_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)  # over white
    assert open_image(tmp_path / "deep.png").getpixel((0, 0)) == (255, 255, 255)
    rotated = Image.new("RGB", (40, 20))
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rotated.save(tmp_path / "r.jpg", exif=exif)
    assert open_image(tmp_path / "r.jpg").size == (20, 40)


def test_bad_images_say_what_is_wrong(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        open_image(tmp_path / "x.png")
    with pytest.raises(ImageError, match="too small"):
        open_image(_png(tmp_path / "t.png", (8, 30)))
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="more than 1,000 pixels"):
        open_image(_png(tmp_path / "big.png", (40, 40)))


def test_without_weights_the_cli_says_where_to_get_them(tmp_path, capsys):
    args = ["style", str(FIXTURE / "content.png"), str(FIXTURE / "style.png")]
    assert main([*args, "-o", str(tmp_path / "o.png"), "--model", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "import-stytr2" in err and "github.com/diyiiyiii/StyTR-2" in err
    assert not (tmp_path / "o.png").exists()


def test_tiled_inference_covers_the_image_without_seams(transfer):
    rng = np.random.default_rng(1)
    content = Image.fromarray(rng.integers(0, 255, (200, 312, 3), dtype=np.uint8))
    style = FIXTURE / "style.png"
    whole = np.asarray(transfer(content, style, tile_px=0), np.float32)
    calls = []
    tiled = transfer(content, style, tile_px=160, progress=lambda *a: calls.append(a))
    tiled = np.asarray(tiled, np.float32)
    assert tiled.shape == whole.shape == (200, 312, 3)
    assert calls == [(i, 6) for i in range(1, 7)]  # 2 rows × 3 columns of tiles, in order
    # Tiles see less context, so pixels differ a little, never wildly; and no column or row
    # at a tile border stands out from its neighbours.
    assert np.abs(tiled - whole).mean() < 12
    steps = np.abs(np.diff(tiled.mean((0, 2))))
    assert steps.max() < 4 * np.median(steps) + 2


def test_tiles_cover_every_pixel_and_blend_to_one(transfer, monkeypatch):
    """With a network that returns its input, tiling must give the input back exactly."""
    monkeypatch.setattr(transfer, "_stylise", lambda x, styles, alpha: x.clone())
    x = torch.rand(1, 3, 300, 451)
    out = transfer._tiled(x, [], 1.0, 128)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_training_reduces_the_loss_and_resumes(model_dir, tmp_path, capsys):
    from stytr2.model import StyTr2Config
    from stytr2.train import StyleTrainConfig, train_stytr2

    rng = np.random.default_rng(0)
    for folder in ("content", "style"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{i}.png")
    tiny = StyTr2Config(d_model=32, heads=2, ffn=64, encoder_layers=1, decoder_layers=1)
    tc = StyleTrainConfig(
        steps=12, batch=2, resize_px=48, crop_px=32, warmup_steps=0, lr_peak=2e-3, save_every=6
    )
    args = (tmp_path / "content", tmp_path / "style", tmp_path / "m", model_dir / "vgg", tc, tiny)
    history = train_stytr2(*args, progress=lambda msg: None)
    first, last = (
        np.mean([h["loss"] for h in history[:3]]),
        np.mean([h["loss"] for h in history[-3:]]),
    )
    assert last < first
    tc2 = StyleTrainConfig(**{**tc.__dict__, "steps": 14})
    with pytest.raises(ValueError, match="other settings"):
        train_stytr2(*args[:4], tc2, tiny, progress=lambda msg: None)
    assert (tmp_path / "m" / "model.safetensors").is_file()
    # Without the VGG loss network: a clear refusal from the CLI.
    cli = [
        "train-stytr2",
        "--content",
        str(tmp_path / "content"),
        "--style",
        str(tmp_path / "style"),
        "-o",
        str(tmp_path / "m2"),
    ]
    assert main(cli) == 2
    assert "vgg_normalised.pth" in capsys.readouterr().err


def test_style_tab_service_writes_a_png_job_and_history(model_dir, tmp_path):
    import secrets

    from app.jobs import JobStore
    from app.services.style import StyleService

    service = StyleService(model_dir, JobStore(tmp_path / "jobs"))
    session = secrets.token_hex(16)
    content = str(FIXTURE / "content.png")
    out = service.run(session, content, [str(FIXTURE / "style.png")], 0.7, False, "", 0)
    with Image.open(out) as im:
        assert im.size == (256, 256)
        assert json.loads(im.info["parameters"])["alpha"] == 0.7
    assert service.history_rows(session)[0][4] == 0.7
    with pytest.raises(ImageError, match="at least one style"):
        service.run(session, content, [], 1.0, False, "", 0)
    empty = StyleService(tmp_path / "no-model", JobStore(tmp_path / "jobs"))
    assert "import-stytr2" in empty.status()
    with pytest.raises(ValueError, match="no StyTr² weights"):
        empty.run(session, content, [str(FIXTURE / "style.png")], 1.0, False, "", 0)


class _PassThrough:
    """A backend whose network hands its first input back: embedding, transformer and decoder
    as the identity, so the pipeline's own padding, blending and cropping are all that acts."""

    name, device = "torch", "cpu"

    def __init__(self, output: str):
        self.output = output

    def run(self, inputs):
        return {self.output: next(iter(inputs.values()))}


@pytest.mark.parametrize("size", [(37, 53), (64, 40), (17, 1031)])
def test_padding_and_cropping_give_every_input_pixel_back(tmp_path, size):
    from stytr2.backends import StyleNets
    from stytr2.model import StyTr2Config

    nets = StyleNets(
        {
            "embedding": _PassThrough("tokens"),
            "transformer": _PassThrough("hs"),
            "decoder": _PassThrough("image"),
        },
        StyTr2Config(),
    )
    transfer = StyleTransfer(nets, tmp_path)
    rng = np.random.default_rng(1)
    content = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    for alpha in (1.0, 0.5):
        out = transfer(content, style, alpha=alpha, tile_px=0)
        assert out.size == content.size
        np.testing.assert_array_equal(np.asarray(out), np.asarray(content))
