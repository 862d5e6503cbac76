"""What every service shares: its rows of a session's history, and the seed a job uses."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from app.jobs import JobStore
from export.checks import check_seed

log = logging.getLogger(__name__)


def history_rows(store: JobStore, session: str, kind: str, row: Callable[[dict], list]) -> list:
    """One table row per job of this session, made by `row(record)`; a record that cannot make
    one (damaged, or from an older version) is left out, never the whole history."""
    rows = []
    for record in store.history(session, kind):
        try:
            rows.append(row(record))
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("job %s: its record does not make a history row", record["id"])
    return rows


def job_seed(seed, random_seed: bool) -> int:
    """The seed a job uses: the given one, checked, or a random one."""
    if random_seed or seed is None:
        return secrets.randbelow(2**31)
    return check_seed(seed)
