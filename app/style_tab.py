"""The Style tab: StyTr² on uploaded images, results kept as job folders (PNG with parameters)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app.charts_tab import history_rows
from app.jobs import JobStore
from app.serve import served
from app.web_common import image_upload, number_field, reported, slider_field
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

    def run(self, session, content, styles, alpha, preserve_color, style_weights, size,
            progress=None) -> Path:  # fmt: skip
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
        params = {"content": Path(content).name, "styles": [Path(s).name for s in styles],
                  "alpha": check_number(alpha, "alpha", 0.0, 1.0),
                  "preserve_color": bool(preserve_color), "style_weights": weights,
                  "size": check_number(size, "size", 16, 8192, integer=True) if size else None,
                  "model": str(self.folder)}  # fmt: skip
        job = self.store.new(session, "style", params)
        try:
            image = self.transfer(content, styles, alpha=params["alpha"],
                                  preserve_color=params["preserve_color"],
                                  style_weights=weights, size=params["size"],
                                  progress=progress)  # fmt: skip
            out = job.folder / f"{Path(content).stem}-stylised.png"
            write_atomic(
                out, png_with_parameters(image, {"generator": "GenéLive Studio stytr2", **params})
            )
        except BaseException as e:
            job.record.update(status="failed" if isinstance(e, Exception) else "cancelled",
                              error=str(e)[:500])  # fmt: skip
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
        raise InvalidValue.of("style_weights", f"must be numbers such as '1 2', not "
                                               f"{str(text)[:40]!r}") from None  # fmt: skip


def build_style_tab(service: StyleService, session) -> None:
    gr.Markdown(service.status())
    with gr.Row():
        content = image_upload(label="Content")
        styles = gr.File(label="Style image(s)", file_count="multiple", type="filepath",
                         file_types=["image"])  # fmt: skip
    with gr.Row():
        alpha = slider_field(0, 1, value=1.0, step=0.05, label="Style strength")
        preserve = gr.Checkbox(label="Keep the content's colours")
        weights = gr.Textbox(label="Style weights (one per style, e.g. '1 2')", value="")
        size = number_field(label="Longer side px (0 = as uploaded)", value=0, precision=0)
    run = gr.Button("Stylise", variant="primary")
    result = gr.Image(label="Result", type="filepath", interactive=False)
    download = gr.File(label="PNG (parameters embedded)", interactive=False)
    history = gr.Dataframe(headers=HISTORY_HEADERS, label="Your style results", interactive=False)

    @reported
    def on_run(session_id, c, s, a, p, w, n, progress=gr.Progress()):  # noqa: B008
        progress(0.0, desc="stylising")

        def tiles(done: int, total: int) -> None:
            progress(done / total, desc=f"stylising: tile {done} of {total}" if total > 1 else "")

        out = served(service.run(session_id, c, s, a, p, w, n, progress=tiles))
        return out, out, service.history_rows(session_id)

    run.click(on_run, [session, content, styles, alpha, preserve, weights, size],
              [result, download, history], api_name="stylize",
              concurrency_id="stytr2", concurrency_limit=1)  # fmt: skip
