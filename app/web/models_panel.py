"""The Models panel (and the /models endpoint): what is loaded, from where, on which backend, and
how to add weights."""

from __future__ import annotations

import gradio as gr

from app.services.images import ImageService
from app.services.style import StyleService
from genelive.generator import ChartGenerator


def build_models_panel(generator: ChartGenerator, style: StyleService, images: ImageService):
    gr.Markdown(models_text(generator, style, images))

    def models() -> dict:
        """The loaded models: type, folder, bundled or not, backend and device."""
        return models_info(generator, style, images)

    gr.api(models, api_name="models")


def models_info(generator: ChartGenerator, style: StyleService, images: ImageService) -> dict:
    onset = generator.onset_model.describe()
    steps = generator.step_model
    info = {
        "onset": onset,
        "steps": {
            "folder": str(steps.folder),
            "backend": steps.backend.name,
            "device": steps.backend.device,
        },
    }
    if style.transfer is not None:
        info["stytr2"] = {"folder": str(style.folder), "backend": style.transfer.nets.name}
    if images.pipe is not None:
        info["unclip"] = {
            "folder": str(images.folder),
            "backend": images.pipe.nets.name,
            "tasks": images.pipe.folder.tasks(),
            "test_model": images.pipe.is_tiny_random,
        }
    return info


def models_text(generator: ChartGenerator, style: StyleService, images: ImageService) -> str:
    info = models_info(generator, style, images)
    onset = info["onset"]
    where = "the bundled weights" if onset["bundled"] else f"`{onset['folder']}`"
    loaded = "".join(
        f"**{name}** from `{m['folder']}`, backend {m['backend']}.\n\n"
        for name, m in (("StyTr²", info.get("stytr2")), ("unCLIP", info.get("unclip")))
        if m
    )
    return (
        f"**Charts.** Onset model `{onset['model_type']}` from {where}, backend "
        f"{onset['backend']} on {onset['device']}. Step selection from "
        f"`{info['steps']['folder']}`, backend {info['steps']['backend']}.\n\n{loaded}"
        "**Adding weights.** Your own chart model: `studio train-charts SIMFILES -o DIR` (or "
        "`studio import-klab KLAB.pth -o DIR` for KLab's released checkpoints), then "
        "`studio app --model DIR`.\n\n**Style.** The official StyTr² checkpoints: "
        "`studio import-stytr2 THEIR_FOLDER -o MODEL_DIR`, then `studio app --stytr2 MODEL_DIR` "
        "(default folder: ~/.local/share/genelive-studio/models/stytr2).\n\n**Images.** A "
        "Karlo-format unCLIP folder (kakaobrain/karlo-v1-alpha, plus "
        "fusing/karlo-image-variations-diffusers for variations): `studio app --unclip FOLDER` "
        "(default folder: ~/.local/share/genelive-studio/models/karlo).\n\n**ONNX.** "
        "`studio export chart|stytr2|unclip -o DIR` writes verified graphs; give DIR to "
        "`--model`, `--stytr2` or `--unclip` and that model runs on onnxruntime (its files are "
        "checked against the export's manifest first)."
    )
