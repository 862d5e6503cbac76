"""Tempo maps with segments against one constant tempo, on the corpus songs whose tempo changes.

A song "changes tempo" when its chart spends at least 8 s at a tempo more than 2% from its
dominant one, tempi folded into the half octave around the dominant tempo first (a half-time
section charted at half the BPM is the same beat grid, not a change; stops are left out). Both
estimates are the audio's alone (the comb fit; the onset model's half-beat check moves both
alike). Scores: mir_eval's beat F-measure of the estimated beats against the chart's, at its
usual ±70 ms and at ±20 ms (what a chart's timing needs), over the charted span (first to last
note). On constant-tempo songs, how often the map invents a change, and what it costs.

    .venv/bin/python bench/tempo_maps.py ../shared/data [--split train|validation|test|all]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

import mir_eval
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genelive.audio import load_audio
from genelive.onsets.config import DEFAULT_MODEL
from genelive.tempo import estimate_tempo
from genelive.tempo_map import estimate_tempo_map, timing_from_segments
from genelive.timing import Timing
from genelive.training.corpus import scan_charts
from genelive.training.data import songs_in_split

CHANGE_RATIO = 0.02
CHANGE_MIN_S = 8.0
MAX_INTERVAL_S = 2.0  # a longer beat interval is a stop or a pause, not a tempo


def changed_seconds(beat_times_s: np.ndarray) -> float:
    """Seconds the chart spends at a tempo (octave-folded) off its dominant one by > 2%."""
    intervals = np.diff(beat_times_s)
    intervals = intervals[(intervals > 0) & (intervals < MAX_INTERVAL_S)]
    period_s = float(np.median(intervals))
    folded = intervals * 2.0 ** np.round(np.log2(period_s / intervals))
    return float(intervals[np.abs(folded / period_s - 1) > CHANGE_RATIO].sum())


def beat_scores(reference_s: np.ndarray, timing: Timing, span: tuple[float, float]) -> tuple:
    grid, _ = timing.beat_grid(span[1] + 1.0)
    inside = lambda t: t[(t >= span[0] - 0.1) & (t <= span[1] + 0.1)]  # noqa: E731
    ref, est = inside(reference_s), inside(grid.times_s)
    return tuple(mir_eval.beat.f_measure(ref, est, window) for window in (0.07, 0.02))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--split", default="all", choices=("train", "validation", "test", "all"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="whose split")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    songs = scan_charts(args.data_dir)
    sides = ("train", "validation", "test") if args.split == "all" else (args.split,)
    rows = defaultdict(list)
    seconds = []
    for side in sides:
        for song in songs_in_split(songs, args.model, side):
            chart = max(song.charts, key=lambda c: len(c.onset_times_s))
            beats_s = chart.beats.times_s
            if len(beats_s) < 8 or len(chart.onset_times_s) < 8:
                continue
            kind = "changing" if changed_seconds(beats_s) >= CHANGE_MIN_S else "constant"
            audio = load_audio(song.audio_path)
            start = time.perf_counter()
            constant = estimate_tempo(audio)
            mapped = estimate_tempo_map(audio)
            seconds.append(time.perf_counter() - start)
            span = (float(chart.onset_times_s[0]), float(chart.onset_times_s[-1]))
            one = Timing.constant(constant.bpm, constant.offset_s)
            timing = timing_from_segments(mapped.segments) if mapped.segments else one
            rows[side, kind].append(
                (
                    song.key,
                    beat_scores(beats_s, one, span),
                    beat_scores(beats_s, timing, span),
                    [(s.start_s, s.bpm) for s in mapped.segments],
                )
            )
    print(f"{'split':10s} {'songs':9s} {'n':>3s} {'mapped':>6s}  F70 const→map   F20 const→map")
    for (side, kind), items in sorted(rows.items()):
        const = np.array([r[1] for r in items])
        mapped = np.array([r[2] for r in items])
        n_mapped = sum(bool(r[3]) for r in items)
        print(
            f"{side:10s} {kind:9s} {len(items):3d} {n_mapped:6d}  {const[:, 0].mean():.3f}→"
            f"{mapped[:, 0].mean():.3f}   {const[:, 1].mean():.3f}→{mapped[:, 1].mean():.3f}"
        )
        for key, c, m, segs in items:
            if kind == "changing" or segs:
                print(f"    {key[:44]:44s} F20 {c[1]:.2f}→{m[1]:.2f}  {segs}")
    print(f"seconds per song (both estimates): {np.mean(seconds):.2f}")


if __name__ == "__main__":
    main()
