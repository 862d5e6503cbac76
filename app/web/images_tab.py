"""The Images tab: unCLIP from text, variations of an upload, interpolation strips; its
service is app/services/images.py."""

from __future__ import annotations

import gradio as gr

from app.services.images import HISTORY_HEADERS, ImageService
from app.web.common import ALL_ERRORS, image_upload, number_field, reported, slider_field
from app.web.files import served
from export.progress import Cancelled


def build_images_tab(service: ImageService, session) -> tuple:
    """Builds the tab; returns (fn, inputs, outputs) that fill its history table."""
    gr.Markdown(service.status())
    with gr.Tabs():
        with gr.Tab("From text"):
            prompt = gr.Textbox(label="Prompt", lines=2, max_lines=6)
            num_text = slider_field(1, 4, value=1, step=1, label="Images (image i uses seed + i)")
            make = gr.Button("Make images", variant="primary")
        with gr.Tab("Variations"):
            image = image_upload(label="Image")
            num_vary = slider_field(1, 4, value=2, step=1, label="Variations")
            vary = gr.Button("Make variations", variant="primary")
        with gr.Tab("Interpolate"):
            with gr.Row():
                a_prompt, b_prompt = (
                    gr.Textbox(label="From: prompt"),
                    gr.Textbox(label="To: prompt"),
                )
            with gr.Row():
                a_image = image_upload(label="…or from: image")
                b_image = image_upload(label="…or to: image")
            frames = slider_field(
                2, 12, value=5, step=1, label="Frames (ends included, same noise)"
            )
            interpolate = gr.Button("Interpolate", variant="primary")
    with gr.Accordion("Seed, steps and guidance", open=False), gr.Row():
        seed = number_field(label="Seed", value=0, precision=0)
        random_seed = gr.Checkbox(label="Random seed", value=True)
        prior_steps = slider_field(2, 50, value=25, step=1, label="Prior steps")
        decoder_steps = slider_field(2, 100, value=25, step=1, label="Decoder steps")
        sr_steps = slider_field(2, 20, value=7, step=1, label="Super-res steps")
        prior_guidance = slider_field(1, 20, value=4, step=0.5, label="Prior guidance")
        decoder_guidance = slider_field(1, 20, value=8, step=0.5, label="Decoder guidance")
    cancel = gr.Button("Cancel", variant="stop")
    status = gr.Markdown()
    gallery = gr.Gallery(label="Images (PNG with parameters)", columns=4, height=360)
    files = gr.File(label="PNGs", file_count="multiple", interactive=False)
    history = gr.Dataframe(headers=HISTORY_HEADERS, label="Your images", interactive=False)
    settings = [
        seed,
        random_seed,
        prior_steps,
        decoder_steps,
        sr_steps,
        prior_guidance,
        decoder_guidance,
    ]
    keys = [
        "seed",
        "random_seed",
        "prior_steps",
        "decoder_steps",
        "sr_steps",
        "prior_guidance",
        "decoder_guidance",
    ]

    def handler(task: str, names: list[str]):
        @reported
        def run(session_id, *values, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
            inputs = dict(zip(names, values[: len(names)], strict=True))
            chosen = dict(zip(keys, values[len(names) :], strict=True))
            try:
                report = lambda f, what: progress(f, desc=what)  # noqa: E731
                job, shown, notices = service.run(session_id, task, inputs, chosen, report)
            except Cancelled:
                return "Cancelled.", None, None, service.history_rows(session_id)
            text = f"Job `{job.id}` done." + "".join(f"  \nNote: {n}" for n in notices)
            shown = [(served(path), caption) for path, caption in shown]
            return text, shown, [p for p, _ in shown], service.history_rows(session_id)

        return run

    outputs = [status, gallery, files, history]
    for button, task, names, fields, api in (
        (make, "imagine", ["prompt", "num_images"], [prompt, num_text], "imagine"),
        (vary, "vary", ["image", "num_images"], [image, num_vary], "vary"),
        (
            interpolate,
            "interpolate",
            ["a_prompt", "a_image", "b_prompt", "b_image", "frames"],
            [a_prompt, a_image, b_prompt, b_image, frames],
            "interpolate",
        ),
    ):
        button.click(
            handler(task, names),
            [session, *fields, *settings],
            outputs,
            api_name=api,
            concurrency_id="unclip",
            concurrency_limit=1,
        )
    cancel.click(service.cancel, session, None, api_name=False, queue=False)

    def rows(session_id):
        try:
            return service.history_rows(session_id)
        except ALL_ERRORS:
            return []

    return rows, session, history
