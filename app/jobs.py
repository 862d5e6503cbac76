"""Results that outlive a page reload: one folder per job, with a JSON sidecar of everything.

A browser session is an id kept in the browser's local storage; every job records it, so a
session's history is the jobs whose sidecar names it. Jobs are never looked up by a path the
client sends: only by an id we issued, checked against the session that asks.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from app.paths import JOBS_DIR
from export.folder import write_json_atomic

SIDECAR = "job.json"

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
_SESSION = re.compile(r"^[0-9a-f]{32}$")


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
        job = Job(folder, {"id": job_id, "session": session, "kind": kind,
                           "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                           "created_ns": time.time_ns(), "status": "running",
                           "params": params, "results": {}})  # fmt: skip
        job.save()
        return job

    def get(self, session: str, job_id: str) -> Job:
        check_session(session)
        if not isinstance(job_id, str) or not _ID.match(job_id):
            raise JobError("no such job")
        try:
            record = json.loads((self.root / job_id / SIDECAR).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise JobError(f"job {job_id} is not there any more") from e
        if record.get("session") != session:
            raise JobError("no such job")
        return Job(self.root / job_id, record)

    def history(self, session: str, kind: str | None = None) -> list[dict]:
        """This session's jobs, newest first."""
        check_session(session)
        out = []
        for sidecar in self.root.glob(f"*/{SIDECAR}"):
            try:
                record = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a job being written, or damaged: not history
            if record.get("session") == session and kind in (None, record.get("kind")):
                out.append(record)
        # Ids sort by the second only; jobs started within one second sort by their clock.
        return sorted(out, key=lambda r: (r.get("created_ns", 0), r["id"]), reverse=True)


def check_session(session: str) -> str:
    if not isinstance(session, str) or not _SESSION.match(session):
        raise JobError("this browser session has no id yet; reload the page")
    return session
