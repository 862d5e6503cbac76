"""What counts as the user's mistake, and how it reads in each interface: one line, in that
interface's own words.

Every error class of ours that means "the input is wrong" is a ValueError (InvalidValue,
AudioError, ImageError, ModelFolderError, OsuError, TimingError, ChartFileError, JobError,
BatchError, ...), or an OSError saying an output cannot be written (OutputError): the command
line prints those as `error: ...` and exits 2, the web app shows them as one line. Anything else
is a fault of ours.

The model packages name a bad value by their argument name (`offset_s`, `max_duration_s`); the
command line says the flag (`--offset`, `--max-minutes`), the web app the field's label
("Offset s"), and advice about a setting an interface does not have is left out there (the
web app has no length limit to raise).
"""

from __future__ import annotations

from collections.abc import Mapping

from export.atomic import OutputError
from export.checks import InvalidValue

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, OutputError)

MAX_CHARS = 400  # a message is a line someone reads, not a dump of the input

CLI_WORDS: dict[str, str | None] = {
    "bpm": "--bpm",
    "offset_s": "--offset",
    "timing_from": "--timing-from",
    "seed": "--seed",
    "difficulties": "--difficulties",
    "formats": "--formats",
    "density_nps": "--density",
    "temperature": "--temperature",
    "keys": "--keys",
    "max_duration_s": "--max-minutes",
    "replace": "--overwrite",
    "title": "--title",
    "artist": "--artist",
    "alpha": "--alpha",
    "style": "STYLE",
    "style_weights": "--style-weights",
    "size": "--size",
    "prompt": "the prompt",
    "a": "A",
    "b": "B",
    "to_caption": "--to",
    "from_caption": "--from",
    "num_images": "--num-images",
    "frames": "--frames",
    "strength": "--strength",
    "steps": "--steps",
    "batch": "--batch",
    "batch_windows": "--batch",
    "warmup_steps": "--warmup",
    "validate_every": "--validate-every",
    "pos_weight": "--pos-weight",
    "port": "--port",
    "downbeat_value": "--downbeat-value",
    "opset": "--opset",
    "workers": "--workers",
    "jobs_dir": "--jobs-dir",
    "allow_pickle": "--allow-pickle",
    "vgg_path": "--vgg",
}

WEB_WORDS: dict[str, str | None] = {
    "bpm": "BPM",
    "offset_s": "Offset",
    "timing_from": "the timing file",
    "seed": "Seed",
    "difficulties": "Difficulties",
    "formats": "Formats",
    "density_nps": "Density",
    "max_duration_s": None,  # fixed in the app: no advice to raise it
    "replace": None,
    "alpha": "Style strength",
    "style": "Style image(s)",
    "style_weights": "Style weights",
    "size": "Longer side px",
    "prompt": "Prompt",
    "a_prompt": "From: prompt",
    "b_prompt": "To: prompt",
    "a": "From",
    "b": "To",
    "to_caption": "To caption",
    "from_caption": "From caption",
    "num_images": "Images",
    "frames": "Frames",
    "strength": "Strength",
}


def one_line(error: BaseException, words: Mapping[str, str | None]) -> str:
    """The error as one line in an interface's words."""
    text = error.render(words) if isinstance(error, InvalidValue) else str(error)
    line = " ".join(text.split()) or type(error).__name__
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


def for_cli(error: BaseException) -> str:
    return one_line(error, CLI_WORDS)


def for_web(error: BaseException) -> str:
    return one_line(error, WEB_WORDS)
