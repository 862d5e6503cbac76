"""A 2-minute song to written chart files, all five difficulties: ours vs the reference path.

File → files: decode the audio, estimate the tempo, onset activations, notes, arrows and holds,
and write .sm/.ssc/.osu/.json plus the audio copy. "ours" runs the conv stack once and the BiLSTM
for the five difficulties as one batch; "klab" runs the whole onset network once per difficulty
with KLab's 640-frame chunked LSTM (their `predict_proba` path); everything else is shared.
The bundled model is timed as shipped; the `paper` config (KLab's sizes, untrained weights:
speed does not depend on them) in both paths. Each measurement runs in a fresh process, so
peak RSS is its own. The song is synthetic (drums and chords, 44.1 kHz stereo Ogg Vorbis).

    .venv/bin/python bench/chart_speed.py [--seconds 120] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import peak_rss_mib, run_child

RUNS = (("bundled", "ours"), ("paper", "ours"), ("paper", "klab"))


def synthetic_song(path: Path, seconds: float, sr: int = 44100, bpm: float = 150.0) -> None:
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    beat = 60.0 / bpm
    song = 0.05 * np.sin(2 * np.pi * 110 * t) + 0.04 * np.sin(2 * np.pi * 164.8 * t)
    kick = np.sin(2 * np.pi * 60 * np.arange(int(0.15 * sr)) / sr) * np.exp(
        -np.arange(int(0.15 * sr)) / (0.04 * sr)
    )
    hat = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.arange(int(0.03 * sr)) / (0.005 * sr))
    for i, start_s in enumerate(np.arange(0.3, seconds - 0.2, beat / 2)):
        s = int(start_s * sr)
        sound = 0.8 * kick if i % 2 == 0 else 0.3 * hat
        song[s : s + len(sound)] += sound[: n - s]
    from genelive.formats.preview import encode_ogg

    path.write_bytes(encode_ogg(sr, np.stack([song, 0.9 * song], 1).astype(np.float32)))


def paper_model(folder: Path) -> Path:
    from export.weights import save_model_folder
    from genelive.onsets.config import PRESETS
    from genelive.onsets.nets import OnsetNet

    torch.manual_seed(0)
    config = PRESETS["paper"]
    save_model_folder(folder, config, OnsetNet(config))
    return folder


def klab_activations(model):
    """The reference path: the whole network (conv stack included) once per difficulty."""
    net = model.backend.module
    net.cfg = dataclasses.replace(net.cfg, lstm_chunk_frames=640)
    batched = model.activations

    def per_difficulty(features, beats=None, difficulties=()):
        acts = [batched(features, beats, [d]) for d in difficulties]
        first = acts[0]
        probs = np.concatenate([a.probs for a in acts])
        return dataclasses.replace(first, probs=probs, difficulties=tuple(difficulties))

    return per_difficulty


def run(model_name: str, path: str, song: Path, repeats: int) -> dict:
    torch.set_num_threads(2)
    from genelive.generator import ChartGenerator

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = paper_model(Path(tmp) / "paper") if model_name == "paper" else None
        start = time.perf_counter()
        gen = ChartGenerator.load(model_dir)
        load_s = time.perf_counter() - start
        if path == "klab":
            gen.onset_model.activations = klab_activations(gen.onset_model)
        times = []
        for i in range(repeats):
            start = time.perf_counter()
            files = gen(song, seed=0).save(Path(tmp) / f"out{i}")
            times.append(time.perf_counter() - start)
    return {
        "model": model_name,
        "path": path,
        "files": len(files),
        "load_s": round(load_s, 2),
        "file_to_files_s": round(min(times), 2),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model_name, path, song = args.child
        print(json.dumps(run(model_name, path, Path(song), args.repeats)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "bench song.ogg"
        synthetic_song(song, args.seconds)
        for model_name, path in RUNS:
            rows.append(run_child(__file__, model_name, path, song, "--repeats", args.repeats))
    print(
        f"# {args.seconds:g} s song → 5 charts in .sm/.ssc/.osu/.json, best of {args.repeats}; "
        f"{platform.processor() or platform.machine()}, 2 threads, torch {torch.__version__}, "
        f"{date.today()}"
    )
    print("| onset model | path | file → files s | model load s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['path']} | {r['file_to_files_s']} | {r['load_s']} | "
            f"{r['peak_rss_mib']} |"
        )
    ours, klab = rows[1], rows[2]
    print(
        f"paper: ours {klab['file_to_files_s'] / ours['file_to_files_s']:.2f}× faster than the "
        f"reference path, {klab['peak_rss_mib'] / ours['peak_rss_mib']:.2f}× less peak memory"
    )


if __name__ == "__main__":
    main()
