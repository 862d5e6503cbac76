"""Start-up is part of the job: `studio --help`, `studio chart --help` and `studio chart` on a
2-minute song (all five difficulties, .sm/.ssc/.osu/.json and the audio copy), each as a whole
process the way a user runs it, beside the same chart made warm in one process (models loaded,
imports done), on PyTorch and on onnxruntime. Whole-process rows: the median of the runs and the
first run (the first also pays for a cold file cache). The onnxruntime row checks that PyTorch
was never imported. `--compare TREE` times the same commands in another checkout too (e.g. a
`git worktree` of an older commit), in the same run.

    .venv/bin/python bench/startup.py [--seconds 120] [--runs 5] [--compare TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench import print_table, run_child  # noqa: E402
from bench.chart_speed import synthetic_song  # noqa: E402

STUDIO = [sys.executable, "-m", "app.cli"]


def whole_process(args: list[str], runs: int, tree: Path = REPO) -> dict:
    """`studio ARGS` in a fresh process `runs` times, from the checkout `tree`."""
    main = "import sys; from app.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            command = [a.replace("{out}", str(Path(tmp) / "out")) for a in args]
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", main, *command],
                check=True,
                capture_output=True,
                cwd=tree,
                env=env,
            )
            times.append(time.perf_counter() - start)
    return {"median": round(statistics.median(times), 2), "first": round(times[0], 2)}


def warm(song: str, backend: str, folder: str | None, runs: int) -> dict:
    """In this (child) process: load once, then time file → files."""
    from genelive.generator import ChartGenerator

    generator = ChartGenerator.load(folder, backend=backend)
    generator(song, seed=0).save(Path(tempfile.mkdtemp()) / "warm-up")
    times = []
    for i in range(runs):
        start = time.perf_counter()
        generator(song, seed=0).save(Path(tempfile.mkdtemp()) / f"out{i}")
        times.append(time.perf_counter() - start)
    return {"median": round(statistics.median(times), 2), "torch": "torch" in sys.modules}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout to time")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        song, backend, folder = args.child
        print(json.dumps(warm(song, backend, None if folder == "-" else folder, args.runs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "bench song.ogg"
        synthetic_song(song, args.seconds)
        export = Path(tmp) / "export"
        run = {"check": True, "capture_output": True, "cwd": REPO}
        subprocess.run([*STUDIO, "export", "chart", "-o", str(export)], **run)
        chart = ["chart", str(song), "-o", "{out}"]
        onnx = ["--backend", "onnx", "--model", str(export)]
        probe = (  # the onnxruntime path, checked to import no PyTorch at all
            "import sys; from app.cli import main; main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules"
        )
        subprocess.run(
            [sys.executable, "-c", probe, *chart[:2], "-o", f"{tmp}/probe", *onnx], **run
        )
        cases = [
            ("studio --help", "", ["--help"]),
            ("studio chart --help", "", ["chart", "--help"]),
            (f"studio chart, {args.seconds:g} s song", "torch", chart),
            (f"studio chart, {args.seconds:g} s song", "onnx", [*chart, *onnx]),
        ]
        rows = []
        for what, backend, command in cases:
            row = {"what": what, "backend": backend, **whole_process(command, args.runs)}
            row["warm"] = ""
            if backend:
                folder = str(export) if backend == "onnx" else "-"
                row["warm"] = run_child(__file__, str(song), backend, folder, "--runs", args.runs)[
                    "median"
                ]
            row["other"] = (
                whole_process(command, args.runs, args.compare)["median"] if args.compare else ""
            )
            rows.append(row)
    columns = {
        "command": "what",
        "backend": "backend",
        "whole process, median s": "median",
        "whole process, first run s": "first",
        "warm in-process s": "warm",
    }
    if args.compare:
        columns[f"whole process, median s, {args.compare.name}"] = "other"
    print_table(
        f"start-up, whole process vs warm in one process ({platform.node()}, "
        f"{platform.processor() or platform.machine()}, {date.today()}; median of {args.runs})",
        columns,
        rows,
    )


if __name__ == "__main__":
    main()
