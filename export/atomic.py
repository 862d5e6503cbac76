"""Writing so that a reader (or a crash, or a full disk) never sees a half-written file or folder:
each lands by one rename from a temporary sibling."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class OutputError(OSError):
    """An output (file or folder) that cannot be written, with the reason."""


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
