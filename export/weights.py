"""A model folder's weights: `model.safetensors` beside `config.json`, loaded strictly, and the
module sized on PyTorch's meta device before anything is allocated."""

from __future__ import annotations

import os
import tempfile
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.overrides import TorchFunctionMode

from export.atomic import write_json_atomic
from export.folder import CONFIG_FILE, WEIGHTS_FILE, ModelFolderError, config_to_dict, read_config

C = TypeVar("C")


def read_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelFolderError(f"{folder}: no {WEIGHTS_FILE} beside {CONFIG_FILE}")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFolderError(f"{path}: unreadable or truncated safetensors file ({e})") from e


def check_state_dict(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], source: str
) -> None:
    """Raise one error listing every missing, unexpected and mis-shaped key."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mis_shaped = [
        f"{k}: {tuple(given[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in sorted(set(expected) & set(given))
        if tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    for label, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", mis_shaped),
    ):
        if items:
            shown = ", ".join(items[:6]) + (f", … ({len(items)} in all)" if len(items) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ModelFolderError(f"{source}: weights do not fit the model; " + "; ".join(problems))


def load_weights_into(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], source: str):
    check_state_dict(module.state_dict(), weights, source)
    module.load_state_dict(weights, strict=True)
    return module


def save_model_folder(
    folder: str | Path,
    config: Any,
    module: torch.nn.Module | None,
    extra_json: Mapping | None = None,
) -> Path:
    """Write config.json + model.safetensors (+ extra JSON files), each atomically.

    `module=None` writes a config-only folder (a model with nothing learned, e.g. a baseline).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if module is not None:
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        fd, tmp = tempfile.mkstemp(prefix=f".{WEIGHTS_FILE}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            save_file(state, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / WEIGHTS_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    write_json_atomic(folder / CONFIG_FILE, config_to_dict(config))
    for name, obj in (extra_json or {}).items():
        write_json_atomic(folder / name, obj)
    return folder


MAX_MODEL_BYTES = 4 * 2**30  # 30× the largest model this path loads (StyTr²: ~140 MB)


class _SkipInit(TorchFunctionMode):
    """On the meta device a parameter's random initialisation means nothing; skip it (this
    thread only, for the block only). It is not free there: nn.Embedding's normal_ on meta
    imports a second's worth of PyTorch's compiler stack."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INIT_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


_INIT = torch.nn.init
_INIT_FILLS = {
    _INIT.normal_,
    _INIT.uniform_,
    _INIT.trunc_normal_,
    _INIT.kaiming_uniform_,
    _INIT.kaiming_normal_,
    _INIT.xavier_uniform_,
    _INIT.xavier_normal_,
    _INIT.orthogonal_,
    _INIT.zeros_,
    _INIT.ones_,
    _INIT.constant_,
    torch.Tensor.normal_,
    torch.Tensor.uniform_,
}


def check_model_size(build: typing.Callable, config: Any, source: str) -> int:
    """The bytes the module's parameters and buffers would take, found without allocating them;
    ModelFolderError when above MAX_MODEL_BYTES."""
    with torch.device("meta"), _SkipInit():
        probe = build(config)
    size = sum(t.numel() * t.element_size() for t in (*probe.parameters(), *probe.buffers()))
    if size > MAX_MODEL_BYTES:
        raise ModelFolderError(
            f"{source}: this config makes a {size / 2**30:.1f} GiB model (at most "
            f"{MAX_MODEL_BYTES / 2**30:.0f} GiB); it is not one this studio can load"
        )
    return size


def load_model_folder(
    folder: str | Path, config_cls: type[C], build: typing.Callable[[C], torch.nn.Module]
) -> tuple[C, torch.nn.Module]:
    """Read the config, build the module with `build(config)`, load its weights strictly. The
    module is first built on the meta device (no memory) to refuse a config whose weights would
    not fit before anything is allocated."""
    config = read_config(folder, config_cls)
    check_model_size(build, config, str(Path(folder) / CONFIG_FILE))
    module = build(config)
    load_weights_into(module, read_weights(folder), str(Path(folder) / WEIGHTS_FILE))
    return config, module.eval()
