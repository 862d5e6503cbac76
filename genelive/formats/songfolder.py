"""Writing a generated song folder: chart files, a copy of the audio, previews; all or nothing.

Everything is rendered in memory first, then written into a temporary sibling folder that is
renamed into place (export.folder.write_folder): a failed write, a full disk or a killed
process leaves no folder, or the old one whole, never a half song folder a game would load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from export.atomic import OutputError, write_folder
from export.checks import InvalidValue, safe_filename
from genelive.formats.chartset import FORMATS
from genelive.formats.preview import encode_ogg

# Both games read these as they are; anything else is transcoded to Ogg Vorbis.
GAME_AUDIO_SUFFIXES = (".ogg", ".mp3")


def check_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f for f in formats.split(",") if f.strip()]
    if not all(isinstance(f, str) for f in formats):
        raise InvalidValue.of("formats", f"must be format names: {', '.join(FORMATS)}")
    names = [f.strip().lower().lstrip(".") for f in formats]
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise ValueError(
            f"unknown chart format {', '.join(map(repr, unknown)) or '(none given)'}: "
            f"choose from {', '.join(FORMATS)}"
        )
    return tuple(f for f in FORMATS if f in names)


def game_audio_name(source: Path) -> str:
    """The name of the audio copy beside the charts (what the chart files point at)."""
    stem = safe_filename(source.stem, fallback="audio")
    suffix = source.suffix.lower()
    return stem + (suffix if suffix in GAME_AUDIO_SUFFIXES else ".ogg")


def render_song_folder(song, formats: Sequence[str], preview: bool) -> dict[str, bytes]:
    """File name (relative) → content, for everything the folder holds."""
    formats = check_formats(formats)
    source = Path(song.audio_path)
    if source.suffix.lower() in GAME_AUDIO_SUFFIXES:
        audio = source.read_bytes()
    else:
        audio = encode_ogg(*_audio_as_stored(source))
    files = {song.audio_filename: audio}
    for fmt in formats:
        files.update({name: text.encode("utf-8") for name, text in song.render(fmt).items()})
    if preview:
        for chart in song.charts:
            files[f"preview/{chart.difficulty}.png"] = song.picture(chart.difficulty)
            files[f"preview/{chart.difficulty}.ogg"] = encode_ogg(
                *song.preview_audio(chart.difficulty)
            )
    return files


def _audio_as_stored(path: Path):
    """(rate, samples (n, channels)) as the file has them: the copy keeps stereo."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return rate, data


def write_song_folder(
    song, out_dir: Path, formats: Sequence[str], preview: bool, replace: bool = False
) -> list[Path]:
    """Write the folder; the written paths, the chart files first, then audio and previews. An
    existing folder that is not empty is replaced whole with `replace`, else refused."""
    files = render_song_folder(song, formats, preview)
    out_dir = Path(out_dir)
    if not replace and out_dir.is_dir() and any(out_dir.iterdir()):
        raise InvalidValue(
            f"{out_dir} already exists and is not empty: choose a new folder",
            "replace",
            hint=" or replace it whole ({replace})",
        )
    try:
        written = write_folder(out_dir, files, replace=replace)
    except OSError as e:
        raise OutputError(f"cannot write to {out_dir}: {e.strerror or e}") from e
    audio = out_dir / song.audio_filename
    return sorted(written, key=lambda p: (p == audio, "preview" in p.parts, str(p)))
