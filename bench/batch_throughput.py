"""`studio batch charts` throughput: the local runner vs Ray on this machine (2 workers), same run.

The first `--songs` corpus songs (whole songs, their own audio files, copied into one folder),
every difficulty in four formats, the bundled models. Each row runs the real command in a fresh
process. songs/min is the batch's own clock (from before the workers start, so Ray's start-up
is in it, to the last item); "s per song" is the mean time one worker spends on one song, which
sets what N workers on a cluster do. The outputs of the two runs are compared byte for byte.

    .venv/bin/python bench/batch_throughput.py [--songs 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import print_table

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "charts"


def collect_songs(n: int, folder: Path) -> float:
    """Copy n corpus songs' audio into folder; their total length in minutes."""
    from genelive.audio import probe_audio
    from genelive.training.corpus import scan_charts

    folder.mkdir(parents=True)
    minutes = 0.0
    for i, song in enumerate(scan_charts(CORPUS)[:n]):
        shutil.copy(song.audio_path, folder / f"{i:02d}-{Path(song.audio_path).name}")
        minutes += probe_audio(song.audio_path).duration_s / 60
    return minutes


def run(songs: Path, out: Path, extra: list[str]) -> dict:
    studio = Path(sys.executable).parent / "studio"
    cmd = [str(studio), "batch", "charts", str(songs), "-o", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    items = json.loads((out / "batch.json").read_text())["items"].values()
    per_song = sum(i["seconds"] for i in items) / len(items)  # one worker's time per song
    return {
        "wall_s": round(wall, 1),
        "run_s": summary["seconds"],
        "per_min": summary["items_per_minute"],
        "done": summary["done"],
        "song_s": round(per_song, 2),
    }


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "batch.json"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        minutes = collect_songs(args.songs, tmp / "songs")
        cases = {
            "local (1 worker, 2 threads)": [],
            "Ray local (2 workers × 1 CPU)": ["--ray", "--workers", "2"],
        }
        outs = []
        for name, extra in cases.items():
            outs.append(tmp / f"out{len(outs)}")
            measured = run(tmp / "songs", outs[-1], extra)
            rows.append({"runner": name, "songs": measured["done"], **measured})
        same = tree(outs[0]) == tree(outs[1])
    print(
        f"# {args.songs} songs, {minutes:.1f} min of audio; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {date.today()}; outputs identical: {same}"
    )
    columns = {
        "runner": "runner",
        "songs": "songs",
        "s per song (in a worker)": "song_s",
        "songs/min (run)": "per_min",
        "run s": "run_s",
        "wall s (process)": "wall_s",
    }
    print_table("studio batch charts throughput", columns, rows)


if __name__ == "__main__":
    main()
