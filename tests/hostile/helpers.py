"""What the hostile tests share: running `studio`, a short song, and what a folder holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.cli import main
from tests.helpers import REPO, click_track, write_audio

SECONDS = 12.0


def short_song(folder: Path, name: str = "click.wav") -> Path:
    audio, _ = click_track(120.0, SECONDS, first_beat_s=0.5)
    return write_audio(folder / name, audio)


def studio(args: list, capsys) -> tuple[int, str]:
    """`studio ARGS` in this process (the same `main` the console script runs): (exit, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def studio_process(args: list, timeout_s: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """`studio ARGS` as its own process, as a user runs it."""
    command = [sys.executable, "-m", "app.cli", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=REPO, **kwargs
    )


def one_clear_line(err: str) -> str:
    """The single error line a refused command printed (asserting it is one line and no
    traceback; `note:` lines, which a command prints whatever happens, aside)."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("error: "), err
    return lines[0]


def everything_in(folder: Path) -> list[str]:
    """Every entry under `folder` (hidden ones too), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
