"""A generated song: its charts on its tempo map (a ChartSet), what they were made from (the
song's analysis), and what it writes and shows: the song folder, a picture of each chart, the
song with claps on its notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genelive.formats.chartset import FORMATS, ChartSet
from genelive.formats.songfolder import write_song_folder
from genelive.tempo import TempoEstimate
from genelive.timing import Timing

GENERATOR = "GenéLive Studio"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("genelive-studio")
    except PackageNotFoundError:
        return "0+unknown"


def audio_tags(path: Path) -> dict[str, str]:
    """Title and artist from the audio file's tags (Vorbis comments, RIFF INFO), if any."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            meta = f.copy_metadata()
    except (sf.LibsndfileError, RuntimeError):
        return {}
    return {k: v.strip() for k, v in meta.items() if k in ("title", "artist") and v.strip()}


@dataclass
class GeneratedSong(ChartSet):
    """Charts made from one audio file; `save(out_dir)` writes the song folder."""

    audio_path: Path | None = None
    analysis: SongAnalysis | None = field(default=None, repr=False)  # what its charts came from
    tempo: TempoEstimate | None = None  # when the tempo map was estimated
    song_mel: np.ndarray | None = field(default=None, repr=False)  # (T, 229), for pictures
    _native_audio: tuple | None = field(default=None, repr=False)  # decoded once, for previews

    def save(
        self,
        out_dir: str | Path,
        formats: Sequence[str] = FORMATS,
        preview: bool = False,
        replace: bool = False,
    ) -> list[Path]:
        """Write the song folder; it lands whole by one rename. An existing folder that is not
        empty is refused, or with `replace` replaced whole."""
        return write_song_folder(self, Path(out_dir), formats, preview, replace)

    def picture(self, difficulty: str) -> bytes:
        """PNG of one chart over the song's spectrogram, beat grid and note density."""
        from genelive.formats.preview import chart_picture

        chart = self.chart(difficulty)
        return chart_picture(self, chart, self.song_mel, chart.duration_s)

    def preview_audio(self, difficulty: str) -> tuple[int, np.ndarray]:
        """(sample rate, mono samples): the song with an assist clap at every note row."""
        from genelive.formats.preview import clap_mix, native_audio

        if self._native_audio is None:
            self._native_audio = native_audio(self.audio_path)
        return clap_mix(*self._native_audio, self.chart(difficulty))

    def summary(self) -> dict:
        out = {
            "bpm": self.timing.bpm,
            "offset": self.timing.offset_s,
            "charts": [c.summary() for c in self.charts],
        }
        if self.tempo is not None:
            out["tempo_unsure"] = self.tempo.unsure
            out["tempo_candidates"] = [
                {
                    "bpm": c.bpm,
                    "offset": c.offset_s,
                    "confidence": c.confidence,
                    "relation": c.relation,
                }
                for c in self.tempo.candidates
            ]
        return out


@dataclass
class SongAnalysis:
    """What charting needs from a song, computed once for all its difficulties."""

    audio_path: Path
    duration_s: float
    mel: np.ndarray = field(repr=False)  # (T, 229) log-mel, 32 ms frames
    timing: Timing
    tempo: TempoEstimate | None  # when the tempo map was estimated
    timing_source: str  # "user", "file" or "estimated"
    probs: dict[str, np.ndarray] = field(repr=False)  # difficulty → (T,) onset activation
    fps: float
    tags: dict[str, str]  # title / artist from the audio file
