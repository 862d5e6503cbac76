"""The Charts tab: upload a song, check its tempo, choose difficulties and options, Generate; the
result panel shows each chart's picture, the song with claps, stats, files and a .zip. Its
service (app/services/charts.py) runs the one orchestrator, genelive.ChartGenerator, with every
option the command line has."""

from __future__ import annotations

import gradio as gr

from app.services.charts import FORMAT_CHOICES, STAT_HEADERS, ChartService, job_view
from app.web.common import ALL_ERRORS, number_field, reported, slider_field
from app.web.files import served, served_all
from export.progress import Cancelled
from genelive.difficulty import DIFFICULTIES

CHART_CONCURRENCY = 1  # one chart job at a time per process: the model is shared
TIMING_FILE_TYPES = [".sm", ".ssc", ".osu", ".json"]
TIMING_FILE_NOTE = (
    "Timing from the uploaded chart: BPM and offset cleared (type them in to use them instead, "
    "and remove the chart file)."
)
MODEL = {"concurrency_id": "chart-model", "concurrency_limit": CHART_CONCURRENCY}


def build_charts_tab(service: ChartService, session) -> dict:
    """Builds the tab; returns its controls and its `show(view, seed, message)` for History."""
    gr.Markdown(
        "Upload a song, check its tempo, choose difficulties, **Generate**. You get a chart per "
        "difficulty for StepMania (.sm/.ssc) and osu!mania (.osu), a picture of each, and the "
        "song with claps on the notes to check by ear."
    )
    c = _controls()
    results = [
        c["status"],
        c["job_id"],
        c["gallery"],
        c["preview_choice"],
        c["preview"],
        c["stats"],
        c["files"],
        c["song_zip"],
        c["seed"],
    ]

    def show(view: dict, seed_used, message: str) -> dict:
        """The result panel for a finished job (its id included in `view`); every file in it is
        a served copy (app/web/files.py), never a path into the jobs folder."""
        last = view["difficulties"][-1]
        return {
            c["status"]: message + "  \n" + view["summary"],
            c["job_id"]: view["job"],
            c["gallery"]: [(served(path), caption) for path, caption in view["gallery"]],
            c["preview_choice"]: gr.update(choices=view["difficulties"], value=last),
            c["preview"]: served(view["preview"][last]),
            c["stats"]: view["stats"],
            c["files"]: served_all(view["files"]),
            c["song_zip"]: served(view["zip"]),
            c["seed"]: seed_used,
        }

    @reported
    def on_generate(
        session,
        song,
        bpm,
        offset_s,
        timing_file,
        difficulties,
        beginner_nps,
        easy_nps,
        medium_nps,
        hard_nps,
        challenge_nps,
        seed,
        random_seed,
        formats,
        keys=4,
        temperature=1.0,
        title=None,
        artist=None,
        progress=gr.Progress(),  # noqa: B008 (Gradio injects it)
    ):
        densities = [beginner_nps, easy_nps, medium_nps, hard_nps, challenge_nps]
        try:
            job = service.generate(
                session,
                song,
                bpm,
                offset_s,
                timing_file,
                difficulties,
                densities,
                seed,
                random_seed,
                formats,
                lambda f, stage: progress(f, desc=stage),
                keys,
                temperature,
                title,
                artist,
            )
        except Cancelled:
            return {c["status"]: "Cancelled."}
        return show(job_view(job), job.record["params"]["seed"], "Done.")

    @reported
    def on_regenerate(session, job, difficulty, seed):
        done = service.regenerate(session, job, difficulty, seed)
        return show(job_view(done), done.record["params"]["seed"], f"{difficulty} regenerated.")

    def on_preview(session, job, difficulty):
        try:
            path = job_view(service.job(session, job))["preview"].get(difficulty)
        except ALL_ERRORS:
            return None
        return served(path) if path else None

    on_tempo = reported(service.tempo)
    tempo_outputs = [c["candidates"], c["bpm"], c["offset"], c["tempo_note"]]
    # Candidates appear as soon as a song is uploaded; the button asks again.
    c["audio"].upload(on_tempo, c["audio"], tempo_outputs, api_name=False, **MODEL)
    c["detect"].click(on_tempo, c["audio"], tempo_outputs, api_name="tempo", **MODEL)
    c["candidates"].select(_pick_candidate, None, [c["bpm"], c["offset"]], api_name=False)
    # A chart's timing replaces the tempo filled in from the audio: both at once is refused.
    c["timing_file"].upload(
        lambda: (None, None, TIMING_FILE_NOTE),
        None,
        [c["bpm"], c["offset"], c["tempo_note"]],
        api_name=False,
    )
    c["earlier"].click(
        lambda o: round((o or 0.0) - 0.01, 4), c["offset"], c["offset"], api_name=False
    )
    c["later"].click(
        lambda o: round((o or 0.0) + 0.01, 4), c["offset"], c["offset"], api_name=False
    )
    settings = [
        c["bpm"],
        c["offset"],
        c["timing_file"],
        c["difficulties"],
        *c["densities"],
        c["seed"],
        c["random_seed"],
        c["formats"],
        c["keys"],
        c["temperature"],
        c["title"],
        c["artist"],
    ]
    run = c["generate"].click(
        on_generate, [session, c["audio"], *settings], results, api_name="generate_charts", **MODEL
    )
    # Not queued behind the job it stops: the running job checks the event between stages.
    c["cancel"].click(service.cancel, session, None, api_name=False, queue=False)
    c["redo"].click(
        on_regenerate,
        [session, c["job_id"], c["redo_difficulty"], c["redo_seed"]],
        results,
        api_name="regenerate_chart",
        **MODEL,
    )
    c["preview_choice"].change(
        on_preview, [session, c["job_id"], c["preview_choice"]], c["preview"], api_name=False
    )
    # What "reuse these settings" fills in (History): every setting but the files.
    reusable = [x for x in settings if x is not c["timing_file"]]
    return {"run": run, "results": results, "show": show, "reusable": reusable}


