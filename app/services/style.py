"""Style transfer for the web app: StyTr² on uploaded images, results kept as job folders (a PNG
with its parameters)."""

from __future__ import annotations

from pathlib import Path

from app.jobs import JobStore
from app.services.history import history_rows
from export.atomic import write_atomic
from export.checks import InvalidValue, check_number
from export.images import png_with_parameters
from export.manifest import backend_for
from stytr2 import ImageError, StyleTransfer
from stytr2.official import WHERE_TO_GET

HISTORY_HEADERS = ["job", "created", "content", "styles", "strength", "status"]


class StyleService:
    def __init__(self, model_dir: Path | None, store: JobStore):
        self.store, self.folder = store, model_dir
        self.transfer = None
        if model_dir and Path(model_dir).is_dir():
            self.transfer = StyleTransfer.load(model_dir, backend=backend_for(model_dir))

    def status(self) -> str:
        if self.transfer is None:
            return (
                f"**No StyTr² weights loaded.** {WHERE_TO_GET} "
                "Then restart the app with `--stytr2 MODEL_DIR`."
            )
        return f"StyTr² from `{self.folder}`."

    def run(
        self, session, content, styles, alpha, preserve_color, style_weights, size, progress=None
    ) -> Path:
        """Uploaded paths → the written PNG inside a new job folder; `progress(done, total)`
        per tile."""
        if self.transfer is None:
            raise ValueError(f"no StyTr² weights are loaded. {WHERE_TO_GET}")
        if not content:
            raise ImageError("upload a content image first")
        styles = [s for s in (styles or []) if s]
        if not styles:
            raise ImageError("upload at least one style image")
        weights = _weights(style_weights)
        params = {
            "content": Path(content).name,
            "styles": [Path(s).name for s in styles],
            "alpha": check_number(alpha, "alpha", 0.0, 1.0),
            "preserve_color": bool(preserve_color),
            "style_weights": weights,
            "size": check_number(size, "size", 16, 8192, integer=True) if size else None,
            "model": Path(self.folder).name,  # not the server's path: the PNG is the user's
        }
        job = self.store.new(session, "style", params)
        try:
            image = self.transfer(
                content,
                styles,
                alpha=params["alpha"],
                preserve_color=params["preserve_color"],
                style_weights=weights,
                size=params["size"],
                progress=progress,
            )
            out = job.folder / f"{Path(content).stem}-stylised.png"
            write_atomic(
                out, png_with_parameters(image, {"generator": "GenéLive Studio stytr2", **params})
            )
        except BaseException as e:
            job.record.update(
                status="failed" if isinstance(e, Exception) else "cancelled", error=str(e)[:500]
            )
            job.save()
            raise
        job.record.update(status="done", results={"image": out.name})
        job.save()
        return out

    def history_rows(self, session) -> list[list]:
        return history_rows(self.store, session, "style", _history_row)


def _history_row(r: dict) -> list:
    p = r["params"]
    return [r["id"], r["created"], p["content"], ", ".join(p["styles"]), p["alpha"], r["status"]]


def _weights(text) -> list[float] | None:
    """'1 2' or '1, 2' → [1.0, 2.0] (checked by the pipeline: finite, not negative)."""
    words = str(text or "").replace(",", " ").split()
    try:
        return [float(w) for w in words] or None
    except ValueError:
        raise InvalidValue.of(
            "style_weights", f"must be numbers such as '1 2', not {str(text)[:40]!r}"
        ) from None
