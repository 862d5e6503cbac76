"""What an unCLIP request may ask for: steps and guidance per stage, prompts, image counts,
frames and seeds, each checked the same way for the command line, the web app and the API."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from export.checks import SEED_LIMIT, InvalidValue, check_seed

MAX_STEPS = 1000
MAX_GUIDANCE = 50.0
MAX_IMAGES = 16
MAX_FRAMES = 64
MAX_PROMPT_CHARS = 2000  # CLIP reads 77 tokens (a few hundred characters); more is a mistake


@dataclass(frozen=True)
class Steps:
    prior: int = 25
    decoder: int = 25
    super_res: int = 7


@dataclass(frozen=True)
class Guidance:
    prior: float = 4.0
    decoder: float = 8.0


def check_settings(steps: Steps, guidance: Guidance) -> None:
    for name, value in asdict(steps).items():
        if not (isinstance(value, int) and 2 <= value <= MAX_STEPS):
            raise ValueError(f"{name} steps must be a whole number in 2..{MAX_STEPS}, not {value}")
    for name, value in asdict(guidance).items():
        if not (isinstance(value, int | float) and 1.0 <= value <= MAX_GUIDANCE):
            raise ValueError(
                f"{name} guidance must be in 1..{MAX_GUIDANCE:g} (1 = no guidance), not {value}"
            )


def check_prompt(prompt, required: bool = True, name: str = "prompt") -> str:
    """A prompt: text of at most MAX_PROMPT_CHARS (not empty when `required`)."""
    if not isinstance(prompt, str):
        raise InvalidValue.of(name, f"must be text, not {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidValue.of(
            name,
            f"is {len(prompt):,} characters long; at most {MAX_PROMPT_CHARS:,} (CLIP reads its "
            "first 77 tokens)",
        )
    if required and not prompt.strip():
        raise InvalidValue.of(name, "is empty: describe the image to make")
    return prompt


def check_frames(frames: int) -> None:
    if not (isinstance(frames, int) and 2 <= frames <= MAX_FRAMES):
        raise ValueError(f"frames must be 2..{MAX_FRAMES}, not {frames}")


def seeds_for(seed: int | None, n: int) -> list[int]:
    """The seeds of a request's images: seed, seed + 1, ... (a random seed when None)."""
    if not (isinstance(n, int) and 1 <= n <= MAX_IMAGES):
        raise ValueError(f"number of images must be 1..{MAX_IMAGES}, not {n}")
    if seed is None:
        seed = secrets.randbelow(2**31 - MAX_IMAGES)
    seed = check_seed(seed)
    if seed + n > SEED_LIMIT:
        raise InvalidValue.of("seed", f"+ {n - 1} (the last image's seed) must be below 2**63")
    return [seed + i for i in range(n)]


DEFAULT_STEPS, DEFAULT_GUIDANCE = Steps(), Guidance()
