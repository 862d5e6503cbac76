"""The web app (Gradio 6). Today: the onset model on an uploaded song; later issues add tabs."""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
from matplotlib.figure import Figure  # the OO API: no pyplot state, no display backend

from export.folder import ModelFolderError, write_atomic
from genelive.audio import AudioError, load_audio
from genelive.features import BeatGrid
from genelive.pipeline import Activations, OnsetModel

log = logging.getLogger(__name__)

MAX_FILE_SIZE = "200mb"
MAX_AUDIO_MINUTES = 15.0


class OnsetService:
    """The onset model loaded once per process, and the one action the tab offers."""

    def __init__(self, model_dir: Path | None = None):
        self.model = OnsetModel.load(model_dir)
        self.out_dir = Path(tempfile.mkdtemp(prefix="genelive-studio-"))

    def analyse(self, audio_path: str | None, bpm: float | None, offset_s: float | None):
        """Song (+ optional BPM/offset) → (picture, per-difficulty table, .npz download)."""
        if not audio_path:
            raise gr.Error("Upload a song first (wav, flac, ogg or mp3).")
        try:
            audio = load_audio(audio_path, max_duration_s=MAX_AUDIO_MINUTES * 60)
        except AudioError as e:
            raise gr.Error(str(e)) from e
        features = self.model.features(audio)
        duration_s = len(audio) / 16000
        grid = None
        if bpm:
            if not 20 <= bpm <= 400:
                raise gr.Error(f"BPM {bpm:g} is outside 20–400; check the value.")
            grid = BeatGrid.from_bpm_offset(bpm, offset_s or 0.0, duration_s)
        act = self.model.activations(features, grid)
        onsets = self.model.onsets(act)
        rows = [[d, len(t), round(len(t) / max(duration_s, 1e-6), 2)] for d, t in onsets.items()]
        return plot_activations(act, onsets, grid), rows, self._save_npz(audio_path, act)

    def _save_npz(self, audio_path: str, act: Activations) -> str:
        buffer = io.BytesIO()
        np.savez(buffer, log_mel=act.features, beats=act.beats, onset_probs=act.probs)
        path = self.out_dir / f"{Path(audio_path).stem}.onsets.npz"
        write_atomic(path, buffer.getvalue())
        return str(path)


def plot_activations(act: Activations, onsets: dict, grid: BeatGrid | None):
    """One row per difficulty: activation over time, picked onsets, the beat grid."""
    t = np.arange(act.probs.shape[1]) / act.fps
    fig = Figure(figsize=(12, 1.3 * len(act.difficulties)), layout="tight")
    axes = fig.subplots(len(act.difficulties), 1, sharex=True, squeeze=False)
    for ax, name, probs in zip(axes[:, 0], act.difficulties, act.probs, strict=True):
        if grid is not None:
            ax.vlines(grid.times_s, 0, 1, color="0.85", linewidth=0.5)
        ax.plot(t, probs, linewidth=0.7)
        ax.plot(onsets[name], np.interp(onsets[name], t, probs), "v", markersize=3, color="C3")
        ax.set_ylim(0, 1)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def build_app(model_dir: Path | None = None) -> gr.Blocks:
    service = OnsetService(model_dir)
    info = service.model.describe()
    with gr.Blocks(title="GenéLive Studio") as demo:
        gr.Markdown("# GenéLive Studio")
        with gr.Tab("Charts"):
            gr.Markdown(
                "Upload a song to see where the GenéLive! model hears notes at each difficulty. "
                "Give the BPM and offset if you know them: the model uses the beat grid."
            )
            with gr.Row():
                audio = gr.Audio(label="Song", type="filepath", sources=["upload"])
                with gr.Column():
                    bpm = gr.Number(label="BPM (optional)", value=None, minimum=0)
                    offset = gr.Number(label="Offset s (beat 0 at −offset)", value=0.0)
                    run = gr.Button("Find onsets", variant="primary")
            plot = gr.Plot(label="Onset activations")
            table = gr.Dataframe(headers=["difficulty", "onsets", "per second"], label="Onsets")
            download = gr.File(label="Arrays (.npz)")
            run.click(
                service.analyse,
                [audio, bpm, offset],
                [plot, table, download],
                api_name="onsets",
                concurrency_limit=1,
            )
        with gr.Tab("Models"):
            gr.Markdown(
                f"**Onset model**: `{info['model_type']}` from "
                f"{'the bundled weights' if info['bundled'] else info['folder']}, "
                f"backend {info['backend']} on {info['device']}.\n\n"
                "Other weights: `studio import-klab KLAB.pth -o DIR` or "
                "`studio train-charts DATA -o DIR`, then `studio app --model DIR`."
            )
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, model_dir: Path | None = None) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: put the app behind an authenticating proxy", host)
    try:
        demo = build_app(model_dir)
    except ModelFolderError as e:
        raise SystemExit(f"error: {e}") from e
    demo.queue(max_size=16).launch(
        server_name=host, server_port=port, max_file_size=MAX_FILE_SIZE, show_error=False
    )
