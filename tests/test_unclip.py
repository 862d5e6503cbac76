"""unCLIP on a tiny random-weight Karlo-format folder: parity with diffusers' pipelines, seeds,
interpolation, text diffs, cancellation, the CLI and bad input."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import torch
from diffusers.pipelines.deprecated import UnCLIPImageVariationPipeline, UnCLIPPipeline
from PIL import Image

from app.cli import main
from export.images import png_parameters
from unclip import Cancelled, Guidance, Steps, UnCLIP, UnCLIPModelError
from unclip.pipeline import slerp
from unclip.tiny import make_tiny_unclip

SEVEN = Steps(7, 7, 7)  # ≥ 7 steps per stage: fewer amplify rounding at t = 999
FAST = Steps(2, 3, 2)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_unclip(tmp_path_factory.mktemp("unclip") / "tiny", seed=0)


@pytest.fixture(scope="module")
def unclip(model_dir):
    return UnCLIP.load(model_dir, device="cpu")


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "picture.png"
    Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_the_tokenizer_is_clips_own(unclip):
    tokenizer = unclip.folder.get("tokenizer")
    assert len(tokenizer) == 49_408 and tokenizer.pad_token_id == 0  # Karlo pads with "!"
    # OpenAI CLIP's ids for these words
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_text_to_image_equals_diffusers_unclip_pipeline(unclip):
    reference = UnCLIPPipeline(**unclip.folder.components("text"))
    reference.set_progress_bar_config(disable=True)
    prompt = "key art of a neon drum stage"
    expected = reference(
        prompt,
        prior_num_inference_steps=7,
        decoder_num_inference_steps=7,
        super_res_num_inference_steps=7,
        prior_guidance_scale=4.0,
        decoder_guidance_scale=8.0,
        output_type="np",
        generator=torch.Generator("cpu").manual_seed(11),
    ).images
    ours = unclip.text_to_image(prompt, seed=11, steps=SEVEN, guidance=Guidance(4.0, 8.0))
    assert ours.arrays.shape == expected.shape == (1, 64, 64, 3)
    assert np.abs(ours.arrays - expected).max() <= 1e-4
    assert ours.arrays.std() > 0.01  # an image, not a constant


def test_variations_equal_diffusers_image_variation_pipeline(unclip, picture):
    reference = UnCLIPImageVariationPipeline(**unclip.folder.components("image"))
    reference.set_progress_bar_config(disable=True)
    image = Image.open(picture).convert("RGB")
    generator = torch.Generator("cpu").manual_seed(4)
    expected = reference(
        image,
        decoder_num_inference_steps=7,
        super_res_num_inference_steps=7,
        output_type="np",
        generator=generator,
    ).images
    ours = unclip.variations(picture, seed=4, steps=SEVEN)
    assert np.abs(ours.arrays - expected).max() <= 1e-4


def test_image_i_of_a_batch_is_the_single_run_seeded_s_plus_i(unclip):
    batch = unclip.text_to_image("a lantern", num_images=3, seed=20, steps=FAST)
    single = unclip.text_to_image("a lantern", num_images=1, seed=22, steps=FAST)
    assert [p["seed"] for p in batch.parameters] == [20, 21, 22]
    np.testing.assert_array_equal(batch.arrays[2], single.arrays[0])
    assert np.abs(batch.arrays[0] - batch.arrays[1]).max() > 0.01


def test_interpolation_starts_at_the_variation_and_moves(unclip, picture, tmp_path):
    other = tmp_path / "other.png"
    Image.fromarray(np.full((40, 40, 3), (200, 30, 60), np.uint8)).save(other)
    frames = unclip.interpolate(picture, other, frames=3, seed=9, steps=FAST)
    variation = unclip.variations(picture, seed=9, steps=FAST)
    assert len(frames.images) == 3 and [p["t"] for p in frames.parameters] == [0.0, 0.5, 1.0]
    assert np.abs(frames.arrays[0] - variation.arrays[0]).max() < 1e-4
    assert np.abs(frames.arrays[2] - frames.arrays[0]).max() > 0.01
    prompts = unclip.interpolate("a red cat", "a blue dog", frames=2, seed=1, steps=FAST)
    assert len(prompts.images) == 2 and prompts.parameters[0]["a"] == "a red cat"


def test_text_diff_starts_at_the_image_and_turns_toward_the_caption(unclip, picture):
    diff = unclip.text_diff(picture, "a snowy night", frames=3, strength=0.5, seed=2, steps=FAST)
    variation = unclip.variations(picture, seed=2, steps=FAST)
    assert [p["theta"] for p in diff.parameters] == [0.0, 0.25, 0.5]
    assert np.abs(diff.arrays[0] - variation.arrays[0]).max() < 1e-4
    assert np.abs(diff.arrays[2] - diff.arrays[0]).max() > 0.01


def test_slerp_keeps_ends_and_interpolates_length():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5)
    torch.testing.assert_close(mid.norm(), torch.tensor(2.0))
    torch.testing.assert_close(mid[0, 0] / mid[0, 1], torch.tensor(1.0))  # 45°


def test_progress_reaches_one_and_cancel_stops_between_steps(unclip):
    seen = []
    unclip.text_to_image("x", seed=0, steps=FAST, progress=lambda f, what: seen.append((f, what)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) == 7
    assert seen[0][1] == "prior step 1 of 2" and seen[-1][1] == "super-res step 2 of 2"
    cancel = threading.Event()

    def stop_after_the_prior(fraction, what):
        if what.startswith("prior step 2"):
            cancel.set()

    with pytest.raises(Cancelled, match="decoder step 1 of 3"):
        unclip.text_to_image("x", seed=0, steps=FAST, cancel=cancel, progress=stop_after_the_prior)


def test_long_prompts_are_cut_with_a_notice(unclip):
    result = unclip.text_to_image("drum " * 100 + "ENDING", seed=0, steps=FAST)
    assert len(result.notices) == 1 and "77 tokens" in result.notices[0]
    assert "ending" in result.notices[0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda u: u.text_to_image("  ", steps=FAST), "prompt is empty"),
        (lambda u: u.text_to_image("x", steps=Steps(1, 3, 2)), "prior steps must be"),
        (
            lambda u: u.text_to_image("x", steps=Steps(2, 3, 2), guidance=Guidance(0.5, 8)),
            "prior guidance must be in 1..50",
        ),
        (lambda u: u.text_to_image("x", num_images=0, steps=FAST), "number of images"),
        (lambda u: u.text_to_image("x", seed=-1, steps=FAST), "seed must be"),
        (lambda u: u.interpolate("a", "b", frames=1, steps=FAST), "frames must be"),
        (lambda u: u.text_diff("nope.png", "", steps=FAST), "caption to move"),
    ],
)
def test_bad_settings_are_clear_errors(unclip, call, message):
    with pytest.raises(ValueError, match=message):
        call(unclip)


def test_unreadable_image_is_a_clear_error(unclip, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"bad\.png"):
        unclip.variations(bad, steps=FAST)


def test_folder_problems_name_the_component_and_file(model_dir, tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(model_dir, broken)
    shutil.rmtree(broken / "image_encoder")
    u = UnCLIP.load(broken)
    with pytest.raises(UnCLIPModelError, match="image_encoder"):
        u.variations(model_dir / "README.md", steps=FAST)
    u.text_to_image("still works", steps=FAST)  # text-to-image needs no image encoder

    config = json.loads((broken / "text_proj" / "config.json").read_text())
    config["cross_attention_dim"] = 48
    (broken / "text_proj" / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        UnCLIPModelError, match=r"decoder: .*decoder/config.json has cross_attention_dim 32"
    ):
        UnCLIP.load(broken).text_to_image("x", steps=FAST)

    (broken / "decoder" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(UnCLIPModelError, match=r"decoder: .* has no diffusion_pytorch_model"):
        UnCLIP.load(broken).text_to_image("x", steps=FAST)

    index = json.loads((broken / "model_index.json").read_text())
    index["prior"] = ["diffusers", "UNet2DModel"]
    (broken / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(UnCLIPModelError, match="component 'prior' is"):
        UnCLIP.load(broken)


def test_cli_writes_pngs_with_parameters_and_redoes_one_from_its_png(model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "imagine",
                "a drum",
                "-o",
                str(out),
                "--model",
                str(model_dir),
                "--seed",
                "3",
                "--num-images",
                "2",
                "--steps",
                "2,3,2",
                "--guidance",
                "2,3",
            ]
        )
        == 0
    )
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["imagine-000.png", "imagine-001.png"]
    params = png_parameters(files[1])
    assert params["prompt"] == "a drum" and params["seed"] == 4 and "test_model" in params
    assert params["steps"] == {"prior": 2, "decoder": 3, "super_res": 2}
    again = tmp_path / "again"
    assert (
        main(["imagine", "--from-png", str(files[1]), "-o", str(again), "--model", str(model_dir)])
        == 0
    )
    assert (again / "imagine-000.png").read_bytes() == files[1].read_bytes()
    capsys.readouterr()
    assert main(["imagine", "x", "-o", str(out), "--model", str(model_dir), "--steps", "2,2"]) == 2
    assert "--steps takes 3 values" in capsys.readouterr().err
    assert main(["vary", str(files[0]), "-o", str(out), "--model", str(tmp_path / "none")]) == 2
    assert "no such model folder" in capsys.readouterr().err


def test_the_image_variation_layout_loads_and_says_what_it_cannot_do(model_dir, tmp_path, picture):
    """fusing/karlo-image-variations-diffusers: no prior, an image encoder instead."""
    folder = tmp_path / "variations"
    shutil.copytree(model_dir, folder)
    for name in ("prior", "prior_scheduler"):
        shutil.rmtree(folder / name)
    index = json.loads((folder / "model_index.json").read_text())
    for name in ("prior", "prior_scheduler", "_genelive_tiny_random"):
        index.pop(name)
    index["_class_name"] = "UnCLIPImageVariationPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    u = UnCLIP.load(folder)
    assert u.folder.tasks() == ["image"] and not u.is_tiny_random
    assert len(u.variations(picture, seed=1, steps=FAST).images) == 1
    with pytest.raises(UnCLIPModelError, match=r"text-to-image needs .*prior, prior_scheduler"):
        u.text_to_image("a cat", steps=FAST)
