"""unCLIP text-to-image, one image: our pipeline vs diffusers' (deprecated) `UnCLIPPipeline` on
the same components, time and peak memory, in one run.

Models: `make-tiny-unclip` "tiny" (32-wide, 32 → 64 px) and "mid" (1/8 of Karlo v1's widths at
Karlo's depths, 64 → 256 px), random weights (speed does not depend on them). Steps 25/25/7 and
guidance 4/8 (Karlo's defaults), 2 threads. Time: the median of `--repeats` generations after a
warm-up, the two pipelines interleaved (order alternating) in one process over the same
components. Peak memory: a fresh process per pipeline that loads the components and makes one
image.

    .venv/bin/python bench/unclip_speed.py [--sizes tiny mid] [--steps 25,25,7] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import peak_rss_mib, print_table, run_child

PROMPT = "key art of a neon drum stage, rhythm game"


def generators(model: str, steps: list[int]) -> tuple[dict, float]:
    """Both pipelines over one set of loaded components: {"ours": fn, "diffusers": fn}."""
    import torch

    torch.set_num_threads(2)
    from diffusers.pipelines.deprecated import UnCLIPPipeline

    from unclip import Steps, UnCLIP

    start = time.perf_counter()
    ours = UnCLIP.load(model, device="cpu")
    pipe = UnCLIPPipeline(**ours.folder.components("text"))
    load_s = time.perf_counter() - start
    pipe.set_progress_bar_config(disable=True)
    return {
        "ours": lambda: ours.text_to_image(PROMPT, seed=0, steps=Steps(*steps)),
        "diffusers": lambda: pipe(
            PROMPT,
            prior_num_inference_steps=steps[0],
            decoder_num_inference_steps=steps[1],
            super_res_num_inference_steps=steps[2],
            output_type="np",
            generator=torch.Generator("cpu").manual_seed(0),
        ),
    }, load_s


def run_timing(model: str, steps: list[int], repeats: int) -> dict:
    """Median seconds per image of each pipeline after one warm-up run each, runs interleaved
    with the order alternating, so that drift in the machine's speed hits both alike."""
    fns, load_s = generators(model, steps)
    for fn in fns.values():
        fn()  # first-call costs (oneDNN kernels for each shape, allocator growth)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeats):
        for name, fn in sorted(fns.items(), reverse=bool(i % 2)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(t), 2) for name, t in times.items()} | {"load_s": load_s}


def run_memory(path: str, model: str, steps: list[int]) -> dict:
    """Peak RSS of a process that loads the components and makes one image with `path`."""
    fns, _ = generators(model, steps)
    fns[path]()
    return {"peak_rss_mib": peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "mid"])
    parser.add_argument("--steps", default="25,25,7")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = [int(x) for x in args.steps.split(",")]
    if args.child:
        path, model = args.child
        if path == "timing":
            print(json.dumps(run_timing(model, steps, args.repeats)))
        else:
            print(json.dumps(run_memory(path, model, steps)))
        return
    from unclip.tiny import make_tiny_unclip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            model = str(make_tiny_unclip(Path(tmp) / size, size=size))
            timing = _child("timing", model, args)
            for path in ("ours", "diffusers"):
                rows.append(
                    {
                        "size": size,
                        "path": path,
                        "seconds": timing[path],
                        **_child(path, model, args),
                    }
                )
                print(rows[-1], file=sys.stderr)
    title = (
        f"unCLIP, 1 image, steps {args.steps}, median of {args.repeats} interleaved runs; "
        f"{platform.machine()}, 2 threads, {date.today()}"
    )
    print_table(
        title,
        {
            "model": "size",
            "pipeline": "path",
            "s / image": "seconds",
            "peak RSS MiB": "peak_rss_mib",
        },
        rows,
    )


def _child(path: str, model: str, args) -> dict:
    return run_child(__file__, path, model, "--steps", args.steps, "--repeats", args.repeats)


if __name__ == "__main__":
    main()
