"""A batch job: its manifest (`OUT_DIR/batch.json`), the outputs, progress and the summary.

The manifest holds the kind, the source, the settings and each item's status (done or failed,
with the error and seconds). A rerun with the same settings skips what is done (and still on
disk) and retries what failed; other settings in the same folder are refused, so one folder
never mixes two runs. One bad item never stops the run. Outputs are written only here, each
atomically (a folder by rename, a file by replace), whichever runner made them.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.batch.tasks import Item, check_settings, list_items, make_worker
from export.atomic import write_atomic, write_folder, write_json_atomic
from export.checks import InvalidValue, parse_json

MANIFEST = "batch.json"
SAVE_EVERY_S = 2.0  # manifest writes are throttled; an unrecorded item is simply redone


class BatchError(InvalidValue):
    """The job cannot run (not one item's failure): wrong folder, settings, model."""


@dataclass
class Outcome:
    item: Item
    files: dict[str, bytes] | None  # None when it failed
    error: str | None
    seconds: float


@dataclass
class Batch:
    kind: str
    source: Path
    out_dir: Path
    settings: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    status: dict[str, dict] = field(default_factory=dict)  # item id → its manifest entry

    @classmethod
    def open(cls, kind: str, source: Path, out_dir: Path, settings: dict) -> Batch:
        """The job in OUT_DIR: new, or the one there with the same kind, source and settings."""
        settings = json.loads(json.dumps(settings))  # as the manifest will hold them
        try:
            check_settings(kind, settings)
        except InvalidValue as e:  # an option: named in the words of whoever shows it
            raise BatchError(e.template, *e.names, hint=e.hint) from None
        except ValueError as e:
            raise BatchError(str(e)) from None
        batch = cls(kind, Path(source).resolve(), Path(out_dir), settings)
        batch.items = list_items(kind, source)
        path = batch.out_dir / MANIFEST
        if path.is_file():
            try:
                old = parse_json(path.read_bytes(), str(path))
                if not isinstance(old, dict) or not isinstance(old.get("settings"), dict):
                    raise ValueError(f"{path}: not a batch manifest")
            except (OSError, ValueError) as e:
                raise BatchError(f"{e}; move it away to start over") from None
            mine = {"kind": kind, "source": str(batch.source), "settings": settings}
            changed = sorted(k for k in mine if old.get(k) != mine[k])
            if changed:
                detail = (
                    changed
                    if changed != ["settings"]
                    else sorted(k for k in settings if old["settings"].get(k) != settings[k])
                )
                raise BatchError(
                    f"{out_dir} holds a batch with another {', '.join(detail)}: "
                    "rerun with the same options, or use another -o"
                )
            batch.status = old.get("items", {})
        elif batch.out_dir.exists() and any(batch.out_dir.iterdir()):
            raise BatchError(f"{out_dir} is not empty and holds no {MANIFEST}: use a new folder")
        return batch

    def pending(self) -> list[Item]:
        return [item for item in self.items if not self.is_done(item)]

    def is_done(self, item: Item) -> bool:
        entry = self.status.get(item.id, {})
        return entry.get("status") == "done" and (self.out_dir / item.output).exists()

    def record(self, outcome: Outcome) -> None:
        entry = {
            "status": "done" if outcome.error is None else "failed",
            "output": outcome.item.output,
            "seconds": round(outcome.seconds, 3),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "attempts": self.attempts(outcome.item) + 1,
        }
        if outcome.error is not None:
            entry["error"] = outcome.error
        else:
            try:
                write_outputs(self.out_dir / outcome.item.output, outcome.files)
            except OSError as e:  # the disk, not the item: nothing more can be written
                raise BatchError(
                    f"cannot write {self.out_dir / outcome.item.output}: {e.strerror or e}"
                ) from e
        self.status[outcome.item.id] = entry

    def attempts(self, item: Item) -> int:
        return self.status.get(item.id, {}).get("attempts", 0)

    def save(self) -> None:
        write_json_atomic(
            self.out_dir / MANIFEST,
            {
                "format": 1,
                "kind": self.kind,
                "source": str(self.source),
                "settings": self.settings,
                "items": {i.id: self.status[i.id] for i in self.items if i.id in self.status},
            },
        )


def write_outputs(target: Path, files: dict[str, bytes]) -> None:
    """One item's files: `{"": data}` is the target file itself, else a folder of them."""
    if set(files) == {""}:
        write_atomic(target, files[""])
        return
    write_folder(target, files, replace=True)


def run_item(worker: Callable[[Item], dict[str, bytes]], item: Item) -> Outcome:
    """One item, never raising: its error is part of the outcome."""
    start = time.perf_counter()
    try:
        files = worker(item)
        return Outcome(item, files, None, time.perf_counter() - start)
    except (ValueError, OSError) as e:  # bad input: AudioError, ImageError, ... say it as it is
        error = f"{type(e).__name__}: {e}"
    except Exception as e:  # a bug or an exotic failure: still only this item's
        where = traceback.extract_tb(e.__traceback__)[-1]
        error = f"internal error {type(e).__name__}: {e} (in {where.name}, line {where.lineno})"
    return Outcome(item, None, error, time.perf_counter() - start)


def run_local(batch: Batch, items: list[Item]) -> Iterator[Outcome]:
    """In this process: one worker, its model loaded once."""
    worker = load_worker(batch.kind, batch.settings)
    for item in items:
        yield run_item(worker, item)


def load_worker(kind: str, settings: dict):
    try:
        return make_worker(kind, settings)
    except InvalidValue as e:  # an option: named in the words of whoever shows it
        raise BatchError(
            f"cannot start a {kind} worker: {e.template}", *e.names, hint=e.hint
        ) from e
    except (ValueError, OSError) as e:  # model folders: nothing can run
        raise BatchError(f"cannot start a {kind} worker: {e}") from e


def run_batch(
    batch: Batch,
    outcomes: Callable[[Batch, list[Item]], Iterator[Outcome]],
    report: Callable[[str], None] | None = None,
) -> dict:
    """Run what is left with a runner (`run_local` or a Ray one), record and report each item;
    returns the summary."""
    report = report or (lambda line: print(line, file=sys.stderr, flush=True))
    pending = batch.pending()
    skipped = len(batch.items) - len(pending)
    batch.out_dir.mkdir(parents=True, exist_ok=True)
    batch.save()
    report(f"{batch.kind}: {len(batch.items)} items, {skipped} already done, {len(pending)} to run")
    start = last_save = time.perf_counter()
    done = failed = 0
    try:
        for outcome in outcomes(batch, pending):
            batch.record(outcome)
            done, failed = done + (outcome.error is None), failed + (outcome.error is not None)
            elapsed = time.perf_counter() - start
            report(progress_line(done + failed, len(pending), elapsed, outcome))
            if time.perf_counter() - last_save > SAVE_EVERY_S:
                batch.save()
                last_save = time.perf_counter()
    finally:
        batch.save()
    elapsed = time.perf_counter() - start
    failures = {
        i.id: batch.status[i.id]["error"]
        for i in pending
        if batch.status.get(i.id, {}).get("status") == "failed"
    }
    return {
        "kind": batch.kind,
        "items": len(batch.items),
        "done": done,
        "skipped": skipped,
        "failed": failed,
        "seconds": round(elapsed, 2),
        "items_per_minute": round(60 * (done + failed) / elapsed, 2) if elapsed else None,
        "failures": failures,
        "manifest": str(batch.out_dir / MANIFEST),
    }


def progress_line(finished: int, total: int, elapsed_s: float, outcome: Outcome) -> str:
    """`[k/n] item: done in 3.1 s · 2.4/min · ETA 0:12:30`; the rate is wall-clock, so it counts
    every worker at once."""
    rate = finished / elapsed_s if elapsed_s > 0 else 0.0
    eta_s = (total - finished) / rate if rate else 0.0
    what = "done" if outcome.error is None else f"FAILED ({outcome.error})"
    eta = time.strftime("%H:%M:%S", time.gmtime(eta_s))
    return (
        f"[{finished}/{total}] {outcome.item.id}: {what} in {outcome.seconds:.1f} s · "
        f"{60 * rate:.1f}/min · ETA {eta}"
    )
