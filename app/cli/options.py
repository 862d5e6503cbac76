"""Command-line options shared by a single-item command and its batch form (`studio chart` and
`studio batch charts`, ...), defined once so that both read the same flags the same way."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def number(text: str) -> float:
    """argparse type: a finite number ("nan" and "inf" parse as floats, but nobody means them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def minutes(text: str) -> float:
    """argparse type: a length limit in minutes, above 0 and at most a day."""
    value = number(text)
    if not 0 < value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1440 minutes, not {text}")
    return value


def add_model(p: argparse.ArgumentParser, help_text: str = "model folder (default: bundled)"):
    p.add_argument("--model", type=Path, default=None, help=help_text)


def add_allow_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept checkpoints holding arbitrary Python objects (may run code: trust needed)",
    )


def add_backend_option(p: argparse.ArgumentParser, what: str) -> None:
    """`--backend torch|onnx` for a command whose --model may be an export folder."""
    p.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help=f"onnx: --model is a folder `studio export {what}` wrote",
    )


def add_chart_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--difficulties",
        default="all",
        help="comma-separated: beginner,easy,medium,hard,challenge, or all (default)",
    )
    p.add_argument("--formats", default="sm,ssc,osu,json", help="any of sm,ssc,osu,json")
    p.add_argument("--seed", type=int, default=0, help="same seed, same charts (default 0)")
    p.add_argument(
        "--model", type=Path, default=None, help="onset model folder (default: bundled GenéLive)"
    )
    p.add_argument(
        "--steps-model", type=Path, default=None, help="step-selection folder (default: bundled)"
    )
    add_backend_option(p, "chart")
    p.add_argument(
        "--density",
        default=None,
        help="notes per second per difficulty, e.g. 'hard=4.5,challenge=7' "
        "(default: the model's choice, kept inside the corpus' range)",
    )
    p.add_argument(
        "--temperature",
        type=number,
        default=1.0,
        help="step sampling temperature, 0.01..10 (default 1)",
    )
    p.add_argument("--keys", type=int, default=4, help="osu!mania key count (default 4)")
    p.add_argument("--preview", action="store_true", help="also write preview/*.png and *.ogg")
    p.add_argument("--max-minutes", type=minutes, default=15.0, help="refuse longer audio")


def add_style_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="StyTr² folder (import-stytr2)")
    p.add_argument("--alpha", type=number, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument(
        "--style-weights", type=number, nargs="+", default=None, help="one weight per style"
    )
    p.add_argument("--size", type=int, default=None, help="scale the longer side to N px")
    add_backend_option(p, "stytr2")
