"""Importing the official StyTr² release (github diyiiyiii/StyTR-2) into our model folders.

The release is four plain state dicts: `embedding_iter_N.pth`, `transformer_iter_N.pth`,
`decoder_iter_N.pth` (the transfer network) and `vgg_normalised.pth` (the loss network). They
are read with `weights_only=True`, every key and shape is checked against our modules (names
follow the official code, so the mapping is a prefix), and two folders are written:
MODEL_DIR (config.json + model.safetensors) and MODEL_DIR/vgg (the loss network, for training).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from export.checkpoint import read_state_dict
from export.folder import ModelFolderError
from export.weights import save_model_folder
from stytr2.model import StyTr2Config, StyTr2Net
from stytr2.vgg import VGGEncoder

VGG_FILE = "vgg_normalised.pth"
NET_PARTS = ("embedding", "transformer", "decoder")  # file prefix = module prefix
VGG_SUBDIR = "vgg"
# The official VGG file holds relu5_2..relu5_4 too; the losses stop at relu5_1.
VGG_EXTRA_KEYS = {f"{i}.{p}" for i in (45, 48, 51) for p in ("weight", "bias")}
WHERE_TO_GET = (
    "Get the official files from the StyTr² release (github.com/diyiiyiii/StyTR-2, README: "
    "'pretrained models' and 'vgg_normalised.pth'), put the four .pth files in one folder and "
    "import them (`studio import-stytr2 THAT_FOLDER -o MODEL_DIR`, or stytr2.official."
    "import_official)."
)


def find_official_files(folder: str | Path) -> dict[str, Path]:
    """{"embedding": path, "transformer": …, "decoder": …, "vgg": …}; the highest iteration
    when several are present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such folder. {WHERE_TO_GET}")
    found: dict[str, Path] = {}
    for part in NET_PARTS:
        candidates = sorted(folder.glob(f"{part}_iter_*.pth"), key=_iteration)
        if not candidates:
            raise ModelFolderError(f"{folder}: no {part}_iter_*.pth. {WHERE_TO_GET}")
        found[part] = candidates[-1]
    iterations = {_iteration(p) for p in found.values()}
    if len(iterations) > 1:
        raise ModelFolderError(
            f"{folder}: the parts come from different iterations {sorted(iterations)}; "
            "keep one set of embedding/transformer/decoder files"
        )
    if not (folder / VGG_FILE).is_file():
        raise ModelFolderError(f"{folder}: no {VGG_FILE}. {WHERE_TO_GET}")
    found["vgg"] = folder / VGG_FILE
    return found


def _iteration(path: Path) -> int:
    match = re.search(r"_iter_(\d+)\.pth$", path.name)
    return int(match.group(1)) if match else -1


def official_state_dicts(
    files: dict[str, Path], allow_pickle: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(transfer network state, VGG state) under our names, checked key by key."""
    net_state = {}
    for part in NET_PARTS:
        for key, tensor in read_state_dict(files[part], allow_pickle).items():
            net_state[f"{part}.{key}"] = tensor
    check_against(StyTr2Net(StyTr2Config()).state_dict(), net_state, "the StyTr² files")
    return net_state, read_official_vgg(files["vgg"], allow_pickle)


def read_official_vgg(path: Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """`vgg_normalised.pth` → our VGGEncoder's state (relu5_2..5_4, unused, checked and dropped)."""
    raw = read_state_dict(path, allow_pickle)
    bad_extra = [k for k, v in raw.items() if k in VGG_EXTRA_KEYS and v.shape[0] != 512]
    if bad_extra:
        raise ModelFolderError(f"{path}: unexpected shapes for {bad_extra}")
    state = {f"layers.{k}": v for k, v in raw.items() if k not in VGG_EXTRA_KEYS}
    check_against(VGGEncoder().state_dict(), state, str(path))
    return state


def check_against(expected: dict, given: dict, source: str) -> None:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [k for k in set(expected) & set(given) if expected[k].shape != given[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' …' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}")
        if shapes:
            k = sorted(shapes)[0]
            parts.append(
                f"{len(shapes)} shape mismatches, e.g. {k}: "
                f"{tuple(given[k].shape)} vs {tuple(expected[k].shape)}"
            )
        raise ModelFolderError(
            f"{source}: not the official StyTr² weights ({'; '.join(parts)}). {WHERE_TO_GET}"
        )


def import_official(src: str | Path, out_dir: str | Path, allow_pickle: bool = False) -> Path:
    files = find_official_files(src)
    net_state, vgg_state = official_state_dicts(files, allow_pickle)
    net = StyTr2Net(StyTr2Config())
    net.load_state_dict(net_state, strict=True)
    vgg = VGGEncoder()
    vgg.load_state_dict(vgg_state, strict=True)
    out_dir = Path(out_dir)
    source = {"imported_from": {k: v.name for k, v in files.items()}}
    save_model_folder(out_dir, net.config, net, {"source.json": source})
    save_model_folder(out_dir / VGG_SUBDIR, vgg.config, vgg, {"source.json": source})
    return out_dir
