"""unCLIP text-to-image, one image: our pipeline vs diffusers' (deprecated) `UnCLIPPipeline` on
the same components, time and peak memory, in one run.

Models: `make-tiny-unclip` "tiny" (32-wide, 32 → 64 px) and "mid" (1/8 of Karlo v1's widths at
Karlo's depths, 64 → 256 px), random weights (speed does not depend on them). Steps 25/25/7 and
guidance 4/8 (Karlo's defaults). Each row runs in a fresh process (its own peak RSS), 2 threads;
the time is the median of `--repeats` generations after loading (loading is reported apart).

    .venv/bin/python bench/unclip_speed.py [--sizes tiny mid] [--steps 25,25,7] [--repeats 3]
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

PROMPT = "key art of a neon drum stage, rhythm game"


def run(path: str, model: str, steps: list[int], repeats: int) -> dict:
    import torch

    torch.set_num_threads(2)
    from unclip import Steps, UnCLIP

    start = time.perf_counter()
    ours = UnCLIP.load(model, device="cpu")
    parts = ours.folder.components("text")
    load_s = time.perf_counter() - start
    if path == "ours":
        generate = lambda: ours.text_to_image(PROMPT, seed=0, steps=Steps(*steps))  # noqa: E731
    else:
        from diffusers.pipelines.deprecated import UnCLIPPipeline

        pipe = UnCLIPPipeline(**parts)
        pipe.set_progress_bar_config(disable=True)
        generate = lambda: pipe(PROMPT, prior_num_inference_steps=steps[0],  # noqa: E731
                                decoder_num_inference_steps=steps[1],
                                super_res_num_inference_steps=steps[2], output_type="np",
                                generator=torch.Generator("cpu").manual_seed(0))  # fmt: skip
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"path": path, "seconds": round(seconds, 2), "load_s": round(load_s, 1),
            "peak_rss_mib": peak_mib}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "mid"])
    parser.add_argument("--steps", default="25,25,7")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = [int(x) for x in args.steps.split(",")]
    if args.child:
        print(json.dumps(run(args.child[0], args.child[1], steps, args.repeats)))
        return
    from unclip.tiny import make_tiny_unclip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            model = make_tiny_unclip(Path(tmp) / size, size=size)
            for path in ("ours", "diffusers"):
                cmd = [sys.executable, __file__, "--child", path, str(model), "--steps", args.steps,
                       "--repeats", str(args.repeats)]  # fmt: skip
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append({"size": size, **json.loads(out.strip().splitlines()[-1])})
                print(rows[-1], file=sys.stderr)
    print(f"# unCLIP, 1 image, steps {args.steps}, median of {args.repeats}; "
          f"{platform.machine()}, 2 threads, {date.today()}")  # fmt: skip
    print("| model | pipeline | s / image | load s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['path']} | {r['seconds']} | {r['load_s']} | {r['peak_rss_mib']} |"
        )


if __name__ == "__main__":
    main()
