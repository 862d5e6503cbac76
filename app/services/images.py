"""Images for the web app: unCLIP from text, variations of an upload, interpolation strips; each
result a job folder of PNGs with their parameters, cancellable between sampling steps."""

from __future__ import annotations

import threading
from pathlib import Path

from app.jobs import JobStore
from app.paths import UNCLIP_DIR
from app.runtime import quiet_model_loading
from app.services.history import history_rows, job_seed
from export.checks import check_number
from export.folder import ModelFolderError
from export.manifest import backend_for
from unclip import Cancelled, Guidance, Steps, UnCLIP, UnCLIPModelError
from unclip.components import WHERE_TO_GET
from unclip.settings import MAX_FRAMES, MAX_IMAGES, check_prompt, check_settings

HISTORY_HEADERS = ["job", "created", "task", "what", "seeds", "status"]
TEST_MODEL_NOTE = "TEST MODEL (random weights): these images are noise, not results"


class ImageService:
    def __init__(self, model_dir: Path | None, store: JobStore):
        self.store, self.folder, self.pipe, self.problem = store, model_dir, None, None
        self._cancel: dict[str, threading.Event] = {}
        if model_dir is not None and Path(model_dir).exists():
            try:
                quiet_model_loading()
                self.pipe = UnCLIP.load(model_dir, backend=backend_for(model_dir))
            except (UnCLIPModelError, ModelFolderError) as e:
                self.problem = str(e)

    def status(self) -> str:
        if self.pipe is None:
            why = f" ({self.problem})" if self.problem else ""
            return (
                f"**No unCLIP model loaded{why}.** {WHERE_TO_GET} Then restart the app with "
                f"`--unclip FOLDER` (default `{UNCLIP_DIR}`)."
            )
        tasks = {"text": "text to image", "image": "variations"}
        can = ", ".join(tasks[t] for t in self.pipe.folder.tasks())
        note = f"\n\n**{TEST_MODEL_NOTE}.**" if self.pipe.is_tiny_random else ""
        return f"unCLIP from `{self.folder}` ({can}).{note}"

    def cancel(self, session: str) -> None:
        if session in self._cancel:
            self._cancel[session].set()

    def run(self, session: str, task: str, inputs: dict, settings: dict, progress=None):
        """One request → (job, [(png path, caption)], notices)."""
        if self.pipe is None:
            raise UnCLIPModelError(f"no unCLIP model is loaded. {WHERE_TO_GET}")
        steps, guidance = _stage_settings(settings)
        seed = job_seed(settings["seed"], settings["random_seed"])
        inputs = _checked_inputs(task, inputs)
        params = {
            "task": task,
            **{k: _label(k, v) for k, v in inputs.items()},
            "seed": seed,
            "steps": steps.__dict__,
            "guidance": guidance.__dict__,
        }
        job = self.store.new(session, "image", params)
        cancel = self._cancel[session] = threading.Event()
        try:
            result = self._call(task, inputs, seed, steps, guidance, progress, cancel)
            paths = result.save(job.folder, task)
        except BaseException as e:
            job.record.update(
                status="cancelled" if isinstance(e, Cancelled) else "failed", error=str(e)[:500]
            )
            job.save()
            raise
        finally:
            self._cancel.pop(session, None)
        seeds = [p["seed"] for p in result.parameters]
        results = {"images": [p.name for p in paths], "seeds": seeds, "notices": result.notices}
        job.record.update(status="done", results=results)
        job.save()
        tag = f" — {TEST_MODEL_NOTE}" if self.pipe.is_tiny_random else ""
        labels = [_caption(p) + tag for p in result.parameters]
        return job, list(zip(map(str, paths), labels, strict=True)), result.notices

    def _call(self, task, inputs, seed, steps, guidance, progress, cancel):
        common = {
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
            "progress": progress,
            "cancel": cancel,
        }
        if task == "imagine":
            return self.pipe.text_to_image(inputs["prompt"], inputs["num_images"], **common)
        if task == "vary":
            return self.pipe.variations(Path(inputs["image"]), inputs["num_images"], **common)
        # An end is an uploaded image (a Path) or a prompt (text, never opened as a file).
        ends = [
            Path(inputs[f"{e}_image"]) if inputs[f"{e}_image"] else inputs[f"{e}_prompt"]
            for e in "ab"
        ]
        return self.pipe.interpolate(ends[0], ends[1], inputs["frames"], **common)

    def history_rows(self, session: str) -> list[list]:
        return history_rows(self.store, session, "image", _history_row)


def _history_row(r: dict) -> list:
    p, res = r["params"], r["results"]
    what = p.get("prompt") or p.get("image") or f"{p.get('a_prompt') or p.get('a_image')} → "
    what += "" if p["task"] != "interpolate" else str(p.get("b_prompt") or p.get("b_image"))
    return [
        r["id"],
        r["created"],
        p["task"],
        what[:80],
        ", ".join(map(str, res.get("seeds", []))),
        r["status"],
    ]


def _stage_settings(settings: dict) -> tuple[Steps, Guidance]:
    steps = Steps(
        *(
            check_number(settings[k], k, integer=True)
            for k in ("prior_steps", "decoder_steps", "sr_steps")
        )
    )
    guidance = Guidance(
        *(check_number(settings[k], k) for k in ("prior_guidance", "decoder_guidance"))
    )
    check_settings(steps, guidance)
    return steps, guidance


def _checked_inputs(task: str, inputs: dict) -> dict:
    """The request's own inputs, checked before a job is made for it."""
    out = dict(inputs)
    if "num_images" in out:
        out["num_images"] = check_number(
            out["num_images"], "num_images", 1, MAX_IMAGES, integer=True
        )
    if "frames" in out:
        out["frames"] = check_number(out["frames"], "frames", 2, MAX_FRAMES, integer=True)
    for key in ("prompt", "a_prompt", "b_prompt"):
        if key in out:
            out[key] = check_prompt(out[key] or "", required=task == "imagine", name=key)
    if task == "vary" and not out["image"]:
        raise ValueError("upload an image to vary")
    if task == "interpolate" and not all(out[f"{e}_image"] or out[f"{e}_prompt"] for e in "ab"):
        raise ValueError("give each end a prompt or an image")
    return out


def _label(key: str, value):
    """What the job record keeps of an input: an upload's file name, other values as given."""
    return Path(value).name if key.endswith("image") and value else value


def _caption(params: dict) -> str:
    return f"seed {params['seed']}" + (f", t = {params['t']}" if "t" in params else "")
