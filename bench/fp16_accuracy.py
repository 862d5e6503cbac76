"""How far fp16 graphs (`studio export --fp16`) land from fp32 ones, end to end, on onnxruntime.

- charts: the bundled models on the first minute of `--songs` corpus songs: onset activations
  (max abs difference), and the notes of every chart (same beat and column, as a share of the
  fp32 chart's notes; the seed is fixed, so any difference is fp16's);
- StyTr²: the full-size network with the parity fixture's weights, on the fixture's pictures
  (random-init weights give a near-black picture, which hides any difference): 8-bit output,
  max and mean abs difference and PSNR;
- unCLIP "mid" (`make-tiny-unclip --size mid`): text to image, 8-bit max / mean difference, PSNR.
Each graph's own check (its max abs error against the fp32 PyTorch network, at two shapes) is in
the export's manifest; this measures what reaches the user. On CPU: onnxruntime's fp16 kernels
are a GPU feature, so the CPU times printed are not a speed result.

    .venv/bin/python bench/fp16_accuracy.py [--songs 3] [--only chart stytr2 unclip]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import print_table

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "charts"


def export_both(specs_fn, tmp: Path, case: str) -> dict[str, Path]:
    from export.onnx import export_graphs

    out = {}
    for precision in ("fp32", "fp16"):
        out[precision] = tmp / f"{case}-{precision}"
        export_graphs(specs_fn(), out[precision], precision=precision, report=lambda _: None)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def image_row(case: str, fp32: np.ndarray, fp16: np.ndarray, seconds: dict) -> dict:
    diff = np.abs(fp32.astype(np.int16) - fp16)
    return {
        "case": case,
        "what": "8-bit image",
        "max": int(diff.max()),
        "mean": f"{diff.mean():.3f}",
        "agree": f"PSNR {psnr(fp32, fp16):.1f} dB",
        **seconds,
    }


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, round(time.perf_counter() - start, 2)


def chart_rows(tmp: Path, n_songs: int) -> list[dict]:
    import soundfile as sf

    from genelive.audio import SAMPLE_RATE, load_audio
    from genelive.generator import ChartGenerator
    from genelive.graphs import graph_specs
    from genelive.training.corpus import scan_charts

    folders = export_both(graph_specs, tmp, "chart")
    generators = {p: ChartGenerator.load(f, backend="onnx") for p, f in folders.items()}
    rows = []
    for i, song in enumerate(scan_charts(CORPUS)[:n_songs]):
        clip = tmp / f"song{i}.wav"
        sf.write(clip, load_audio(song.audio_path)[: SAMPLE_RATE * 60], SAMPLE_RATE)
        songs, seconds, probs = {}, {}, {}
        for precision, generator in generators.items():
            songs[precision], seconds[precision] = timed(generator, clip, seed=0)
            probs[precision] = generator.analyse(clip).probs
        act = max(float(np.abs(probs["fp32"][d] - p).max()) for d, p in probs["fp16"].items())
        same_beat = same_note = total = 0
        for a, b in zip(songs["fp32"].charts, songs["fp16"].charts, strict=True):
            beats, notes = {n.beat for n in b.notes}, {(n.beat, n.column) for n in b.notes}
            same_beat += sum(n.beat in beats for n in a.notes)
            same_note += sum((n.beat, n.column) in notes for n in a.notes)
            total += len(a.notes)
        agree = f"of {total} notes: {same_beat} same beat, {same_note} same beat and column"
        rows.append(
            {
                "case": f"chart, song {i + 1} (60 s)",
                "what": "onset activation / notes",
                "max": f"{act:.2e}",
                "mean": "",
                "agree": agree,
                "fp32_s": seconds["fp32"],
                "fp16_s": seconds["fp16"],
            }
        )
    return rows


def stytr2_rows(tmp: Path) -> list[dict]:
    """The full-size network with the StyTr² parity fixture's weights (the official files the
    parity test builds, through our importer), on the fixture's content and style pictures."""
    from PIL import Image

    from stytr2 import StyleTransfer
    from stytr2.backends import graph_specs
    from stytr2.official import import_official
    from tests.test_stytr2_parity import FIXTURE, write_official_files

    write_official_files(tmp / "official")
    model = import_official(tmp / "official", tmp / "stytr2")
    folders = export_both(lambda: graph_specs(model), tmp, "stytr2")
    content, style = (Image.open(FIXTURE / f"{n}.png").convert("RGB") for n in ("content", "style"))
    out, seconds = {}, {}
    for precision, folder in folders.items():
        transfer = StyleTransfer.load(folder, backend="onnx")
        image, seconds[f"{precision}_s"] = timed(transfer, content, style)
        out[precision] = np.asarray(image)
    print(f"StyTr² output: std {out['fp32'].std():.1f} of 255", file=sys.stderr)
    return [
        image_row(f"StyTr² {content.width}×{content.height}", out["fp32"], out["fp16"], seconds)
    ]


def unclip_rows(tmp: Path) -> list[dict]:
    from unclip import UnCLIP
    from unclip.components import KarloFolder
    from unclip.nets import graph_specs
    from unclip.tiny import make_tiny_unclip

    model = make_tiny_unclip(tmp / "mid", size="mid")
    folders = export_both(lambda: graph_specs(KarloFolder(model)), tmp, "unclip")
    out, seconds = {}, {}
    for precision, folder in folders.items():
        pipe = UnCLIP.load(folder, backend="onnx", device="cpu")
        prompt = "key art of a neon drum stage"
        result, seconds[f"{precision}_s"] = timed(pipe.text_to_image, prompt, seed=0)
        out[precision] = np.asarray(result.images[0])
    return [image_row("unCLIP mid, 256²", out["fp32"], out["fp16"], seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("chart", "stytr2", "unclip"),
        default=["chart", "stytr2", "unclip"],
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "chart" in args.only:
            rows += chart_rows(Path(tmp), args.songs)
        if "stytr2" in args.only:
            rows += stytr2_rows(Path(tmp))
        if "unclip" in args.only:
            rows += unclip_rows(Path(tmp))
    columns = {
        "case": "case",
        "compared": "what",
        "max abs diff": "max",
        "mean abs diff": "mean",
        "agreement": "agree",
        "fp32 s": "fp32_s",
        "fp16 s": "fp16_s",
    }
    print_table("fp16 vs fp32 graphs on onnxruntime (CPU provider)", columns, rows)


if __name__ == "__main__":
    main()
