"""Load test of the web app: N concurrent gradio_client users, each charting M songs.

The app runs as `studio app` in its own process (as in production: one chart job at a time,
the rest queued); each user is a thread with its own Client and session. Reports throughput,
p50/p95 latency per song (submit → files ready), the server's peak RSS, and any request lost or
failed. Songs are synthetic (drums and chords), all five difficulties, all formats, previews.

    .venv/bin/python bench/app_load.py [--users 4] [--songs 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chart_speed import synthetic_song


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout_s: float = 120.0) -> None:
    import urllib.request

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not come up at {url}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def user(url: str, songs: list[Path], latencies: list, failures: list) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    session = secrets.token_hex(16)
    for song in songs:
        start = time.perf_counter()
        try:
            out = client.predict(
                session,
                handle_file(str(song)),
                None,
                None,
                None,
                ["Beginner", "Easy", "Medium", "Hard", "Challenge"],
                0,
                0,
                0,
                0,
                0,
                0,
                False,
                ["sm", "ssc", "osu", "json"],
                api_name="/generate_charts",
            )
            if len(out[5]["data"]) != 5:
                raise RuntimeError(f"{song.name}: {len(out[5]['data'])} charts")
            latencies.append(time.perf_counter() - start)
        except Exception as e:  # counted, reported: a load test must not stop at the first
            failures.append(f"{song.name}: {e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--songs", type=int, default=3, help="songs per user")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each song")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        songs = []
        for i in range(args.users * args.songs):
            path = tmp / f"song{i:02d}.ogg"
            synthetic_song(path, args.seconds, bpm=120.0 + 4 * i)
            songs.append(path)
        port = free_port()
        studio = Path(sys.executable).parent / "studio"
        server = subprocess.Popen(
            [str(studio), "app", "--port", str(port), "--jobs-dir", str(tmp / "jobs")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for(url)
            latencies: list[float] = []
            failures: list[str] = []
            threads = [
                threading.Thread(
                    target=user, args=(url, songs[u :: args.users], latencies, failures)
                )
                for u in range(args.users)
            ]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall_s = time.perf_counter() - start
            rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    n = len(songs)
    lat = np.array(latencies) if latencies else np.array([np.nan])
    print(
        f"# {args.users} users × {args.songs} songs of {args.seconds:g} s, all difficulties and "
        f"formats; {platform.processor() or platform.machine()}, {date.today()}"
    )
    print("| songs | done | failed | wall s | songs/min | p50 s | p95 s | server peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {n} | {len(latencies)} | {len(failures)} | {wall_s:.1f} | "
        f"{60 * len(latencies) / wall_s:.1f} | {np.percentile(lat, 50):.1f} | "
        f"{np.percentile(lat, 95):.1f} | {rss:.0f} |"
    )
    for f in failures:
        print("failed:", f)
    if failures or len(latencies) != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
