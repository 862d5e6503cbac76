"""A Karlo-format model folder (kakaobrain/karlo-v1-alpha and its image-variation layout), loaded
component by component with the class each one needs.

diffusers 0.42 cannot load these folders as a pipeline (`UnCLIPPipeline` is deprecated and Karlo's
model_index.json names `["unclip", "UnCLIPTextProjModel"]`), so we read model_index.json
ourselves, accept the forms Karlo and diffusers wrote, check that every needed file is there and
that the components fit each other (from their configs, before loading gigabytes), and load each
one lazily, only when a task needs it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel
from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
from diffusers.schedulers import UnCLIPScheduler
from transformers import (
    CLIPImageProcessorPil,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

from export.checks import parse_json

MODEL_INDEX = "model_index.json"
TINY_MARK = "_genelive_tiny_random"  # model_index.json key of `studio make-tiny-unclip` folders

# component → (class, class names a model_index.json may give for it, files: any one group)
_DIFFUSERS_WEIGHTS = (("diffusion_pytorch_model.safetensors",), ("diffusion_pytorch_model.bin",))
_HF_WEIGHTS = (("model.safetensors",), ("pytorch_model.bin",))
COMPONENTS: dict[str, tuple[type, tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "text_encoder": (CLIPTextModelWithProjection, ("CLIPTextModelWithProjection",), _HF_WEIGHTS),
    "tokenizer": (
        CLIPTokenizer,
        ("CLIPTokenizer", "CLIPTokenizerFast"),
        (("tokenizer.json",), ("vocab.json", "merges.txt")),
    ),
    "prior": (PriorTransformer, ("PriorTransformer",), _DIFFUSERS_WEIGHTS),
    "text_proj": (UnCLIPTextProjModel, ("UnCLIPTextProjModel",), _DIFFUSERS_WEIGHTS),
    "decoder": (UNet2DConditionModel, ("UNet2DConditionModel",), _DIFFUSERS_WEIGHTS),
    "super_res_first": (UNet2DModel, ("UNet2DModel",), _DIFFUSERS_WEIGHTS),
    "super_res_last": (UNet2DModel, ("UNet2DModel",), _DIFFUSERS_WEIGHTS),
    "prior_scheduler": (UnCLIPScheduler, ("UnCLIPScheduler",), (("scheduler_config.json",),)),
    "decoder_scheduler": (UnCLIPScheduler, ("UnCLIPScheduler",), (("scheduler_config.json",),)),
    "super_res_scheduler": (UnCLIPScheduler, ("UnCLIPScheduler",), (("scheduler_config.json",),)),
    "image_encoder": (
        CLIPVisionModelWithProjection,
        ("CLIPVisionModelWithProjection",),
        _HF_WEIGHTS,
    ),
    "feature_extractor": (
        CLIPImageProcessorPil,
        ("CLIPImageProcessor", "CLIPImageProcessorPil", "CLIPFeatureExtractor"),
        (("preprocessor_config.json",),),
    ),
}
_TRANSFORMERS = ("text_encoder", "image_encoder")  # the rest are diffusers models
COMMON = (
    "text_encoder",
    "tokenizer",
    "text_proj",
    "decoder",
    "super_res_first",
    "super_res_last",
    "decoder_scheduler",
    "super_res_scheduler",
)
NEEDS = {
    "text": (*COMMON, "prior", "prior_scheduler"),
    "image": (*COMMON, "image_encoder", "feature_extractor"),
}
WHERE_TO_GET = (
    "Download a Karlo-format folder (e.g. `huggingface-cli download kakaobrain/karlo-v1-alpha "
    "--local-dir karlo`; for variations, fusing/karlo-image-variations-diffusers) and load "
    "that folder."
)


class UnCLIPModelError(ValueError):
    """A model folder that is missing, incomplete or inconsistent: names the component and file."""


def resolve_model(model: str | Path) -> Path:
    """A local folder, or a Hugging Face hub id downloaded to the local cache (needs network)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)) and not path.exists():
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(str(model)))
        except Exception as e:  # offline, unknown repo, auth: all mean "cannot get it"
            raise UnCLIPModelError(f"{model}: cannot download from the hub ({e})") from None
    raise UnCLIPModelError(f"{model}: no such model folder. {WHERE_TO_GET}")


