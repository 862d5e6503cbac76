"""What each batch kind does to one item: the items of a source, the worker that loads its model
once, and the files one item makes.

A worker returns file contents (`{relative name: bytes}`), never writes: the runner (local or
Ray) writes every output in one place, atomically, so both runners write the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
KINDS = ("charts", "style", "imagine")


@dataclass(frozen=True)
class Item:
    id: str  # stable across reruns: the relative path, or a prompt's slug and hash
    source: str  # absolute path of the input file, or the prompt itself
    output: str  # where its result goes, relative to OUT_DIR (a folder, or a file for style)


def list_items(kind: str, source: Path) -> list[Item]:
    """Every item of a source, in a stable order; a clear error when there is nothing to do."""
    source = Path(source)
    if kind == "imagine":
        return _prompt_items(source)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such folder")
    if kind == "charts":
        from genelive.audio import AUDIO_SUFFIXES as suffixes
    else:
        suffixes = IMAGE_SUFFIXES
    hidden = lambda p: any(part.startswith(".") for part in p.relative_to(source).parts)  # noqa: E731
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not hidden(p)
    )
    if not files:
        what = "audio files" if kind == "charts" else "images"
        raise ValueError(f"{source}: no {what} ({', '.join(s[1:] for s in suffixes)}) in it")
    items = []
    for path in files:
        rel = path.relative_to(source).as_posix()
        # Two inputs with one stem (song.ogg, song.mp3) would share an output: keep the suffix.
        out = rel.rsplit(".", 1)[0] + ("" if kind == "charts" else ".png")
        items.append(Item(rel, str(path.resolve()), out))
    _refuse_shared_outputs(items)
    return items


def _refuse_shared_outputs(items: list[Item]) -> None:
    outputs: dict[str, str] = {}
    for item in items:
        if item.output in outputs:
            raise ValueError(
                f"{outputs[item.output]} and {item.id} would write the same output "
                f"{item.output}; rename one"
            )
        outputs[item.output] = item.id


def _prompt_items(path: Path) -> list[Item]:
    """One item per non-empty line that is not a `#` comment; repeated prompts run once."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prompts file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (one prompt per line)") from None
    prompts = list(dict.fromkeys(s for line in lines if (s := line.strip()) and s[0] != "#"))
    if not prompts:
        raise ValueError(f"{path}: no prompts in it (one per line; # starts a comment)")
    items = []
    for prompt in prompts:
        slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48] or "prompt"
        item_id = f"{slug}-{hashlib.sha256(prompt.encode()).hexdigest()[:8]}"
        items.append(Item(item_id, prompt, item_id))
    return items


# --------------------------------------------------------------------------- workers


def make_worker(kind: str, settings: dict[str, Any]):
    """The callable that turns one item into its files; loads its model here, once."""
    return WORKERS[kind](settings)


def check_settings(kind: str, settings: dict[str, Any]) -> None:
    """The options of a batch, checked before anything is written or loaded: a bad one stops
    the batch, not each item (InvalidValue / ValueError)."""
    WORKERS[kind].check(settings)


class ChartWorker:
    @staticmethod
    def check(settings: dict) -> None:
        from export.checks import check_seed
        from genelive.formats.songfolder import check_formats
        from genelive.settings import check_density, check_keys, check_temperature

        check_formats(settings["formats"])
        check_density(settings["density"])
        check_keys(settings["keys"])
        check_seed(settings["seed"])
        check_temperature(settings["temperature"])

    def __init__(self, settings: dict):
        from genelive.generator import ChartGenerator

        self.check(settings)
        self.settings = settings
        self.generator = ChartGenerator.load(
            settings["model"], settings["steps_model"], backend=settings["backend"]
        )

    def __call__(self, item: Item) -> dict[str, bytes]:
        from genelive.formats.songfolder import render_song_folder

        s = self.settings
        song = self.generator(
            item.source,
            difficulties=s["difficulties"],
            seed=s["seed"],
            density_nps=s["density"],
            temperature=s["temperature"],
            keys=s["keys"],
            max_duration_s=s["max_minutes"] * 60,
        )
        return render_song_folder(song, s["formats"], s["preview"])


class StyleWorker:
    @staticmethod
    def check(settings: dict) -> None:
        from stytr2.pipeline import check_options

        check_options(
            settings["alpha"], settings["styles"], settings["style_weights"], settings["size"]
        )

    def __init__(self, settings: dict):
        from stytr2 import StyleTransfer

        self.check(settings)
        self.settings = settings
        self.styles = [Path(p) for p in settings["styles"]]
        self.transfer = StyleTransfer.load(settings["model"], backend=settings["backend"])
        for path in self.styles:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such style image")

    def __call__(self, item: Item) -> dict[str, bytes]:
        from export.images import png_with_parameters

        s = self.settings
        image = self.transfer(
            item.source,
            self.styles,
            alpha=s["alpha"],
            preserve_color=s["preserve_color"],
            style_weights=s["style_weights"],
            size=s["size"],
        )
        params = {
            "generator": "GenéLive Studio stytr2",
            "content": Path(item.source).name,
            "styles": [p.name for p in self.styles],
        }
        params |= {k: s[k] for k in ("alpha", "preserve_color", "style_weights", "size")}
        return {"": png_with_parameters(image, params)}  # "": the item's output is the file


class ImagineWorker:
    @staticmethod
    def check(settings: dict) -> None:
        from export.checks import check_number, check_seed
        from unclip import Guidance, Steps
        from unclip.settings import MAX_IMAGES, check_settings

        check_settings(Steps(**settings["steps"]), Guidance(**settings["guidance"]))
        check_seed(settings["seed"])
        check_number(settings["num_images"], "num_images", 1, MAX_IMAGES, integer=True)

    def __init__(self, settings: dict):
        from app.runtime import quiet_model_loading
        from unclip import Guidance, Steps, UnCLIP

        self.check(settings)
        self.settings = settings
        self.steps, self.guidance = Steps(**settings["steps"]), Guidance(**settings["guidance"])
        quiet_model_loading()
        self.pipe = UnCLIP.load(
            settings["model"], backend=settings["backend"], device=settings["device"]
        )

    def __call__(self, item: Item) -> dict[str, bytes]:
        from export.images import png_with_parameters

        s = self.settings
        result = self.pipe.text_to_image(
            item.source,
            seed=s["seed"],
            num_images=s["num_images"],
            steps=self.steps,
            guidance=self.guidance,
        )
        return {
            f"image-{i:03d}.png": png_with_parameters(image, params)
            for i, (image, params) in enumerate(zip(result.images, result.parameters, strict=True))
        }


WORKERS = {"charts": ChartWorker, "style": StyleWorker, "imagine": ImagineWorker}
