"""onnxruntime vs PyTorch on CPU, per pipeline, time and peak memory in one run.

StyTr² at 512² (content and style), full-size network, random weights (speed does not depend on
them), exported with `studio export stytr2`. Each row runs in a fresh process (its own peak RSS),
2 threads; time is the median of `--repeats` runs after a warm-up.

    .venv/bin/python bench/onnx_speed.py [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(backend: str, folder: str, size: int, repeats: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(2)
    from stytr2 import StyleTransfer

    transfer = StyleTransfer.load(folder, backend=backend)
    if backend == "onnx":
        for session in transfer.nets.sessions.values():
            assert session.session.get_providers() == ["CPUExecutionProvider"]
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    transfer(content, style)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        transfer(content, style)
        times.append(time.perf_counter() - start)
    peak_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"backend": backend, "seconds": round(statistics.median(times), 2),
            "peak_rss_mib": peak_mib}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], args.child[1], args.size, args.repeats)))
        return
    import torch

    from app.cli import main as studio
    from export.folder import save_model_folder
    from stytr2.model import StyTr2Config, StyTr2Net

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = save_model_folder(Path(tmp) / "m", StyTr2Config(), StyTr2Net(StyTr2Config()))
        exported = Path(tmp) / "onnx"
        assert studio(["export", "stytr2", "--model", str(model), "-o", str(exported)]) == 0
        for backend, folder in (("torch", model), ("onnx", exported)):
            cmd = [sys.executable, __file__, "--child", backend, str(folder), "--size",
                   str(args.size), "--repeats", str(args.repeats)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    print(f"# StyTr² {args.size}², median of {args.repeats}; {platform.machine()}, 2 threads, "
          f"{date.today()}")  # fmt: skip
    print("| pipeline | backend | s | peak RSS MiB |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| StyTr² {args.size}² | {r['backend']} | {r['seconds']} | {r['peak_rss_mib']} |")


if __name__ == "__main__":
    main()
