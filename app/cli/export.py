"""`studio export`: networks to ONNX, each verified against PyTorch, with a manifest."""

from __future__ import annotations

import sys
from pathlib import Path

from app.paths import STYTR2_DIR, UNCLIP_DIR
from export.manifest import DEFAULT_OPSET, EXPORTERS, PRECISIONS

PIPELINES = ("chart", "stytr2", "unclip")


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export networks to ONNX, verified, with a manifest",
        description="Export a pipeline's networks (or, with --all, every pipeline's) to ONNX, "
        "verify each against PyTorch and write OUT_DIR/manifest.json.",
    )
    p.add_argument("what", nargs="?", choices=PIPELINES, help="which pipeline's networks")
    p.add_argument(
        "--all",
        action="store_true",
        help="every pipeline into one folder: charts (bundled or --model), StyTr² "
        "(--stytr2) and unCLIP (--unclip) where those folders exist",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="the PyTorch model folder (chart: the onset model, default bundled; "
        "stytr2: import-stytr2's; unclip: a Karlo folder or hub id)",
    )
    p.add_argument(
        "--steps-model",
        type=Path,
        default=None,
        help="chart: the step-selection model (default bundled)",
    )
    p.add_argument("--stytr2", type=Path, default=STYTR2_DIR, help="--all: the StyTr² folder")
    p.add_argument("--unclip", type=Path, default=UNCLIP_DIR, help="--all: the unCLIP folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="export folder")
    p.add_argument(
        "--opset",
        type=int,
        default=None,
        help=f"ONNX opset for every graph (default: each graph's own; {DEFAULT_OPSET} for most)",
    )
    p.add_argument("--exporter", choices=EXPORTERS, default="dynamo")
    p.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 graphs (for GPUs) through onnxruntime's float16 converter, each "
        "checked against the fp32 PyTorch network",
    )
    p.set_defaults(run=run_export)


def run_export(args) -> dict:
    from export.onnx import ExportError, export_graphs

    report = lambda line: print(line, file=sys.stderr)  # noqa: E731
    specs = []
    for what, model in _pipelines(args, report):
        specs += _specs(what, model, args.steps_model)
    precision = PRECISIONS[1] if args.fp16 else PRECISIONS[0]
    try:
        manifest = export_graphs(
            specs,
            args.output,
            opset=args.opset,
            exporter=args.exporter,
            report=report,
            precision=precision,
        )
    except ExportError as e:
        print(f"export failed: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    return {"folder": str(args.output), "graphs": sorted(manifest["graphs"])}


def _pipelines(args, report) -> list[tuple[str, Path | None]]:
    """(pipeline, model folder) pairs to export."""
    if args.all == (args.what is not None):
        raise ValueError("name one pipeline (chart, stytr2, unclip) or give --all")
    if not args.all:
        return [(args.what, args.model)]
    chosen = [("chart", args.model)]
    for what, folder in (("stytr2", args.stytr2), ("unclip", args.unclip)):
        if folder.exists():
            chosen.append((what, folder))
        else:
            report(f"{what}: no model at {folder}, not exported (give --{what} DIR)")
    return chosen


def _specs(what: str, model: Path | None, steps_model: Path | None = None) -> list:
    if what == "chart":
        from genelive.graphs import graph_specs

        return graph_specs(model, steps_model)
    if model is None:
        raise ValueError(f"export {what} needs --model")
    if what == "stytr2":
        from stytr2.backends import graph_specs

        return graph_specs(model)
    from unclip.components import KarloFolder, resolve_model
    from unclip.nets import graph_specs

    return graph_specs(KarloFolder(resolve_model(model)))
