"""Audio loading: wav/flac/ogg/mp3 → mono float32 at 16 kHz, with clear errors.

One decoder everywhere (libsndfile through soundfile, which also reads MP3), because MP3 decoders
disagree on encoder delay by tens of milliseconds, and that would shift every note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from export.checks import InvalidValue, check_number

SAMPLE_RATE = 16000
MAX_DURATION_S = 15 * 60.0
SILENCE_PEAK_DBFS = -60.0  # a song whose loudest sample is quieter than this is silence
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")
MAX_LIMIT_S = 24 * 3600.0
# How the files libsndfile reads begin. Anything else is refused before the decoder sees it:
# asked to open a text file called .mp3, it guesses formats and prints notes to stderr.
_MAGIC = (b"RIFF", b"RF64", b"riff", b"fLaC", b"OggS", b"ID3", b"FORM", b"caff")


class AudioError(InvalidValue):
    """The audio file cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    duration_s: float
    sample_rate: int
    channels: int


def probe_audio(path: str | Path) -> AudioInfo:
    """Read the header only: format, length, channels. Raises AudioError."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if not _looks_like_audio(path):
        raise AudioError(
            f"{path.name}: not a readable audio file (its contents are not wav, flac, ogg or "
            "mp3, whatever its name says)"
        )
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(
            f"{path.name}: not a readable audio file ({_reason(e)}). "
            f"Supported: {', '.join(s[1:] for s in AUDIO_SUFFIXES)}."
        ) from e
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path.name}: the file holds no audio samples (empty)")
    return AudioInfo(path, info.frames / info.samplerate, info.samplerate, info.channels)


def load_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, max_duration_s: float = MAX_DURATION_S
) -> np.ndarray:
    """Decode, mix to mono and resample. The length limit is checked before decoding."""
    check_number(max_duration_s, "max_duration_s", 0, MAX_LIMIT_S, lo_open=True, unit="s")
    info = probe_audio(path)
    if info.duration_s > max_duration_s:
        raise AudioError(
            f"{info.path.name}: {info.duration_s / 60:.1f} min long; the limit is "
            f"{max_duration_s / 60:.0f} min. Trim the file",
            "max_duration_s",
            hint=" or raise the limit ({max_duration_s})",
        )
    try:
        data, file_rate = sf.read(str(info.path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{info.path.name}: corrupt audio, decoding failed ({_reason(e)})") from e
    if data.size == 0:
        raise AudioError(f"{info.path.name}: the file holds no audio samples (empty)")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioError(f"{info.path.name}: corrupt audio (samples that are not numbers)")
    check_not_silent(mono, info.path.name)
    return resample(mono, file_rate, sample_rate)


def _looks_like_audio(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    mpeg_frame = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0  # MP3, no tags
    return head.startswith(_MAGIC) or mpeg_frame


def check_not_silent(mono: np.ndarray, name: str) -> None:
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(
            f"{name}: the audio is silent (peak {level} dBFS); nothing to chart. "
            "Check the file or its export settings."
        )


def resample(mono: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return np.ascontiguousarray(mono, dtype=np.float32)
    return soxr.resample(mono, from_rate, to_rate, quality="HQ").astype(np.float32)


def _reason(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
