"""`studio app`: start the web app (or, with --onnx, run every tab an export folder serves on
onnxruntime)."""

from __future__ import annotations

from pathlib import Path

from app.cli.options import add_model
from app.paths import JOBS_DIR, STYTR2_DIR, UNCLIP_DIR


def add_parsers(sub) -> None:
    p = sub.add_parser("app", help="start the web app")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    add_model(p, "onset model folder for the Charts tab (default: bundled)")
    p.add_argument(
        "--jobs-dir",
        type=Path,
        default=JOBS_DIR,
        help="where results and history are kept, one folder per job",
    )
    p.add_argument(
        "--stytr2",
        type=Path,
        default=STYTR2_DIR,
        help="StyTr² folder for the Style tab (studio import-stytr2 writes one)",
    )
    p.add_argument(
        "--unclip",
        type=Path,
        default=UNCLIP_DIR,
        help="Karlo-format unCLIP folder for the Images tab",
    )
    p.add_argument(
        "--onnx",
        type=Path,
        default=None,
        help="a `studio export` folder: every tab whose graphs it holds runs on "
        "onnxruntime from it (instead of --model/--stytr2/--unclip)",
    )
    p.set_defaults(run=run_app)


def run_app(args) -> None:
    from app.web import launch

    folders = {"model": args.model, "stytr2": args.stytr2, "unclip": args.unclip}
    if args.onnx is not None:
        folders |= onnx_app_folders(args.onnx)
    launch(
        host=args.host,
        port=args.port,
        model_dir=folders["model"],
        jobs_dir=args.jobs_dir,
        stytr2_dir=folders["stytr2"],
        unclip_dir=folders["unclip"],
    )


def onnx_app_folders(export_dir: Path) -> dict[str, Path]:
    """The app's model options an export folder serves: each pipeline whose graphs it holds."""
    from export.manifest import read_manifest

    names = read_manifest(export_dir)["graphs"]
    options = {"chart/": "model", "stytr2/": "stytr2", "unclip/": "unclip"}
    return {
        option: export_dir
        for prefix, option in options.items()
        if any(n.startswith(prefix) for n in names)
    }
