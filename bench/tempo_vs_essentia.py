"""Our tempo estimate against essentia's RhythmExtractor2013 (multifeature), same songs, one run.

Songs: the validation and test sides of the bundled model's split (never tuned on: test), per
side and per pack. "ours" is what `studio chart` uses (the comb fit, its phase checked for a
half-beat shift by the onset model); "audio" is the comb fit alone. acc1: the BPM within 4% of
the chart's dominant tempo; acc2: also at ×2, ×½, ×3, ×⅓; phase: on constant-tempo songs, the
beats within ±20 ms of the chart's (modulo a beat); half-beat: of those at the right tempo, the
share half a beat off (within ±20 ms). essentia's beat phase is the circular mean of its beat
ticks over its own period. Seconds are per song, audio decoding excluded.

    .venv/bin/python bench/tempo_vs_essentia.py ../shared/data [--model FOLDER] [--split test]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genelive.audio import SAMPLE_RATE, load_audio
from genelive.evaluation.metrics import OFFSET_TOLERANCE_S, TrueTempo, tempo_report
from genelive.generator import ChartGenerator
from genelive.onsets.config import DEFAULT_MODEL
from genelive.tempo import TempoEstimate, estimate_tempo
from genelive.training.corpus import scan_charts
from genelive.training.data import songs_in_split

ESSENTIA_RATE = 44100  # RhythmExtractor2013 expects 44.1 kHz


def essentia_tempo(audio_44k: np.ndarray) -> tuple[float, float]:
    """(BPM, StepMania offset) from RhythmExtractor2013's tempo and beat ticks."""
    import essentia.standard as es

    bpm, ticks, *_ = es.RhythmExtractor2013(method="multifeature")(audio_44k.astype(np.float32))
    period_s = 60.0 / bpm
    angles = 2 * np.pi * (np.asarray(ticks) % period_s) / period_s
    first_beat_s = (np.angle(np.exp(1j * angles).mean()) % (2 * np.pi)) / (2 * np.pi) * period_s
    return float(bpm), -float(first_beat_s)


def half_beat_share(results: list[tuple[TrueTempo, float, float]]) -> float:
    """Of the constant-tempo songs at the right tempo, the share whose beats sit half a beat off."""
    flags = []
    for truth, bpm, offset_s in results:
        if truth.constant and abs(bpm / truth.bpm - 1) <= 0.04:
            half_s = 30.0 / truth.bpm
            flags.append(abs(abs(truth.phase_error_s(offset_s)) - half_s) <= OFFSET_TOLERANCE_S)
    return round(float(np.mean(flags)), 4) if flags else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model whose split to use")
    parser.add_argument("--split", nargs="+", default=["validation", "test"])
    parser.add_argument("--no-essentia", action="store_true", help="ours only (faster)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    songs = scan_charts(args.data_dir)
    gen = ChartGenerator.load(args.model)
    results: dict[tuple[str, str, str], list] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for side in args.split:
        for song in songs_in_split(songs, args.model, side):
            truth = TrueTempo.from_beat_times(song.charts[0].beats.times_s)
            methods = [
                ("ours", lambda a: _bpm_offset(gen.estimate_tempo(a)), SAMPLE_RATE),
                ("audio", lambda a: _bpm_offset(estimate_tempo(a)), SAMPLE_RATE),
                ("essentia", essentia_tempo, ESSENTIA_RATE),
            ]
            for name, estimate, rate in methods[: 2 if args.no_essentia else 3]:
                audio = load_audio(song.audio_path, sample_rate=rate)
                started = time.perf_counter()
                bpm, offset_s = estimate(audio)
                seconds[name].append(time.perf_counter() - started)
                for key in ((side, "all", name), (side, song.pack, name)):
                    results[key].append((truth, bpm, offset_s))
                print(
                    f"{side:<10} {song.pack:<8} {name:<8} true {truth.bpm:7.2f} "
                    f"got {bpm:7.2f}  {song.key[:60]}",
                    file=sys.stderr,
                )
    print("side        pack      method    songs  acc1   acc2   phase ±20ms  half-beat")
    for (side, pack, name), rows in sorted(results.items()):
        r = tempo_report(rows)
        print(
            f"{side:<11} {pack:<9} {name:<9} {r['songs']:5d}  {r['acc1']:.3f}  {r['acc2']:.3f}  "
            f"{r['offset_within_20ms']:.3f} of {r['constant_tempo_songs']:<3d}  "
            f"{half_beat_share(rows):.3f}"
        )
    for name, times in seconds.items():
        print(f"{name}: {np.mean(times):.2f} s per song (mean of {len(times)})")


def _bpm_offset(estimate: TempoEstimate) -> tuple[float, float]:
    return estimate.bpm, estimate.offset_s


if __name__ == "__main__":
    main()
