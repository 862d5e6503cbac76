"""A model on disk is a folder: `config.json` (a dataclass) beside `model.safetensors`.

Loading is strict: a config key we do not know, a missing weight, an unexpected weight or a shape
that does not match is an error that names the file and the key, never a silent partial load.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from export.checks import parse_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

C = TypeVar("C")


class ModelFolderError(ValueError):
    """A model folder (or checkpoint) is missing, malformed, or does not fit the model."""


# --------------------------------------------------------------------------- atomic writes


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes so that readers see either the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model folder is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(target: str | Path, replace: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling and rename it into place when the block succeeds;
    on failure nothing is left. The target must not exist yet (or be an empty folder) unless
    `replace`, when an old one is moved aside, the new one renamed in, and the old removed, so
    that at every moment the target is the whole old folder or the whole new one."""
    target = Path(target)
    if target.exists() and not replace and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not empty; choose a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; an output folder is meant to be shared
        if not target.exists():
            os.rename(tmp, target)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        os.rename(target, old / "folder")
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old / "folder", target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_folder(
    target: str | Path, files: Mapping[str, bytes], replace: bool = False
) -> list[Path]:
    """A folder of files (relative name → bytes) that lands by one rename (see atomic_folder):
    a crash or a full disk leaves the old folder or none, never a part. Names must stay inside
    the folder. Returns the written paths."""
    target = Path(target)
    with atomic_folder(target, replace=replace) as tmp:
        for name, data in files.items():
            path = tmp / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise ValueError(f"{name!r}: a file name that leaves its folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    return [target / name for name in files]


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode())


# --------------------------------------------------------------------------- configs


def config_to_dict(config: Any) -> dict[str, Any]:
    """The dataclass as JSON-ready data, tagged with its `model_type`."""
    return {"model_type": type(config).model_type, **dataclasses.asdict(config)}


def config_from_dict(cls: type[C], data: Mapping[str, Any], source: str = "config") -> C:
    """Build `cls` from JSON data; unknown keys and a wrong `model_type` are errors."""
    data = dict(data)
    model_type = data.pop("model_type", None)
    if model_type != cls.model_type:
        raise ModelFolderError(
            f"{source}: holds a {model_type!r} model, but a {cls.model_type!r} model was expected"
        )
    return _build(cls, data, source)


def _build(cls: type[C], data: dict[str, Any], source: str) -> C:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ModelFolderError(f"{source}: unknown config keys {unknown} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _build(hint, value, f"{source} [{name}]")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            # JSON has no tuples: give tuple-typed fields their tuples back (nested too).
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ModelFolderError(f"{source}: invalid config for {cls.__name__}: {e}") from e


def read_config(folder: str | Path, cls: type[C]) -> C:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ModelFolderError(
            f"{folder}: not a model folder (no {CONFIG_FILE}); expected {CONFIG_FILE} beside "
            f"{WEIGHTS_FILE}"
        )
    data = parse_json(path.read_bytes(), str(path), ModelFolderError)
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path}: expected a JSON object")
    return config_from_dict(cls, data, source=str(path))


# --------------------------------------------------------------------------- weights


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


def check_model_size(build: typing.Callable, config: Any, source: str) -> int:
    """The bytes the module's parameters and buffers would take, found without allocating them;
    ModelFolderError when above MAX_MODEL_BYTES."""
    with torch.device("meta"):
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
