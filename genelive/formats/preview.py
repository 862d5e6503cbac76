"""What an artist checks before playing a chart: a picture of it and the song with assist claps.

The picture stacks, on one time axis: the song's log-mel spectrogram with the beat grid (measure
lines stronger), the notes per lane (holds as bars), and the density (notes per second over a
2-second window). The audio is the song with a short clap at every note row.
"""

from __future__ import annotations

import io
import zlib

import numpy as np

from genelive.audio import load_audio, probe_audio
from genelive.features import FPS
from genelive.formats.chartset import ChartSet
from genelive.formats.notes import Chart, note_array

CLAP_S = 0.04
DENSITY_WINDOW_S = 2.0
LANE_COLOURS = ("#d94f70", "#3d8bd9", "#3dbf74", "#e0a030")


def chart_picture(song: ChartSet, chart: Chart, song_mel: np.ndarray, duration_s: float) -> bytes:
    """PNG bytes of the chart over the song; `song_mel` is the song's (T, 229) log-mel."""
    # A Figure of its own (no pyplot): no global backend switch, no figure registry, safe
    # in the web app's worker threads.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 6))
    ax_spec, ax_notes, ax_density = fig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]}
    )
    ax_spec.imshow(
        song_mel.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, len(song_mel) / FPS, 0, song_mel.shape[1]),
    )
    ax_spec.set_yticks([])
    grid, first_beat = song.timing.beat_grid(duration_s)
    measure = (np.arange(len(grid.times_s)) + first_beat) % 4 == 0
    ax_spec.vlines(grid.times_s[~measure], 0, song_mel.shape[1], colors="w", lw=0.3, alpha=0.3)
    ax_spec.vlines(grid.times_s[measure], 0, song_mel.shape[1], colors="w", lw=0.6, alpha=0.7)
    ax_spec.set_title(
        f"{song.title} — {chart.difficulty} (meter {chart.meter}): {chart.n_notes} notes, "
        f"{chart.n_holds} holds, {chart.nps:.2f} notes/s, {song.timing.bpm:g} BPM"
    )
    notes = note_array(chart)  # (N, 3): time, column, hold end (NaN for taps)
    for lane in range(4):  # one artist per lane and kind: thousands of notes stay fast
        colour = LANE_COLOURS[lane]
        mine = notes[notes[:, 1] == lane]
        holds = mine[np.isfinite(mine[:, 2])]
        ax_notes.hlines(
            np.full(len(holds), lane), holds[:, 0], holds[:, 2], colors=colour, lw=4, alpha=0.6
        )
        ax_notes.plot(mine[:, 0], np.full(len(mine), lane), "s", color=colour, ms=3)
    ax_notes.set_ylim(-0.7, 3.7)
    ax_notes.set_yticks(range(4), ["←", "↓", "↑", "→"])
    ax_notes.vlines(grid.times_s[measure], -0.7, 3.7, colors="k", lw=0.4, alpha=0.3)
    t, rate = density_curve(chart, duration_s)
    ax_density.fill_between(t, rate, color="#555", alpha=0.6)
    ax_density.set_ylabel("notes/s")
    ax_density.set_xlabel("time (s)")
    ax_density.set_xlim(0, duration_s)
    fig.subplots_adjust(left=0.04, right=0.99, top=0.94, bottom=0.08, hspace=0.12)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return buf.getvalue()


def density_curve(chart: Chart, duration_s: float, step_s: float = 0.25):
    """(times, notes per second) over a sliding window."""
    t = np.arange(0.0, duration_s + step_s, step_s)
    times = np.sort([n.time_s for n in chart.notes])
    half = DENSITY_WINDOW_S / 2
    counts = np.searchsorted(times, t + half) - np.searchsorted(times, t - half)
    return t, counts / DENSITY_WINDOW_S


def clap(sample_rate: int) -> np.ndarray:
    """A short percussive clap: decaying noise plus a 1.5 kHz ping (fixed seed: same sound)."""
    n = int(CLAP_S * sample_rate)
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(0).standard_normal(n)
    return (np.exp(-t / 0.008) * (0.6 * noise + np.sin(2 * np.pi * 1500 * t))).astype(np.float32)


def native_audio(audio_path) -> tuple[int, np.ndarray]:
    """(sample rate, mono float32) at the file's own rate: previews keep the song's quality."""
    rate = probe_audio(audio_path).sample_rate
    return rate, load_audio(audio_path, sample_rate=rate)


def clap_mix(rate: int, song: np.ndarray, chart: Chart) -> tuple[int, np.ndarray]:
    """(sample rate, mono float32) of the song with a clap at every note row."""
    sound = clap(rate)
    mix = 0.7 * song
    for t in sorted({round(n.time_s, 4) for n in chart.notes}):
        start = round(t * rate)
        if 0 <= start < len(mix):
            piece = sound[: len(mix) - start]
            mix[start : start + len(piece)] += 0.5 * piece
    peak = float(np.abs(mix).max())
    return rate, (mix / peak * 0.98 if peak > 0.98 else mix).astype(np.float32)


def encode_ogg(rate: int, audio: np.ndarray) -> bytes:
    """Ogg Vorbis bytes; the same samples always give the same bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    # In one call libsndfile's Vorbis encoder crashes on long signals: feed it 1 s blocks.
    with sf.SoundFile(buf, "w", rate, channels, format="OGG", subtype="VORBIS") as f:
        for start in range(0, len(audio), rate):
            f.write(audio[start : start + rate])
    return set_ogg_serial(buf.getvalue(), serial=0x47454E45)


def set_ogg_serial(data: bytes, serial: int) -> bytes:
    """libsndfile gives each Ogg stream a random serial number; fix it (and each page's CRC)
    so that equal audio encodes to equal files."""
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out) and out[pos : pos + 4] == b"OggS":
        n_segments = out[pos + 26]
        size = 27 + n_segments + sum(out[pos + 27 : pos + 27 + n_segments])
        out[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22 : pos + 26] = bytes(4)
        out[pos + 22 : pos + 26] = _ogg_crc(bytes(out[pos : pos + size])).to_bytes(4, "little")
        pos += size
    return bytes(out)


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, init 0, no final xor) via zlib's
    reflected CRC-32: reflect the bits of every byte, remove zlib's init/xor-out (CRC is
    affine, so XOR-ing the CRC of as many zero bytes does it), reflect the 32-bit result."""
    crc = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{crc:032b}"[::-1], 2)


_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
