"""A model on disk is a folder: `config.json` (a dataclass) beside `model.safetensors`.

Loading is strict: a config key we do not know, a missing weight, an unexpected weight or a shape
that does not match is an error that names the file and the key, never a silent partial load.
This module reads and writes the config (no PyTorch needed: an export folder's graphs carry
theirs); export/weights.py holds the weights.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from export.checks import InvalidValue, parse_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

C = TypeVar("C")


class ModelFolderError(InvalidValue):
    """A model folder (or checkpoint) is missing, malformed, or does not fit the model. (An
    InvalidValue, so that a message may name a setting in each interface's words.)"""


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
