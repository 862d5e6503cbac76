"""Onset inference for a 2-minute song, all five difficulties: ours vs KLab's computation path.

Ours runs the conv stack once and the BiLSTM for the five difficulties as one batch. KLab's
`predict_proba` runs the whole network once per difficulty (conv stack recomputed five times),
with their chunked eval-mode BiLSTM; we reproduce that path with the same (parity-tested) layers.
Each measurement runs in a fresh process so peak RSS belongs to it alone.

    .venv/bin/python bench/onsets_speed.py [--seconds 120] [--repeats 3] [--configs paper small]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import peak_rss_mib, run_child
from genelive.difficulty import DIFFICULTY_VALUES
from genelive.features import log_mel
from genelive.onsets.config import PRESETS
from genelive.onsets.nets import OnsetNet

PATHS = ("ours", "klab")


def synthetic_song(seconds: float, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(len(t))
    audio[(t % 0.5) < 0.01] += 0.5  # a click on every beat at 120 BPM
    return audio.astype(np.float32)


def run_path(path: str, config_name: str, seconds: float, repeats: int) -> dict:
    torch.set_num_threads(2)
    cfg = PRESETS[config_name]
    if path == "klab":
        cfg = dataclasses.replace(cfg, lstm_chunk_frames=640)
    torch.manual_seed(0)
    net = OnsetNet(cfg).eval()
    audio = synthetic_song(seconds)
    levels = torch.tensor(DIFFICULTY_VALUES, dtype=torch.float32)
    times_net, times_total = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        x = torch.from_numpy(log_mel(audio))[None]  # (1, T, 229)
        beats = torch.zeros(1, x.shape[1])
        beats[:, ::16] = 1
        mid = time.perf_counter()
        with torch.inference_mode():
            if path == "ours":
                probs = net(x, beats, levels)["onset_probs"][0]
            else:  # one full forward per difficulty, as KLab's predict_proba is called
                probs = torch.stack([net(x, beats, v[None])["onset_probs"][0, 0] for v in levels])
        end = time.perf_counter()
        times_net.append(end - mid)
        times_total.append(end - start)
    assert probs.shape == (5, x.shape[1])
    return {
        "path": path,
        "config": config_name,
        "frames": int(x.shape[1]),
        "network_s": round(min(times_net), 3),
        "total_s": round(min(times_total), 3),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=["paper", "small"])
    parser.add_argument("--child", nargs=2, metavar=("PATH", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_path(args.child[0], args.child[1], args.seconds, args.repeats)))
        return
    rows = []
    for config_name in args.configs:
        for path in PATHS:
            rows.append(
                run_child(
                    __file__,
                    path,
                    config_name,
                    "--seconds",
                    args.seconds,
                    "--repeats",
                    args.repeats,
                )
            )
    print(
        f"# onset inference, {args.seconds:g} s song, 5 difficulties, best of {args.repeats}; "
        f"{platform.processor() or platform.machine()}, 2 threads, torch {torch.__version__}, "
        f"{date.today()}"
    )
    print("| config | path | network s | total s (incl. log-mel) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['path']} | {r['network_s']} | {r['total_s']} | "
            f"{r['peak_rss_mib']} |"
        )
    for config_name in args.configs:
        ours, klab = (
            next(r for r in rows if r["config"] == config_name and r["path"] == p) for p in PATHS
        )
        print(
            f"{config_name}: ours {klab['network_s'] / ours['network_s']:.2f}× faster "
            f"(network), {klab['peak_rss_mib'] / ours['peak_rss_mib']:.2f}× less peak memory"
        )


if __name__ == "__main__":
    main()
