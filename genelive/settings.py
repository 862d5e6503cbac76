"""The settings a chart request gives, checked the same way for the command line, the web app,
batch jobs and the Python API: difficulties, density targets, temperature, osu!mania keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from export.checks import InvalidValue, check_number
from genelive.difficulty import DIFFICULTIES


def parse_difficulties(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """ "all", "easy,hard", ["Hard"] → canonical names in Beginner..Challenge order."""
    if names is None or names == "all" or list(names) == ["all"]:
        return DIFFICULTIES
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    choose = f"choose from {', '.join(d.lower() for d in DIFFICULTIES)} or 'all'"
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise InvalidValue.of("difficulties", f"must be difficulty names: {choose}")
    lookup = {d.lower(): d for d in DIFFICULTIES}
    unknown = [n[:40] for n in names if n.strip().lower() not in lookup]
    if unknown or not names:
        raise ValueError(
            f"unknown difficulty {', '.join(map(repr, unknown[:5])) or '(none given)'}: {choose}"
        )
    wanted = {lookup[n.strip().lower()] for n in names}
    return tuple(d for d in DIFFICULTIES if d in wanted)


MAX_DENSITY_NPS = 40.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 10.0


def check_density(density_nps: Mapping[str, float] | None) -> dict[str, float]:
    """Notes-per-second targets per difficulty, each above 0 and at most 40."""
    if density_nps is not None and not isinstance(density_nps, Mapping):
        raise InvalidValue.of("density_nps", "must map difficulties to notes per second")
    return {parse_difficulties([k])[0]: check_target_nps(v) for k, v in (density_nps or {}).items()}


def check_target_nps(value: float) -> float:
    return float(
        check_number(
            value, "density_nps", 0, MAX_DENSITY_NPS, lo_open=True, unit="notes per second"
        )
    )


def check_temperature(value: float) -> float:
    return float(check_number(value, "temperature", MIN_TEMPERATURE, MAX_TEMPERATURE))


def check_keys(keys: int) -> int:
    return int(check_number(keys, "keys", 1, 18, integer=True))
