"""Writing a generated song folder: chart files, a copy of the audio, previews; all or nothing.

Everything is rendered in memory first, then each file is written atomically (temp file +
rename); if a write fails, the files this call created are removed again, so a failed run never
leaves a half song folder that a game would load.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from export.folder import write_atomic
from genelive.chartfile import FORMATS
from genelive.preview import encode_ogg

# Both games read these as they are; anything else is transcoded to Ogg Vorbis.
GAME_AUDIO_SUFFIXES = (".ogg", ".mp3")


class OutputError(OSError):
    """The output folder cannot be written, with the reason."""


def check_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f for f in formats.split(",") if f.strip()]
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
    stem = re.sub(r"[^\w.\- ]+", "_", source.stem).strip() or "audio"
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


def write_song_folder(song, out_dir: Path, formats: Sequence[str], preview: bool) -> list[Path]:
    """Write the folder; the written paths, the chart files first, then audio and previews."""
    files = render_song_folder(song, formats, preview)
    out_dir = Path(out_dir)
    created: list[Path] = []
    written: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = out_dir / name
            if path.resolve() == Path(song.audio_path).resolve():
                written.append(path)  # the audio is already there
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            existed = path.exists()
            write_atomic(path, data)
            written.append(path)
            if not existed:
                created.append(path)
    except OSError as e:
        for path in created:
            path.unlink(missing_ok=True)
        raise OutputError(f"cannot write to {out_dir}: {e.strerror or e}") from e
    audio = out_dir / song.audio_filename
    return sorted(written, key=lambda p: (p == audio, "preview" in p.parts, str(p)))