class KarloFolder:
    """The components of one folder; `get(name)` loads (once) and returns one of them."""

    def __init__(
        self,
        folder: Path,
        device: str | torch.device = "cpu",
        dtype=torch.float32,
        onnx: bool = False,
        index_file: Path | None = None,
    ):
        """`onnx`: a folder `studio export unclip` wrote (graphs in place of weights)."""
        self.folder, self.device, self.dtype = Path(folder), torch.device(device), dtype
        self.onnx = onnx
        self.index = self._read_index(index_file or self.folder / MODEL_INDEX)
        self.present = {name for name in COMPONENTS if (self.folder / name).is_dir()}
        self._loaded: dict[str, Any] = {}
        self._configs: dict[str, dict] = {}
        self._checked: set[str] = set()  # tasks whose files and configs passed `require`

    @property
    def is_tiny_random(self) -> bool:
        return bool(self.index.get(TINY_MARK))

    def tasks(self) -> list[str]:
        """What this folder can do: "text" (text to image) and/or "image" (from images)."""
        return [task for task, names in NEEDS.items() if self.present.issuperset(names)]

    def require(self, task: str) -> None:
        """Every component `task` needs is present, complete and consistent, else an error."""
        if task in self._checked:
            return
        missing = [name for name in NEEDS[task] if name not in self.present]
        if missing:
            what = "text-to-image" if task == "text" else "image variations and image inputs"
            raise UnCLIPModelError(
                f"{self.folder}: {what} needs the component folder(s) {', '.join(missing)}, "
                f"which are missing. {WHERE_TO_GET}"
            )
        for name in NEEDS[task]:
            self._check_files(name)
        check_consistent(self, NEEDS[task])
        self._checked.add(task)

    def config(self, name: str) -> dict:
        """A component's own config file, read (once) without loading its weights."""
        if name not in self._configs:
            self._configs[name] = self._read_config(name)
        return self._configs[name]

    def _read_config(self, name: str) -> dict:
        files = {
            "tokenizer": "tokenizer_config.json",
            "feature_extractor": "preprocessor_config.json",
        }
        path = (
            self.folder
            / name
            / files.get(name, "scheduler_config.json" if "scheduler" in name else "config.json")
        )
        try:
            data = parse_json(path.read_bytes(), f"{name}: {path}", UnCLIPModelError)
        except FileNotFoundError:
            raise UnCLIPModelError(f"{name}: {path} is missing") from None
        if not isinstance(data, dict):
            raise UnCLIPModelError(f"{name}: {path} is not a JSON object")
        return data

    def components(self, task: str) -> dict[str, Any]:
        """Everything `task` needs, loaded (named as diffusers' unCLIP pipelines name them)."""
        self.require(task)
        return {name: self.get(name) for name in NEEDS[task]}

    def get(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def _read_index(self, path: Path) -> dict:
        if not path.is_file():
            return {}  # a folder of component subfolders is enough
        index = parse_json(path.read_bytes(), str(path), UnCLIPModelError)
        if not isinstance(index, dict):
            raise UnCLIPModelError(f"{path}: not a JSON object")
        for name, entry in index.items():
            if name.startswith("_") or name not in COMPONENTS or entry in (None, [None, None]):
                continue
            allowed = COMPONENTS[name][1]
            if not (isinstance(entry, list) and len(entry) == 2 and entry[1] in allowed):
                raise UnCLIPModelError(
                    f"{path}: component {name!r} is {entry}; expected one of {list(allowed)}"
                )
        return index

    def _check_files(self, name: str) -> None:
        sub = self.folder / name
        groups = COMPONENTS[name][2]
        if self.onnx and groups in (_DIFFUSERS_WEIGHTS, _HF_WEIGHTS):
            groups = (("model.onnx",),)
        if not any(all((sub / f).is_file() for f in group) for group in groups):
            wanted = " or ".join("+".join(group) for group in groups)
            raise UnCLIPModelError(f"{name}: {sub} has no {wanted}")
        if (
            COMPONENTS[name][2] in (_DIFFUSERS_WEIGHTS, _HF_WEIGHTS)
            and not (sub / "config.json").is_file()
        ):
            raise UnCLIPModelError(f"{name}: {sub / 'config.json'} is missing")

    def _load(self, name: str) -> Any:
        if name not in self.present:
            raise UnCLIPModelError(f"{self.folder}: component {name!r} is missing. {WHERE_TO_GET}")
        self._check_files(name)
        cls = COMPONENTS[name][0]
        sub = self.folder / name
        try:
            if name.endswith("scheduler"):
                return cls.from_pretrained(sub)
            if name in ("tokenizer", "feature_extractor"):
                return cls.from_pretrained(sub)
            extra = {"low_cpu_mem_usage": False} if name not in _TRANSFORMERS else {}
            model = cls.from_pretrained(sub, torch_dtype=self.dtype, **extra)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as e:
            raise UnCLIPModelError(
                f"{name}: cannot load {sub} ({str(e).splitlines()[0]})"
            ) from None
        return model.to(self.device).eval().requires_grad_(False)


def check_consistent(folder: KarloFolder, names: tuple[str, ...]) -> None:
    """The components' sizes fit each other (configs only): else an error naming both files."""
    cfg = {name: folder.config(name) for name in names if name not in ("tokenizer",)}
    text, proj, dec = cfg["text_encoder"], cfg["text_proj"], cfg["decoder"]
    clip_dim = proj["clip_embeddings_dim"]
    checks = [
        ("text_encoder", "projection_dim", text.get("projection_dim"), clip_dim),
        ("text_encoder", "hidden_size", text.get("hidden_size"), clip_dim),
        (
            "decoder",
            "cross_attention_dim",
            dec.get("cross_attention_dim"),
            proj["cross_attention_dim"],
        ),
        ("decoder", "time embedding width", _time_embed_dim(dec), proj["time_embed_dim"]),
        (
            "super_res_first",
            "in_channels",
            cfg["super_res_first"]["in_channels"],
            2 * dec["in_channels"],
        ),
        (
            "super_res_last",
            "in_channels",
            cfg["super_res_last"]["in_channels"],
            2 * dec["in_channels"],
        ),
    ]
    if "prior" in cfg:
        checks.append(("prior", "embedding_dim", cfg["prior"].get("embedding_dim"), clip_dim))
    if "image_encoder" in cfg:
        checks.append(
            (
                "image_encoder",
                "projection_dim",
                cfg["image_encoder"].get("projection_dim"),
                clip_dim,
            )
        )
    for name, key, got, want in checks:
        if got != want:
            raise UnCLIPModelError(
                f"{name}: {folder.folder / name / 'config.json'} has {key} {got}, but "
                f"{folder.folder / 'text_proj' / 'config.json'} (and the other components) "
                f"need {want}: the components come from different models"
            )


def _time_embed_dim(decoder: dict) -> int:
    return decoder.get("time_embedding_dim") or 4 * decoder["block_out_channels"][0]
