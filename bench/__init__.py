"""Benchmarks (numbers in docs/benchmarks.md). Each measured row runs in a fresh process, so that
its peak RSS is its own: the script calls itself with `--child ...` and reads back one JSON line."""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def run_child(script: str, *args: str) -> dict:
    """`python SCRIPT --child ARGS...` → the JSON object on the last line of its stdout."""
    cmd = [sys.executable, script, "--child", *map(str, args)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peak_rss_mib() -> int:
    """This process's peak resident memory so far, MiB.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child
    started by a big parent reports at least the parent's size (it made two unCLIP rows read
    the same 2881 MiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def print_table(title: str, columns: dict[str, str], rows: list[dict]) -> None:
    """A markdown table for docs/benchmarks.md: `columns` maps each header to a row key."""
    print(f"# {title}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key in columns.values()) + " |")
