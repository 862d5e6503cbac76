"""The web app (Gradio 6): the Charts, Style, Images and History tabs and the Models panel, each a
module of its own here, each tab's work a service in app/services.

Every action is an API endpoint with a stable `api_name` (README has a gradio_client example).
Results live in a job folder per action (app/jobs.py), so history survives a reload; what a
browser is given of them are served copies (app/web/files.py).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from app.jobs import JobStore, new_session_id
from app.paths import JOBS_DIR, STYTR2_DIR, UNCLIP_DIR
from app.services.charts import ChartService
from app.services.images import ImageService
from app.services.style import StyleService
from app.web.charts_tab import CHART_CONCURRENCY, build_charts_tab
from app.web.history_tab import build_history_tab
from app.web.images_tab import build_images_tab
from app.web.models_panel import build_models_panel
from app.web.style_tab import build_style_tab
from export.checks import InvalidValue, check_number
from export.manifest import backend_for
from genelive.generator import ChartGenerator

log = logging.getLogger(__name__)

MAX_FILE_SIZE = "200mb"
QUEUE_SIZE = 16


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
            charts = build_charts_tab(service, session)
        with gr.Tab("Style"):
            build_style_tab(style_service, session)
        with gr.Tab("Images"):
            image_history = build_images_tab(image_service, session)
        with gr.Tab("History"):
            show_history = build_history_tab(service, session, charts)
        with gr.Tab("Models"):
            build_models_panel(generator, style_service, image_service)
        loaded = demo.load(_ensure_session, session, session, api_name=False)
        loaded.then(*show_history, api_name=False).then(*image_history, api_name=False)
        charts["run"].then(*show_history, api_name=False)
    return demo


def check_jobs_dir(jobs_dir: Path) -> None:
    """The jobs folder must not lie inside what Gradio serves to anyone (its cache)."""
    cache = Path(get_upload_folder()).resolve()
    folder = Path(jobs_dir).resolve()
    if folder.is_relative_to(cache) or cache.is_relative_to(folder):
        raise InvalidValue(
            f"{jobs_dir} holds or is inside the web server's cache ({cache}), which "
            "is served to anyone",
            "jobs_dir",
            hint="; choose another folder ({jobs_dir})",
        )


def _ensure_session(session: str | None) -> str:
    return session or new_session_id()


def serve(
    demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, block: bool = True
) -> str:
    """Start the app with production's settings (the tests start it through here too): a
    bounded queue, one job per model, an upload size limit, no `allowed_paths` (nothing outside
    Gradio's cache is served: app/web/files.py). Our handlers answer in our one-line
    messages (app/web/common.py); `show_error` lets Gradio's own refusals of a request reach
    the client in its words too (a file that was never uploaded, a choice the form does not
    offer) instead of an empty error.
    Returns the local URL; `block=False` returns at once (the server runs in a thread)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CHART_CONCURRENCY)
    try:
        _, url, _ = demo.launch(
            server_name=host,
            server_port=port,
            max_file_size=MAX_FILE_SIZE,
            show_error=True,
            prevent_thread_lock=not block,
            quiet=not block,
            allowed_paths=[],
        )
    except OSError as e:
        if "port" not in str(e):
            raise
        raise InvalidValue(
            f"port {port} is in use (another app is running there?)",
            "port",
            hint="; choose another ({port})",
        ) from None
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
            raise InvalidValue(
                f"cannot listen on {host}:{port} ({e.strerror or e})",
                "port",
                hint="; choose another ({port})",
            ) from None
