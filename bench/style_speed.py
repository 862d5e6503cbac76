"""StyTr² inference time and peak memory per size: ours vs the official computation path.

"ours": `StyleTransfer` (SDPA attention; tiles above 1024 px). "reference": the same weights
run as the official code computes them — `nn.MultiheadAttention` (attention matrices
materialised), whole image at once. Each row runs in a fresh process (peak RSS is its own),
2 threads, random weights (speed does not depend on them), content and style of equal size.

    .venv/bin/python bench/style_speed.py [--sizes 256 512 1024 2048] [--reference-up-to 512]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import peak_rss_mib, print_table, run_child


def reference_attention(self, q, k, v):
    """nn.MultiheadAttention's math path: softmax(QKᵀ/√d)V with the matrix materialised."""
    wq, wk, wv = self.in_proj_weight.chunk(3)
    bq, bk, bv = self.in_proj_bias.chunk(3)
    q, k, v = F.linear(q, wq, bq), F.linear(k, wk, bk), F.linear(v, wv, bv)
    b, lq, d = q.shape
    hd = d // self.heads
    split = lambda x: x.view(b, -1, self.heads, hd).transpose(1, 2)  # noqa: E731
    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / hd**0.5, dim=-1)
    return self.out_proj((weights @ split(v)).transpose(1, 2).reshape(b, lq, d))


def run(path: str, size: int) -> dict:
    torch.set_num_threads(2)
    from export.weights import save_model_folder
    from stytr2 import StyleTransfer
    from stytr2.model import Attention, StyTr2Config, StyTr2Net

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        save_model_folder(Path(tmp) / "m", StyTr2Config(), StyTr2Net(StyTr2Config()))
        transfer = StyleTransfer.load(Path(tmp) / "m")
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    if path == "reference":
        Attention.forward = reference_attention
    start = time.perf_counter()
    transfer(content, style, tile_px=0 if path == "reference" else None)
    seconds = time.perf_counter() - start
    return {
        "path": path,
        "size": size,
        "seconds": round(seconds, 2),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--reference-up-to", type=int, default=512)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], int(args.child[1]))))
        return
    rows = []
    for size in args.sizes:
        for path in ("ours", "reference"):
            if path == "reference" and size > args.reference_up_to:
                continue
            rows.append(run_child(__file__, path, size))
            print(rows[-1], file=sys.stderr)
    for r in rows:
        r["size"] = f"{r['size']}²"
    print_table(
        f"StyTr², content and style N×N; {platform.machine()}, 2 threads, {date.today()}",
        {"size": "size", "path": "path", "seconds": "seconds", "peak RSS MiB": "peak_rss_mib"},
        rows,
    )


if __name__ == "__main__":
    main()
