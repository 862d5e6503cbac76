"""Results that outlive a page reload: one folder per job, with a JSON sidecar of everything.

A browser session is an id kept in the browser's local storage; every job records it, so a
session's history is the jobs whose sidecar names it. Jobs are never looked up by a path the
client sends: only by an id we issued, checked against the session that asks. Nothing in the
jobs folder is served as it is (app/web/files.py hands out copies).

A job records the process that runs it. When the app starts, `recover()` marks the jobs whose
process is gone while they still say "running" as interrupted, removes what they had written,
and removes the temporary files of unfinished writes from every job.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from app.paths import JOBS_DIR
from export.atomic import write_json_atomic
from export.checks import parse_json

log = logging.getLogger(__name__)

SIDECAR = "job.json"

_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
_SESSION = re.compile(r"[0-9a-f]{32}")
INTERRUPTED = "the app stopped while this job ran; run it again"
_RECORD_SHAPE = {
    "id": str,
    "session": str,
    "kind": str,
    "created": str,
    "created_ns": int,
    "status": str,
    "params": dict,
    "results": dict,
}


class JobError(ValueError):
    """A job that does not exist for this session."""


def new_session_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Job:
    folder: Path
    record: dict

    @property
    def id(self) -> str:
        return self.record["id"]

    def save(self) -> None:
        write_json_atomic(self.folder / SIDECAR, self.record)


class JobStore:
    def __init__(self, root: Path = JOBS_DIR):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def new(self, session: str, kind: str, params: dict) -> Job:
        check_session(session)
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(4)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        record = {
            "id": job_id,
            "session": session,
            "kind": kind,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "created_ns": time.time_ns(),
            "status": "running",
            "process": _this_process(),
            "params": params,
            "results": {},
        }
        job = Job(folder, record)
        job.save()
        return job

    def get(self, session: str, job_id: str) -> Job:
        check_session(session)
        if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
            raise JobError("no such job")
        record = _read_record(self.root / job_id / SIDECAR)
        if record is None:
            raise JobError(f"job {job_id} is not there any more")
        if record.get("session") != session:
            raise JobError("no such job")
        return Job(self.root / job_id, record)

    def history(self, session: str, kind: str | None = None) -> list[dict]:
        """This session's jobs, newest first."""
        check_session(session)
        out = []
        for sidecar in self.root.glob(f"*/{SIDECAR}"):
            record = _read_record(sidecar)  # None: being written, or damaged: not history
            if record and record.get("session") == session and kind in (None, record["kind"]):
                out.append(record)
        # Ids sort by the second only; jobs started within one second sort by their clock.
        return sorted(out, key=lambda r: (r["created_ns"], r["id"]), reverse=True)

    def recover(self) -> list[str]:
        """At start-up: jobs left "running" by a process that is gone become "interrupted"
        and lose their partial outputs; unfinished writes (`.*.tmp`) go from every job.
        Returns the ids of the jobs marked."""
        marked = []
        for folder in sorted(p for p in self.root.iterdir() if _ID.fullmatch(p.name)):
            for leftover in folder.glob(".*.tmp"):
                _remove(leftover)
            record = _read_record(folder / SIDECAR)
            if record is None or record["status"] != "running":
                continue
            if _process_alive(record.get("process")):
                continue  # another app on this jobs folder is still working on it
            for output in folder.iterdir():
                if output.name != SIDECAR:
                    _remove(output)
            record.update(status="interrupted", error=INTERRUPTED, results={})
            Job(folder, record).save()
            marked.append(record["id"])
        if marked:
            log.warning("marked %d unfinished job(s) interrupted: %s", len(marked), marked)
        return marked


def check_session(session: str) -> str:
    if not isinstance(session, str) or not _SESSION.fullmatch(session):
        raise JobError("this browser session has no id yet; reload the page")
    return session


def _read_record(path: Path) -> dict | None:
    """A job's sidecar, or None when it is unreadable or not the shape we write (one damaged
    record must never break a history)."""
    try:
        record = parse_json(path.read_bytes(), str(path))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if any(not isinstance(record.get(key), kind) for key, kind in _RECORD_SHAPE.items()):
        return None
    return record


def _this_process() -> dict:
    return {"pid": os.getpid(), "started": _start_ticks(os.getpid())}


def _start_ticks(pid: int) -> int | None:
    """When a process started (Linux: clock ticks after boot), so that a reused pid is not
    taken for the process that made a job."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _process_alive(process: dict | None) -> bool:
    if not isinstance(process, dict) or not isinstance(process.get("pid"), int):
        return False
    pid = process["pid"]
    if pid == os.getpid():
        return False  # recover() runs at start-up: nothing of ours is running yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    return process.get("started") in (None, _start_ticks(pid))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
