"""What the web app hands a browser: copies of one job's outputs, never a path into the jobs folder.

Gradio serves a file by its path to anyone who asks for it, if the path is under its cache or
an `allowed_paths` entry. The jobs folder is neither: a handler, having checked that the job
belongs to the asking session, links (or copies) each output it returns into a folder with a
random name under Gradio's cache, and only that copy is served. So `job.json` (which names the
owner's session) and other sessions' results cannot be fetched, whatever URL is tried.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

from gradio.utils import get_upload_folder

SERVED_DIR = "genelive-served"  # under Gradio's cache folder
KEEP_S = 3 * 3600  # a served copy lives this long (a page keeps its links for a while)
SWEEP_EVERY_S = 60.0
_last_sweep = 0.0


def served(path: str | Path) -> str:
    """A servable copy of one output file: a hard link where the file system allows (no bytes
    copied; the job's file may be replaced later, the link keeps what was shown), else a copy."""
    source = Path(path)
    root = Path(get_upload_folder()) / SERVED_DIR
    folder = root / secrets.token_hex(16)
    folder.mkdir(parents=True, mode=0o700)
    target = folder / source.name
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    _forget_old(root)
    return str(target)


def served_all(paths: list[str | Path]) -> list[str]:
    return [served(p) for p in paths]


def _forget_old(root: Path) -> None:
    """Remove served copies older than KEEP_S (Gradio's own cache clean-up may not see them),
    at most once a minute."""
    global _last_sweep
    now = time.time()
    if now - _last_sweep < SWEEP_EVERY_S:
        return
    _last_sweep, cutoff = now, now - KEEP_S
    for entry in os.scandir(root):
        try:
            if entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue
