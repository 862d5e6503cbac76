"""The web app (Gradio 6): the Charts tab, this session's history, and the Models panel.

Every action is an API endpoint with a stable `api_name` (see README for a gradio_client
example). Results live in a job folder per action (app/jobs.py), so history survives a reload.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from app.charts_tab import FORMAT_CHOICES, HISTORY_HEADERS, STAT_HEADERS, ChartService, job_view
from app.images_tab import ImageService, build_images_tab
from app.jobs import JobError, JobStore, new_session_id
from app.paths import JOBS_DIR, STYTR2_DIR, UNCLIP_DIR
from app.serve import served, served_all
from app.style_tab import StyleService, build_style_tab
from app.web_common import ALL_ERRORS, number_field, reported, slider_field
from export.checks import InvalidValue, check_number
from export.manifest import backend_for
from genelive.difficulty import DIFFICULTIES
from genelive.generator import ChartGenerator

log = logging.getLogger(__name__)

MAX_FILE_SIZE = "200mb"
QUEUE_SIZE = 16
CHART_CONCURRENCY = 1  # one chart job at a time per process: the model is shared
TIMING_FILE_TYPES = [".sm", ".ssc", ".osu", ".json"]


def build_app(
    model_dir: Path | None = None,
    jobs_dir: Path = JOBS_DIR,
    stytr2_dir: Path | None = STYTR2_DIR,
    unclip_dir: Path | None = UNCLIP_DIR,
) -> gr.Blocks:
    check_jobs_dir(jobs_dir)
    generator = ChartGenerator.load(model_dir, backend=backend_for(model_dir))
    store = JobStore(jobs_dir)
    store.recover()  # jobs a crashed or killed app left "running": interrupted, cleaned
    service = ChartService(generator, store)
    style_service = StyleService(stytr2_dir, store)
    image_service = ImageService(unclip_dir, store)
    with gr.Blocks(title="GenéLive Studio", delete_cache=(3600, 3600)) as demo:
        session = gr.BrowserState(None, storage_key="genelive-studio-session")
        gr.Markdown("# GenéLive Studio")
        with gr.Tab("Charts"):
            ui = _charts_tab(service, session)
        with gr.Tab("Style"):
            build_style_tab(style_service, session)
        with gr.Tab("Images"):
            image_history = build_images_tab(image_service, session)
        with gr.Tab("History"):
            show_history = _history_tab(service, session, ui)
        with gr.Tab("Models"):
            gr.Markdown(models_text(generator, style_service, image_service))

        def models() -> dict:
            """The loaded models: type, folder, bundled or not, backend and device."""
            return models_info(generator, style_service, image_service)

        gr.api(models, api_name="models")
        loaded = demo.load(_ensure_session, session, session, api_name=False)
        loaded.then(*show_history, api_name=False).then(*image_history, api_name=False)
        ui["run"].then(*show_history, api_name=False)
    return demo


def check_jobs_dir(jobs_dir: Path) -> None:
    """The jobs folder must not lie inside what Gradio serves to anyone (its cache)."""
    cache = Path(get_upload_folder()).resolve()
    folder = Path(jobs_dir).resolve()
    if folder.is_relative_to(cache) or cache.is_relative_to(folder):
        raise InvalidValue(f"{jobs_dir} holds or is inside the web server's cache ({cache}), which "
                           "is served to anyone", "jobs_dir",
                           hint="; choose another folder ({jobs_dir})")  # fmt: skip


def _ensure_session(session: str | None) -> str:
    return session or new_session_id()


def _charts_tab(service: ChartService, session) -> dict:
    gr.Markdown(
        "Upload a song, check its tempo, choose difficulties, **Generate**. You get a chart per "
        "difficulty for StepMania (.sm/.ssc) and osu!mania (.osu), a picture of each, and the "
        "song with claps on the notes to check by ear."
    )
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(
                label="Song (wav, flac, ogg, mp3)", type="filepath", sources=["upload"]
            )
            detect = gr.Button("Detect tempo")
            candidates = gr.Dataframe(
                headers=["BPM", "offset s", "confidence %", "relation"],
                label="Tempo candidates (click one)",
                interactive=False,
            )
            tempo_note = gr.Markdown()
        with gr.Column():
            with gr.Row():
                bpm = number_field(label="BPM (empty: estimate)", value=None, minimum=0)
                offset = number_field(label="Offset s (beat 0 at −offset)", value=None)
            with gr.Row():
                earlier = gr.Button("offset −10 ms", size="sm")
                later = gr.Button("offset +10 ms", size="sm")
            timing_file = gr.File(
                label="…or timing from an existing chart",
                type="filepath",
                file_types=TIMING_FILE_TYPES,
            )
            difficulties = gr.CheckboxGroup(
                DIFFICULTIES, value=list(DIFFICULTIES), label="Difficulties"
            )
            with gr.Accordion("Density (notes per second, 0 = automatic)", open=False):
                densities = [slider_field(0, 15, value=0, step=0.1, label=d) for d in DIFFICULTIES]
            with gr.Row():
                seed = number_field(label="Seed", value=0, precision=0)
                random_seed = gr.Checkbox(label="Random seed", value=False)
            formats = gr.CheckboxGroup(FORMAT_CHOICES, value=FORMAT_CHOICES, label="Formats")
            with gr.Row():
                generate = gr.Button("Generate", variant="primary")
                cancel = gr.Button("Cancel", variant="stop")
    status = gr.Markdown()
    job_id = gr.Textbox(label="Job", interactive=False)
    gallery = gr.Gallery(label="Charts", columns=1, height=440, object_fit="contain")
    with gr.Row():
        preview_choice = gr.Dropdown(DIFFICULTIES, label="Listen to", value=None)
        preview = gr.Audio(label="Song with assist claps", type="filepath", interactive=False)
    stats = gr.Dataframe(headers=STAT_HEADERS, label="Charts", interactive=False)
    with gr.Row():
        files = gr.File(label="Files", file_count="multiple", interactive=False)
        song_zip = gr.File(label="Song folder (.zip, StepMania loads it as is)", interactive=False)
    with gr.Row():
        redo_difficulty = gr.Dropdown(DIFFICULTIES, label="Regenerate this difficulty", value=None)
        redo_seed = number_field(label="with seed (empty: random)", value=None, precision=0)
        redo = gr.Button("Regenerate")
    results = [status, job_id, gallery, preview_choice, preview, stats, files, song_zip, seed]

    def show(view: dict, seed_used, message: str) -> dict:
        """The result panel for a finished job (its id included in `view`); every file in it is
        a served copy (app/serve.py), never a path into the jobs folder."""
        last = view["difficulties"][-1]
        return {
            status: message + "  \n" + view["summary"],
            job_id: view["job"],
            gallery: [(served(path), caption) for path, caption in view["gallery"]],
            preview_choice: gr.update(choices=view["difficulties"], value=last),
            preview: served(view["preview"][last]),
            stats: view["stats"],
            files: served_all(view["files"]),
            song_zip: served(view["zip"]),
            seed: seed_used,
        }

    def on_generate(
        session, song, bpm, offset_s, timing_file, difficulties,
        beginner_nps, easy_nps, medium_nps, hard_nps, challenge_nps,
        seed, random_seed, formats, progress=gr.Progress(),  # noqa: B008 (Gradio injects it)
    ):  # fmt: skip
        densities = [beginner_nps, easy_nps, medium_nps, hard_nps, challenge_nps]
        steps = service.generate(session, song, bpm, offset_s, timing_file, difficulties,
                                 densities, seed, random_seed, formats,
                                 lambda f, t: progress(f, desc=t))  # fmt: skip
        for fraction, stage in steps:
            if isinstance(stage, str):
                progress(fraction, desc=stage)
                yield {status: f"*{stage}…*"}
            else:
                yield show(job_view(stage), stage.record["params"]["seed"], "Done.")

    def on_regenerate(session, job, difficulty, seed):
        done = service.regenerate(session, job, difficulty, seed)
        return show(job_view(done), done.record["params"]["seed"], f"{difficulty} regenerated.")

    def on_preview(session, job, difficulty):
        try:
            path = job_view(service.job(session, job))["preview"].get(difficulty)
        except ALL_ERRORS:
            return None
        return served(path) if path else None

    on_generate, on_regenerate, on_tempo = map(reported, (on_generate, on_regenerate,
                                                          service.tempo))  # fmt: skip

    # Candidates appear as soon as a song is uploaded; the button asks again.
    audio.upload(
        on_tempo,
        audio,
        [candidates, bpm, offset, tempo_note],
        api_name=False,
        concurrency_id="chart-model",
        concurrency_limit=CHART_CONCURRENCY,
    )
    detect.click(
        on_tempo,
        audio,
        [candidates, bpm, offset, tempo_note],
        api_name="tempo",
        concurrency_id="chart-model",
        concurrency_limit=CHART_CONCURRENCY,
    )
    candidates.select(_pick_candidate, candidates, [bpm, offset], api_name=False)
    earlier.click(lambda o: round((o or 0.0) - 0.01, 4), offset, offset, api_name=False)
    later.click(lambda o: round((o or 0.0) + 0.01, 4), offset, offset, api_name=False)
    inputs = [
        session,
        audio,
        bpm,
        offset,
        timing_file,
        difficulties,
        *densities,
        seed,
        random_seed,
        formats,
    ]
    run = generate.click(
        on_generate,
        inputs,
        results,
        api_name="generate_charts",
        concurrency_id="chart-model",
        concurrency_limit=CHART_CONCURRENCY,
    )
    cancel.click(None, None, None, cancels=[run], api_name=False)
    redo.click(
        on_regenerate,
        [session, job_id, redo_difficulty, redo_seed],
        results,
        api_name="regenerate_chart",
        concurrency_id="chart-model",
        concurrency_limit=CHART_CONCURRENCY,
    )
    preview_choice.change(on_preview, [session, job_id, preview_choice], preview, api_name=False)
    return {
        "run": run,
        "inputs": inputs,
        "results": results,
        "job_id": job_id,
        "show": show,
        "bpm": bpm,
        "offset": offset,
        "difficulties": difficulties,
        "densities": densities,
        "seed": seed,
        "random_seed": random_seed,
        "formats": formats,
    }


def _pick_candidate(rows, evt: gr.SelectData):
    row = rows.iloc[evt.index[0]] if hasattr(rows, "iloc") else rows[evt.index[0]]
    return float(row[0]), float(row[1])


def _pick_job(table, evt: gr.SelectData) -> str:
    return str(evt.row_value[0]) if evt.row_value else ""


def _history_tab(service: ChartService, session, ui: dict) -> tuple:
    """Builds the tab; returns (fn, inputs, outputs) that fill its table."""
    gr.Markdown("Your results in this browser, newest first. They stay after a reload.")
    table = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False, label="History")
    refresh = gr.Button("Refresh")
    with gr.Row():
        chosen = gr.Textbox(label="Job (click a row)")
        reuse = gr.Button("Reuse these settings")
        open_job = gr.Button("Show its results")

    def rows(session):
        try:
            return service.history_rows(session)
        except ALL_ERRORS:
            return []

    @reported
    def settings(session, job):
        p = service.job(session, job).record["params"]
        dens = [p["density_nps"].get(d, 0) for d in DIFFICULTIES]
        return [p["bpm"], p["offset_s"], p["difficulties"], *dens, p["seed"], False, p["formats"]]

    @reported
    def results(session, job_id):
        job = service.job(session, job_id)
        if job.record["status"] != "done":
            raise JobError(f"job {job_id} is {job.record['status']}: it has no results to show")
        try:
            view = job_view(job)
        except (KeyError, TypeError, ValueError) as e:
            raise JobError(f"job {job_id}: its record lists no results to show ({e})") from None
        return ui["show"](view, job.record["params"]["seed"], "From history.")

    refresh.click(rows, session, table, api_name="history")
    table.select(_pick_job, table, chosen, api_name=False)
    reuse.click(
        settings,
        [session, chosen],
        [
            ui["bpm"],
            ui["offset"],
            ui["difficulties"],
            *ui["densities"],
            ui["seed"],
            ui["random_seed"],
            ui["formats"],
        ],
        api_name="reuse_settings",
    )
    open_job.click(results, [session, chosen], ui["results"], api_name="show_job")
    return rows, session, table


def models_info(generator: ChartGenerator, style: StyleService, images: ImageService) -> dict:
    onset = generator.onset_model.describe()
    steps = generator.step_model
    info = {"onset": onset, "steps": {"folder": str(steps.folder), "backend": steps.backend.name,
                                      "device": steps.backend.device}}  # fmt: skip
    if style.transfer is not None:
        info["stytr2"] = {"folder": str(style.folder), "backend": style.transfer.nets.backend}
    if images.pipe is not None:
        backend = "onnx" if type(images.pipe.nets).__name__ == "OnnxNets" else "torch"
        info["unclip"] = {"folder": str(images.folder), "backend": backend,
                          "tasks": images.pipe.folder.tasks(),
                          "test_model": images.pipe.is_tiny_random}  # fmt: skip
    return info


def models_text(generator: ChartGenerator, style: StyleService, images: ImageService) -> str:
    info = models_info(generator, style, images)
    onset = info["onset"]
    where = "the bundled weights" if onset["bundled"] else f"`{onset['folder']}`"
    loaded = "".join(
        f"**{name}** from `{m['folder']}`, backend {m['backend']}.\n\n"
        for name, m in (("StyTr²", info.get("stytr2")), ("unCLIP", info.get("unclip")))
        if m
    )
    return (
        f"**Charts.** Onset model `{onset['model_type']}` from {where}, backend "
        f"{onset['backend']} on {onset['device']}. Step selection from "
        f"`{info['steps']['folder']}`, backend {info['steps']['backend']}.\n\n{loaded}"
        "**Adding weights.** Your own chart model: `studio train-charts SIMFILES -o DIR` (or "
        "`studio import-klab KLAB.pth -o DIR` for KLab's released checkpoints), then "
        "`studio app --model DIR`.\n\n**Style.** The official StyTr² checkpoints: "
        "`studio import-stytr2 THEIR_FOLDER -o MODEL_DIR`, then `studio app --stytr2 MODEL_DIR` "
        "(default folder: ~/.local/share/genelive-studio/models/stytr2).\n\n**Images.** A "
        "Karlo-format unCLIP folder (kakaobrain/karlo-v1-alpha, plus "
        "fusing/karlo-image-variations-diffusers for variations): `studio app --unclip FOLDER` "
        "(default folder: ~/.local/share/genelive-studio/models/karlo).\n\n**ONNX.** "
        "`studio export chart|stytr2|unclip -o DIR` writes verified graphs; give DIR to "
        "`--model`, `--stytr2` or `--unclip` and that model runs on onnxruntime (its files are "
        "checked against the export's manifest first)."
    )


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860,
          block: bool = True) -> str:  # fmt: skip
    """Start the app with production's settings (the tests start it through here too): a
    bounded queue, one job per model, an upload size limit, no `allowed_paths` (nothing outside
    Gradio's cache is served: app/serve.py). Our handlers answer in our one-line messages
    (app/web_common.py); `show_error` lets Gradio's own refusals of a request reach the client
    in its words too (a file that was never uploaded, a choice the form does not offer)
    instead of an empty error.
    Returns the local URL; `block=False` returns at once (the server runs in a thread)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CHART_CONCURRENCY)
    try:
        _, url, _ = demo.launch(server_name=host, server_port=port, max_file_size=MAX_FILE_SIZE,
                                show_error=True, prevent_thread_lock=not block, quiet=not block,
                                allowed_paths=[])  # fmt: skip
    except OSError as e:
        if "port" not in str(e):
            raise
        raise InvalidValue(f"port {port} is in use (another app is running there?)", "port",
                           hint="; choose another ({port})") from None  # fmt: skip
    return url


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    model_dir: Path | None = None,
    jobs_dir: Path = JOBS_DIR,
    stytr2_dir: Path | None = STYTR2_DIR,
    unclip_dir: Path | None = UNCLIP_DIR,
) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: put the app behind an authenticating proxy", host)
    check_port_free(host, port)  # before minutes of model loading, not after
    serve(build_app(model_dir, jobs_dir, stytr2_dir, unclip_dir), host, port)


def check_port_free(host: str, port: int) -> None:
    check_number(port, "port", 1, 65535, integer=True)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise InvalidValue(f"cannot listen on {host}:{port} ({e.strerror or e})", "port",
                               hint="; choose another ({port})") from None  # fmt: skip
