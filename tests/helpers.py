"""Generated test material: click-track songs, simfiles, and a tiny model config."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from genelive.onsets.config import OnsetConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden"
CORPUS = SHARED / "data" / "charts"

TINY = OnsetConfig(conv_channels=4, lstm_hidden=8, dropblock=0.0)


def click_track(
    bpm: float, seconds: float, sr: int = 22050, first_beat_s: float = 0.5, accent_every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A pad tone with short clicks on every beat from `first_beat_s`: (audio, click times)."""
    times = np.arange(first_beat_s, seconds - 0.1, 60.0 / bpm)
    return clicks_at(times, seconds, sr, accent_every), times


def clicks_at(times_s: np.ndarray, seconds: float, sr: int = 22050, accent_every: int = 1):
    """(n,) float32: a pad tone with a short click at each of `times_s`."""
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.05 * np.sin(2 * math.pi * 220 * t)
    rng = np.random.default_rng(0)
    burst = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.arange(int(0.03 * sr)) / (0.004 * sr))
    for i, onset in enumerate(times_s):
        start = round(onset * sr)
        gain = 0.9 if i % accent_every == 0 else 0.6
        audio[start : start + len(burst)] += gain * burst[: len(audio) - start]
    return audio.astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, sr: int = 22050, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, **kwargs)
    return path


def sm_text(
    title: str,
    bpm: float,
    offset_s: float,
    charts: dict[str, list[str]],
    stops: str = "",
    music: str = "audio.ogg",
) -> str:
    """A .sm file; `charts` maps difficulty → measures, each 4 rows of 4 columns joined by '\\n'."""
    parts = [
        f"#TITLE:{title};\n#MUSIC:{music};\n#OFFSET:{offset_s:.3f};\n#BPMS:0.000={bpm:.3f};\n"
        f"#STOPS:{stops};\n"
    ]
    for difficulty, measures in charts.items():
        body = "\n,\n".join(measures)
        parts.append(
            f"#NOTES:\n     dance-single:\n     :\n     {difficulty}:\n     5:\n     0,0,0,0,0:\n"
            f"{body}\n;\n"
        )
    return "".join(parts)


def quarter_measures(n_measures: int, row: str = "1000") -> list[str]:
    """Measures with a note on every quarter beat."""
    return ["\n".join([row] * 4) for _ in range(n_measures)]


def golden_tensor(key: str, shape: list[int], dtype: str, seed: int) -> torch.Tensor:
    """The golden READMEs' formula: every weight of a parity fixture made from its key name."""
    g = torch.Generator().manual_seed((zlib.crc32(key.encode()) + seed) % 2**31)
    if "int" in dtype:
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith("running_var"):
        return 1 + 0.1 * torch.rand(shape, generator=g)
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) >= 2:
        return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    if key.endswith(".weight"):
        return 1 + 0.1 * torch.randn(shape, generator=g)
    return 0.1 * torch.randn(shape, generator=g)


def start_app(root: Path):
    """The web app as `studio app` starts it (app.web.serve), on a free port, with a small
    StyTr² and a tiny unCLIP under `root`: (the Blocks, to close; its URL)."""
    from app.web import build_app, serve
    from export.weights import save_model_folder
    from stytr2.model import StyTr2Config, StyTr2Net
    from unclip.tiny import make_tiny_unclip

    small = StyTr2Config(d_model=32, heads=4, ffn=64, encoder_layers=1, decoder_layers=1)
    stytr2 = save_model_folder(root / "stytr2", small, StyTr2Net(small))
    unclip = make_tiny_unclip(root / "unclip")
    demo = build_app(jobs_dir=root / "jobs", stytr2_dir=stytr2, unclip_dir=unclip)
    return demo, serve(demo, port=None, block=False)
