"""The Style tab: StyTr² on uploaded images; its service is app/services/style.py."""

from __future__ import annotations

import gradio as gr

from app.services.style import HISTORY_HEADERS, StyleService
from app.web.common import image_upload, number_field, reported, slider_field
from app.web.files import served


def build_style_tab(service: StyleService, session) -> None:
    gr.Markdown(service.status())
    with gr.Row():
        content = image_upload(label="Content")
        styles = gr.File(
            label="Style image(s)", file_count="multiple", type="filepath", file_types=["image"]
        )
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
    def on_run(
        session_id,
        content_image,
        style_images,
        alpha,
        preserve_colour,
        style_weights,
        size_px,
        progress=gr.Progress(),  # noqa: B008
    ):
        progress(0.0, desc="stylising")

        def tiles(done: int, total: int) -> None:
            progress(done / total, desc=f"stylising: tile {done} of {total}" if total > 1 else "")

        out = served(
            service.run(
                session_id,
                content_image,
                style_images,
                alpha,
                preserve_colour,
                style_weights,
                size_px,
                progress=tiles,
            )
        )
        return out, out, service.history_rows(session_id)

    run.click(
        on_run,
        [session, content, styles, alpha, preserve, weights, size],
        [result, download, history],
        api_name="stylize",
        concurrency_id="stytr2",
        concurrency_limit=1,
    )
