"""onnxruntime vs PyTorch on CPU for each exported pipeline, time and peak memory in one run.

- charts: a 2-minute synthetic song to five charts in four formats, the bundled models;
- StyTr² at 512² (content and style), full-size network, random weights;
- unCLIP text to image (steps 25/25/7), the `make-tiny-unclip` "tiny" and "mid" models.
Random weights (speed does not depend on them). Each row runs in a fresh process (its own peak
RSS), 2 threads, onnxruntime on the provider of `--device` (checked: CPU, or CUDA with
IOBinding); time is the median of `--repeats` runs after a warm-up. `--fp16` exports fp16
graphs (a GPU feature: onnxruntime's CPU fp16 kernels are slow). bench/gpu_check.sh runs it on
a GPU.

    .venv/bin/python bench/onnx_speed.py [--repeats 3] [--only chart stytr2 unclip-tiny unclip-mid]
                                         [--arena default|on|off] [--device cpu|cuda] [--fp16]
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

CASES = ("chart", "stytr2", "unclip-tiny", "unclip-mid")


def make_task(case: str, backend: str, folder: str, device: str):
    import numpy as np
    from PIL import Image

    if case == "chart":
        from bench.chart_speed import synthetic_song
        from genelive.generator import ChartGenerator

        gen = ChartGenerator.load(
            None if folder == "bundled" else folder, backend=backend, device=device
        )
        sessions = [m.backend for m in (gen.onset_model, gen.step_model) if backend == "onnx"]
        work = Path(tempfile.mkdtemp())
        synthetic_song(work / "song.ogg", 120.0)
        return sessions, lambda: gen(work / "song.ogg", seed=0).save(Path(tempfile.mkdtemp()))
    if case == "stytr2":
        from stytr2 import StyleTransfer

        transfer = StyleTransfer.load(folder, backend=backend, device=device)
        sessions = transfer.nets.backends.values() if backend == "onnx" else []
        rng = np.random.default_rng(0)
        content = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
        style = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
        return sessions, lambda: transfer(content, style)
    from unclip import UnCLIP

    pipe = UnCLIP.load(folder, backend=backend, device=device)
    sessions = getattr(pipe.nets, "sessions", {}).values()
    return sessions, lambda: pipe.text_to_image("key art of a neon drum stage", seed=0)


def run(case: str, backend: str, folder: str, repeats: int, arena: str, device: str) -> dict:
    import torch

    from export.backend import OnnxBackend

    torch.set_num_threads(2)
    if arena != "default":  # this benchmark process only: every session gets the same arena
        setting = arena == "on"
        init = OnnxBackend.__init__
        OnnxBackend.__init__ = lambda self, *a, **k: init(
            self, *a, **{**k, "memory_arena": setting}
        )
    sessions, task = make_task(case, backend, folder, device)
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    for session in sessions:
        assert session.session.get_providers()[0] == provider
        assert session.io_binding == (device == "cuda")
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    task()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        sync()
        times.append(time.perf_counter() - start)
    return {"seconds": round(statistics.median(times), 2), "peak_rss_mib": peak_rss_mib()}


def models(case: str, tmp: Path, precision: str) -> tuple[Path, Path]:
    """(PyTorch folder, exported folder) for a case."""
    import torch

    from export.onnx import export_graphs

    report = lambda line: print(line, file=sys.stderr)  # noqa: E731
    if case == "chart":
        from genelive.graphs import graph_specs as chart_specs

        export_graphs(chart_specs(), tmp / f"{case}-onnx", report=report, precision=precision)
        return Path("bundled"), tmp / f"{case}-onnx"
    if case == "stytr2":
        from export.weights import save_model_folder
        from stytr2.backends import graph_specs
        from stytr2.model import StyTr2Config, StyTr2Net

        torch.manual_seed(0)
        model = save_model_folder(tmp / case, StyTr2Config(), StyTr2Net(StyTr2Config()))
        export_graphs(graph_specs(model), tmp / f"{case}-onnx", report=report, precision=precision)
        return model, tmp / f"{case}-onnx"
    from unclip.components import KarloFolder
    from unclip.nets import graph_specs
    from unclip.tiny import make_tiny_unclip

    model = make_tiny_unclip(tmp / case, size=case.removeprefix("unclip-"))
    export_graphs(
        graph_specs(KarloFolder(model)), tmp / f"{case}-onnx", report=report, precision=precision
    )
    return model, tmp / f"{case}-onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument(
        "--arena",
        choices=["default", "on", "off"],
        default="default",
        help="onnxruntime's CPU memory arena, or the pipeline's",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--fp16", action="store_true", help="export fp16 graphs")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, args.repeats, args.arena, args.device)))
        return
    precision = "fp16" if args.fp16 else "fp32"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.only:
            for backend, folder in zip(
                ("torch", "onnx"), models(case, Path(tmp), precision), strict=True
            ):
                measured = run_child(
                    __file__,
                    case,
                    backend,
                    folder,
                    "--repeats",
                    args.repeats,
                    "--arena",
                    args.arena,
                    "--device",
                    args.device,
                )
                rows.append({"case": case, "backend": backend, **measured})
                print(rows[-1], file=sys.stderr)
    print_table(
        f"median of {args.repeats}; {platform.machine()}, 2 threads, {args.device}, ONNX "
        f"{precision}, {date.today()}",
        {"pipeline": "case", "backend": "backend", "s": "seconds", "peak RSS MiB": "peak_rss_mib"},
        rows,
    )


if __name__ == "__main__":
    main()
