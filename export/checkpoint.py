"""Reading foreign checkpoints (PyTorch `.pth`/`.pt`, safetensors) safely.

PyTorch checkpoints are pickles: loading one with `weights_only=False` can run arbitrary code.
We load with `weights_only=True` and refuse anything else unless the user opts in.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from export.folder import ModelFolderError


def read_state_dict(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """A flat name → tensor mapping from a `.pth`/`.pt`/`.safetensors` file.

    Common wrappers (`{"state_dict": ...}`, `{"model": ...}`) and DataParallel's `module.`
    prefix are removed; anything that is not a tensor mapping is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as e:
            raise ModelFolderError(f"{path}: unreadable safetensors file ({e})") from e
    with path.open("rb") as f:
        head = f.read(2)
    # A PyTorch checkpoint is a zip archive (torch.save since 1.6) or a bare pickle (older).
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise ModelFolderError(f"{path}: not a PyTorch checkpoint (neither zip nor pickle data)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        # torch names the first object it refused, in a paragraph: keep only its name.
        named = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f" ({named[1]})" if named else ""
        raise ModelFolderError(
            f"{path}: holds Python objects besides tensors{what}, and loading it could run "
            "code. If you trust the file's source, allow pickled checkpoints explicitly",
            "allow_pickle",
            hint=" ({allow_pickle})",
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelFolderError(
            f"{path}: not a readable PyTorch checkpoint (truncated or another format?): {e}"
        ) from e
    return _flatten(obj, path)


def _flatten(obj, path: Path) -> dict[str, torch.Tensor]:
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj:
        raise ModelFolderError(f"{path}: expected a state dict (name → tensor), got {type(obj)}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelFolderError(f"{path}: entries that are not tensors: {bad[:5]}")
    if all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return dict(obj)
