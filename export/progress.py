"""Long calls report how far they are and stop when asked: one protocol for every pipeline.

`progress(fraction, stage)` hears the fraction of the whole call done (0..1) and what runs now;
`cancel` is a `threading.Event` that a caller sets from anywhere (a Cancel button); the
pipeline checks it between steps and raises `Cancelled`, leaving nothing half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised between steps when the caller's cancel event is set."""


def check_cancel(cancel: threading.Event | None, during: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"cancelled during {during}")


def quiet(fraction: float, stage: str) -> None:
    """A progress callback that ignores what it hears."""
