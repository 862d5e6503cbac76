"""The same batch jobs on Ray (`pip install genelive-studio[ray]`).

Ray Data streams the items through a pool of actors: one per worker, or one per GPU where the
cluster has GPUs. Each actor loads its model once and returns every item's files, packed as an
uncompressed zip, to the driver, which writes them exactly as the local runner does: same
bytes, one writer, atomic outputs, one manifest. Inputs are read by the actors from the paths
the driver lists, so on a cluster SONGS_DIR (or CONTENT_DIR, and the model folders) must be
mounted at the same path on every node (docs/batch.md).

Token authentication is on: RAY_AUTH_MODE=token is set before Ray starts (a cluster's nodes need
it and the same token too: `ray get-auth-token --generate`, then RAY_AUTH_TOKEN or
~/.ray/auth_token on every node and here).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from app.batch.runner import Batch, BatchError, Outcome, load_worker, run_item
from app.batch.tasks import Item
from export.checks import check_number

PACKAGES_ROOT = Path(__file__).resolve().parents[2]  # holds app/, genelive/, stytr2/, ...
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same files, the same payload
WHOLE = "<item>"  # the zip name of `{"": data}`: an item whose output is one file


Runner = Callable[[Batch, list[Item]], Iterator[Outcome]]


def ray_runner(
    address: str | None = None, workers: int | None = None, cpus_per_worker: float = 1.0
) -> Runner:
    """A runner for `run_batch`: a local Ray instance (address None), or the cluster at
    `address` ("auto", "ray://host:10001", "host:6379")."""
    if workers is not None:
        check_number(workers, "workers", 1, 100_000, integer=True)

    def run(batch: Batch, items: list[Item]) -> Iterator[Outcome]:
        if not items:
            return
        ray = connect(address)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = ray.cluster_resources().get("CPU", 1)
        size = workers or (gpus or max(1, int(cpus // cpus_per_worker)))
        size = min(size, len(items))
        resources = {"num_gpus": 1} if gpus else {"num_cpus": cpus_per_worker}
        rows = [{"id": i.id, "source": i.source, "output": i.output} for i in items]
        by_id = {i.id: i for i in items}
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        with warnings.catch_warnings():
            # `ray_remote_args_fn` is deprecated from Ray 2.60 (removed in 2.64; we pin 2.60) and
            # is the one way left to set max_restarts: a worker that dies fails the run (a
            # rerun resumes from the manifest) rather than Ray restarting an actor whose
            # constructor arguments it may have dropped (it logs an error saying so otherwise).
            warnings.simplefilter("ignore", DeprecationWarning)
            results = dataset.map_batches(
                BatchActor,
                fn_constructor_kwargs={"kind": batch.kind, "settings": batch.settings},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=size),
                **resources,
                ray_remote_args_fn=lambda: {"max_restarts": 0},
            )
        try:
            for row in results.iter_rows():
                files = None if row["error"] else unpack(row["payload"])
                yield Outcome(by_id[row["id"]], files, row["error"] or None, row["seconds"])
        except Exception as e:  # an actor that could not start (its model), a lost cluster
            raise BatchError(f"the Ray job failed: {_root_cause(e)}") from e

    return run


def connect(address: str | None):
    """Ray, initialised once per process with token authentication and quiet logs."""
    if "ray" in sys.modules and os.environ.get("RAY_AUTH_MODE") != "token":
        raise BatchError(
            "Ray was imported before RAY_AUTH_MODE=token was set (Ray reads it on "
            "import): set RAY_AUTH_MODE=token in the environment first"
        )
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if os.environ["RAY_AUTH_MODE"] != "token":
        mode = os.environ["RAY_AUTH_MODE"]
        raise BatchError(
            f"RAY_AUTH_MODE is {mode!r}: batch jobs run Ray with token "
            "authentication only (unset it, or set it to token)"
        )
    try:
        import ray
        import ray.data
    except ImportError:
        raise BatchError("Ray is not installed: pip install 'genelive-studio[ray]'") from None
    if not ray.is_initialized():
        options = {"logging_level": logging.WARNING, "log_to_driver": False}
        # Ray puts the driver's current directory first on its workers' sys.path, where a
        # folder named like one of our packages (a model folder called `stytr2`, say) shadows
        # the package. Start it from the folder that holds our packages instead.
        here = os.getcwd()
        os.chdir(PACKAGES_ROOT)
        try:
            if address is None:
                ray.init(include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise BatchError(f"cannot start or join Ray ({address or 'local'}): {e}") from None
        finally:
            os.chdir(here)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-operator chatter; ours is enough
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # outcomes as they finish
    return ray


class BatchActor:
    """One worker on the cluster: the model loaded once, one item per call."""

    def __init__(self, kind: str, settings: dict):
        self.worker = load_worker(kind, settings)

    def __call__(self, rows: dict) -> dict:
        item = Item(str(rows["id"][0]), str(rows["source"][0]), str(rows["output"][0]))
        outcome = run_item(self.worker, item)
        return {
            "id": [item.id],
            "error": [outcome.error or ""],
            "seconds": [outcome.seconds],
            "payload": [pack(outcome.files or {})],
        }


def pack(files: dict[str, bytes]) -> bytes:
    """Files as one stored (uncompressed) zip: one binary value per item in Ray's blocks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name or WHOLE, ZIP_EPOCH), data)
    return buffer.getvalue()


def unpack(payload: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {("" if n == WHOLE else n): archive.read(n) for n in archive.namelist()}


def _root_cause(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    for line in reversed(text):  # Ray wraps the actor's exception; its last line says what
        if "Error" in line and ":" in line:
            return line.strip()
    return text[-1] if text else type(error).__name__
