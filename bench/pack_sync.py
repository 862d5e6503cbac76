"""Do a pack's notes sit late or early against its audio, compared with the other packs?

For every chart, the lag (ms) that maximises the mean spectral flux at note time + lag, on a
1 ms grid from −60 to +60 ms (flux at a 4 ms hop, linearly interpolated). A song's lag is the
median of its charts'; a pack's is the median of its songs', with a bootstrap 90% interval over
songs. A positive lag means the audio's attacks come after the notes. The In The Groove packs
are said to be synced ~9 ms late for the arcade machine; this measures it on our data.

    .venv/bin/python bench/pack_sync.py ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genelive.audio import SAMPLE_RATE, load_audio
from genelive.spectrogram import onset_strength
from genelive.training.corpus import scan_charts

HOP = 64  # samples: 4 ms at 16 kHz
LAGS_MS = np.arange(-60, 61)


def chart_lag_ms(flux: np.ndarray, fps: float, onset_times_s: np.ndarray) -> float:
    frame_times_s = np.arange(len(flux)) / fps
    scores = [
        np.interp(onset_times_s + lag / 1000.0, frame_times_s, flux).mean() for lag in LAGS_MS
    ]
    return float(LAGS_MS[int(np.argmax(scores))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    per_pack: dict[str, list[float]] = defaultdict(list)
    for song in scan_charts(args.data_dir):
        audio = load_audio(song.audio_path)
        flux = onset_strength(audio, SAMPLE_RATE, 1024, HOP)
        fps = SAMPLE_RATE / HOP
        lags = [chart_lag_ms(flux, fps, c.onset_times_s) for c in song.charts]
        per_pack[song.pack].append(float(np.median(lags)))
    rng = np.random.default_rng(0)
    print("pack       songs  median lag ms  bootstrap 90%")
    for pack, lags in sorted(per_pack.items()):
        lags_ms = np.array(lags)
        boot = [np.median(rng.choice(lags_ms, len(lags_ms))) for _ in range(2000)]
        lo, hi = np.percentile(boot, [5, 95])
        print(f"{pack:<10} {len(lags_ms):5d}  {np.median(lags_ms):13.1f}  [{lo:.1f}, {hi:.1f}]")


if __name__ == "__main__":
    main()
