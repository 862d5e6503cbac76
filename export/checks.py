"""Checks every interface shares: numbers, seeds, one-line text, file names and JSON.

The model packages, the command line and the web app validate what they are given here, so a
value is judged the same way wherever it comes from. A failed check raises `InvalidValue`,
which names the parameter by the public function's own argument name; each interface shows that
name in its own words (`render`): the command line its flag, the web app its field's label.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import re
import types
import typing
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

SEED_LIMIT = 2**63  # seeds are 0 ≤ seed < 2**63: every RNG we feed takes them, JSON keeps them
JSON_MAX_DEPTH = 64  # nothing we read nests deeper; more is refused before anything walks it
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class InvalidValue(ValueError):
    """A value a public function cannot use, with what is wrong and what would do.

    `template` names parameters in braces (`"{offset_s} needs {bpm}"`); only the `names` given
    are filled in, so other braces in a message stay as they are. A `hint` (advice such as
    " or raise {max_duration_s}", appended as it is) is left out by an interface that lacks one
    of its parameters.
    """

    def __init__(self, template: str, *names: str, hint: str = ""):
        super().__init__(template)
        self.template, self.names, self.hint = template, names, hint

    @classmethod
    def of(cls, name: str, problem: str, hint: str = "") -> InvalidValue:
        """`{name} <problem>`: the common shape, e.g. "seed must be a whole number ..."."""
        return cls("{" + name + "} " + problem, name, hint=hint)

    def render(self, words: Mapping[str, str | None] | None = None) -> str:
        """The message with each parameter in an interface's words (default: its own name)."""
        words = words or {}

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(
                lambda m: (words.get(m[1]) or m[1]) if m[1] in self.names else m[0], text
            )

        text = fill(self.template)
        hinted = [m for m in _PLACEHOLDER.findall(self.hint) if m in self.names]
        if self.hint and all(words.get(name, name) is not None for name in hinted):
            text += fill(self.hint)
        return text

    def __str__(self) -> str:
        return self.render()


# --------------------------------------------------------------------------- numbers


def check_number(
    value: Any,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    integer: bool = False,
    unit: str = "",
) -> float | int:
    """`value` as a finite float (or int with `integer`) in [lo, hi] (lo excluded with
    `lo_open`), else InvalidValue naming `name`."""
    kind = "a whole number" if integer else "a number"
    bounds = _bounds(lo, hi, lo_open, unit)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue.of(name, f"must be {kind}{bounds}, not {_shown(value)}")
    number = float(value)
    if integer:
        if not (math.isfinite(number) and number == int(number)):
            raise InvalidValue.of(name, f"must be {kind}{bounds}, not {_shown(value)}")
        number = int(value)
    ok = math.isfinite(number) and (lo is None or (number > lo if lo_open else number >= lo))
    if not (ok and (hi is None or number <= hi)):
        raise InvalidValue.of(name, f"must be {kind}{bounds}, not {_shown(value)}")
    return number


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: a whole number 0 ≤ seed < 2**63."""
    return check_number(value, name, 0, SEED_LIMIT - 1, integer=True)


def _bounds(lo, hi, lo_open: bool, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        if lo_open:
            return f" above {_number(lo)} and at most {_number(hi)}{u}"
        return f" from {_number(lo)} to {_number(hi)}{u}"
    if lo is not None:
        return f" above {_number(lo)}{u}" if lo_open else f" of at least {_number(lo)}{u}"
    return f" of at most {_number(hi)}{u}" if hi is not None else ""


def _number(value: float | int) -> str:
    """Whole numbers in full (a seed bound is 9223372036854775807, not 9.22e+18)."""
    if isinstance(value, int) and len(str(value)) <= 20:
        return str(value)
    number = float(value)
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


def _shown(value: Any) -> str:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return _number(value) if real else f"{value!r}"[:40]


# --------------------------------------------------------------------------- configs


def check_config(config: Any, limits: Mapping[str, tuple[float, float]] | None = None) -> None:
    """A config dataclass's fields against its type hints (a config read from JSON can hold any
    type) and `limits` ({field: (lo, hi)}, applied to every number a field holds). Call it from
    `__post_init__`; raises InvalidValue naming the field."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _has_type(value, hints[f.name]):
            shown = f"{value!r}"[:40]
            raise InvalidValue.of(f.name, f"must be {_describe(hints[f.name])}, not {shown}")
        if limits and f.name in limits:
            lo, hi = limits[f.name]
            integer = hints[f.name] is int
            for number in _numbers_in(value):
                check_number(number, f.name, lo, hi, integer=integer)


def _has_type(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_has_type(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_has_type, value, args))
    if origin is list:
        return isinstance(value, list) and all(_has_type(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _has_type(k, args[0]) and _has_type(v, args[1]) for k, v in value.items()
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint we do not check (a callable, a type variable)


_PLAIN_TYPES = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text"}


def _describe(hint: Any) -> str:
    if hint in _PLAIN_TYPES:
        return _PLAIN_TYPES[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list ({_describe(args[0])} each)"
        return f"a list of {len(args)} values"
    if origin in (list, dict):
        return "a list" if origin is list else "an object"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None)) + " (or null)"
    return f"a {getattr(hint, '__name__', hint)}"


def _numbers_in(value: Any) -> Iterator[float]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _numbers_in(v)


# --------------------------------------------------------------------------- text


def one_line(text: Any, name: str = "text", max_chars: int = 200) -> str:
    """Printable one-line text: control and format characters (newlines, ESC, bidi overrides)
    become spaces, runs of spaces one, both ends trimmed, at most `max_chars` characters.
    Every metadata value written into a file passes through here, so no value can start a
    line (a second [TimingPoints], an AudioFilename) in any format."""
    if not isinstance(text, str):
        raise InvalidValue.of(name, f"must be text, not {type(text).__name__}")
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp", "Cs", "Co", "Cn") or (
            category == "Cf" and ch not in "\u200c\u200d"  # joiners shape emoji and scripts
        ):
            kept.append(" ")
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())[:max_chars].strip()


_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|]')
_RESERVED_NAMES = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
MAX_NAME_BYTES = 120  # room for " (GenéLive) [Challenge].osu" inside every filesystem's 255


def safe_filename(text: str, fallback: str = "untitled") -> str:
    """One sanitiser for every file name made from metadata (titles, tags, upload names): one
    line, no path separators or characters Windows refuses, no leading dot (no hidden files,
    no `..`), not a reserved device name, at most MAX_NAME_BYTES of UTF-8."""
    name = _UNSAFE_IN_NAMES.sub("_", one_line(text, max_chars=400))
    name = name.strip(" .")
    encoded = name.encode("utf-8")[:MAX_NAME_BYTES]
    name = encoded.decode("utf-8", errors="ignore").strip(" .")
    if _RESERVED_NAMES.match(name):
        name = "_" + name
    return name or fallback


# --------------------------------------------------------------------------- JSON


def parse_json(
    text: str | bytes,
    source: str,
    error: type[Exception] = ValueError,
    max_depth: int = JSON_MAX_DEPTH,
) -> Any:
    """JSON from a file or a client, or `error("<source>: ...")`: never a RecursionError from
    deep nesting, never NaN or Infinity (not JSON; they would pass as numbers)."""

    def refuse_constant(word: str):
        raise ValueError(f"{word} is not a JSON number")

    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise error(f"{source}: nested more than {max_depth} levels deep") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise error(f"{source}: not valid JSON ({e})") from None
    if _depth(data) > max_depth:
        raise error(f"{source}: nested more than {max_depth} levels deep")
    return data


def _depth(data: Any) -> int:
    """Nesting depth, found without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest
