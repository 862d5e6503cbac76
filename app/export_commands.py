"""`studio export`: networks to ONNX, each verified against PyTorch, with a manifest."""

from __future__ import annotations

import sys
from pathlib import Path

from export.onnx import DEFAULT_OPSET, EXPORTERS, ExportError, export_graphs


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="export networks to ONNX, verified, with a manifest")
    p.add_argument("what", choices=["chart", "stytr2", "unclip"], help="which pipeline's networks")
    p.add_argument("--model", type=Path, default=None,
                   help="the PyTorch model folder (chart: the onset model, default bundled; "
                        "stytr2: import-stytr2's; unclip: a Karlo folder)")  # fmt: skip
    p.add_argument(
        "--steps-model",
        type=Path,
        default=None,
        help="chart: the step-selection model (default bundled)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="export folder")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--exporter", choices=EXPORTERS, default="dynamo")
    p.set_defaults(run=run_export)


def add_backend_option(p, what: str) -> None:
    """`--backend torch|onnx` for a command whose --model may be an export folder."""
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help=f"onnx: --model is a folder `studio export {what}` wrote")  # fmt: skip


def run_export(args) -> dict:
    specs = _specs(args.what, args.model, args.steps_model)
    report = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        manifest = export_graphs(specs, args.output, opset=args.opset, exporter=args.exporter,
                                 report=report)  # fmt: skip
    except ExportError as e:
        print(f"export failed: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    return {"folder": str(args.output), "graphs": sorted(manifest["graphs"])}


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