def _controls() -> dict:
    c = {}
    with gr.Row():
        with gr.Column():
            c["audio"] = gr.Audio(
                label="Song (wav, flac, ogg, mp3)", type="filepath", sources=["upload"]
            )
            c["detect"] = gr.Button("Detect tempo")
            c["candidates"] = gr.Dataframe(
                headers=["BPM", "offset s", "confidence %", "relation"],
                label="Tempo candidates (click one)",
                interactive=False,
            )
            c["tempo_note"] = gr.Markdown()
        with gr.Column():
            with gr.Row():
                c["bpm"] = number_field(label="BPM (empty: estimate)", value=None, minimum=0)
                c["offset"] = number_field(label="Offset s (beat 0 at −offset)", value=None)
            with gr.Row():
                c["earlier"] = gr.Button("offset −10 ms", size="sm")
                c["later"] = gr.Button("offset +10 ms", size="sm")
            c["timing_file"] = gr.File(
                label="…or timing from an existing chart",
                type="filepath",
                file_types=TIMING_FILE_TYPES,
            )
            c["difficulties"] = gr.CheckboxGroup(
                DIFFICULTIES, value=list(DIFFICULTIES), label="Difficulties"
            )
            with gr.Accordion("Density (notes per second, 0 = automatic)", open=False):
                c["densities"] = [
                    slider_field(0, 15, value=0, step=0.1, label=d) for d in DIFFICULTIES
                ]
            with gr.Row():
                c["seed"] = number_field(label="Seed", value=0, precision=0)
                c["random_seed"] = gr.Checkbox(label="Random seed", value=False)
            c["formats"] = gr.CheckboxGroup(FORMAT_CHOICES, value=FORMAT_CHOICES, label="Formats")
            with gr.Accordion("Title, artist, keys, sampling", open=False):
                with gr.Row():
                    c["title"] = gr.Textbox(label="Title (empty: the audio's tags or name)")
                    c["artist"] = gr.Textbox(label="Artist (empty: the audio's tags)")
                with gr.Row():
                    c["keys"] = number_field(
                        label="osu!mania keys", value=4, precision=0, minimum=1, maximum=18
                    )
                    c["temperature"] = slider_field(
                        0.01, 10, value=1.0, step=0.01, label="Step sampling temperature"
                    )
            with gr.Row():
                c["generate"] = gr.Button("Generate", variant="primary")
                c["cancel"] = gr.Button("Cancel", variant="stop")
    c["status"] = gr.Markdown()
    c["job_id"] = gr.Textbox(label="Job", interactive=False)
    c["gallery"] = gr.Gallery(label="Charts", columns=1, height=440, object_fit="contain")
    with gr.Row():
        c["preview_choice"] = gr.Dropdown(DIFFICULTIES, label="Listen to", value=None)
        c["preview"] = gr.Audio(label="Song with assist claps", type="filepath", interactive=False)
    c["stats"] = gr.Dataframe(headers=STAT_HEADERS, label="Charts", interactive=False)
    with gr.Row():
        c["files"] = gr.File(label="Files", file_count="multiple", interactive=False)
        c["song_zip"] = gr.File(
            label="Song folder (.zip, StepMania loads it as is)", interactive=False
        )
    with gr.Row():
        c["redo_difficulty"] = gr.Dropdown(
            DIFFICULTIES, label="Regenerate this difficulty", value=None
        )
        c["redo_seed"] = number_field(label="with seed (empty: random)", value=None, precision=0)
        c["redo"] = gr.Button("Regenerate")
    return c


def _pick_candidate(evt: gr.SelectData):
    """A click anywhere on a candidate's row sets BPM and offset to that candidate's."""
    bpm, offset_s = evt.row_value[:2]
    return float(bpm), float(offset_s)
