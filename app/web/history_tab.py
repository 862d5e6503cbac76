"""The History tab: this browser's chart jobs, newest first (they stay after a reload), with
"reuse these settings" and "show its results" (in the Charts tab's result panel)."""

from __future__ import annotations

import gradio as gr

from app.jobs import JobError
from app.services.charts import HISTORY_HEADERS, ChartService, job_view
from app.web.common import ALL_ERRORS, reported
from genelive.difficulty import DIFFICULTIES


def build_history_tab(service: ChartService, session, charts: dict) -> tuple:
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
        """The job's settings, in the order of the Charts tab's reusable controls."""
        p = service.job(session, job).record["params"]
        dens = [p["density_nps"].get(d, 0) for d in DIFFICULTIES]
        return [
            p["bpm"],
            p["offset_s"],
            p["difficulties"],
            *dens,
            p["seed"],
            False,
            p["formats"],
            p.get("keys", 4),
            p.get("temperature", 1.0),
            p.get("title") or "",
            p.get("artist") or "",
        ]

    @reported
    def results(session, job_id):
        job = service.job(session, job_id)
        if job.record["status"] != "done":
            raise JobError(f"job {job_id} is {job.record['status']}: it has no results to show")
        try:
            view = job_view(job)
        except (KeyError, TypeError, ValueError) as e:
            raise JobError(f"job {job_id}: its record lists no results to show ({e})") from None
        return charts["show"](view, job.record["params"]["seed"], "From history.")

    refresh.click(rows, session, table, api_name="history")
    table.select(_pick_job, table, chosen, api_name=False)
    reuse.click(settings, [session, chosen], charts["reusable"], api_name="reuse_settings")
    open_job.click(results, [session, chosen], charts["results"], api_name="show_job")
    return rows, session, table


def _pick_job(table, evt: gr.SelectData) -> str:
    return str(evt.row_value[0]) if evt.row_value else ""
