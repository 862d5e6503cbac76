"""`studio batch charts|style|imagine`: a whole catalogue in one command, locally or on Ray."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from app.cli.options import add_chart_options, add_style_options


def add_parsers(sub) -> None:
    batch = sub.add_parser(
        "batch",
        help="chart, restyle or imagine a whole catalogue (resumable; local or on Ray)",
        description="Every item gets its own status in OUT_DIR/batch.json; a rerun skips what "
        "is done and retries what failed. Exit status 1 when any item failed.",
    )
    kinds = batch.add_subparsers(dest="kind", required=True, metavar="KIND")

    p = kinds.add_parser("charts", help="a song folder per audio file of SONGS_DIR (recursive)")
    p.add_argument("source", type=Path, metavar="SONGS_DIR")
    add_chart_options(p)
    _add_common(p)

    p = kinds.add_parser("style", help="a restyled PNG per image of CONTENT_DIR (recursive)")
    p.add_argument("source", type=Path, metavar="CONTENT_DIR")
    p.add_argument("--style", type=Path, nargs="+", required=True, help="style image(s)")
    add_style_options(p)
    _add_common(p)

    from app.cli.images import add_unclip_options

    p = kinds.add_parser("imagine", help="images for each line of PROMPTS.txt")
    p.add_argument(
        "source", type=Path, metavar="PROMPTS.txt", help="one prompt per line; # starts a comment"
    )
    add_unclip_options(p, stages="P,D,S", guidance="P,D", seed_default=0)
    p.add_argument("--num-images", type=int, default=1, help="images i = 0..K-1 use seed + i")
    _add_common(p)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", type=Path, required=True, help="batch folder")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: a local instance, or the cluster at ADDRESS (auto, "
        "ray://head:10001); needs genelive-studio[ray]",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Ray actors (default: one per GPU, else one per CPU)",
    )
    p.set_defaults(run=run_batch_command)


def settings_of(args) -> dict:
    """Everything that changes an item's output, as stored in the manifest."""
    path = lambda p: None if p is None else str(Path(p).resolve())  # noqa: E731
    if args.kind == "charts":
        from app.cli.charts import parse_density
        from genelive.settings import parse_difficulties

        return {
            "model": path(args.model),
            "steps_model": path(args.steps_model),
            "backend": args.backend,
            "difficulties": parse_difficulties(args.difficulties),
            "formats": sorted(set(args.formats.split(","))),
            "seed": args.seed,
            "density": parse_density(args.density),
            "temperature": args.temperature,
            "keys": args.keys,
            "preview": args.preview,
            "max_minutes": args.max_minutes,
        }
    if args.kind == "style":
        return {
            "model": path(args.model),
            "backend": args.backend,
            "styles": [path(p) for p in args.style],
            "alpha": args.alpha,
            "preserve_color": args.preserve_color,
            "style_weights": args.style_weights,
            "size": args.size,
        }
    from app.cli.images import stage_settings
    from app.paths import UNCLIP_DIR

    steps, guidance = stage_settings(args, ("prior", "decoder", "super_res"), ("prior", "decoder"))
    model = args.model or UNCLIP_DIR
    return {
        "model": path(model) if Path(model).exists() else str(model),
        "backend": args.backend,
        "device": args.device,
        "seed": args.seed,
        "num_images": args.num_images,
        "steps": asdict(steps),
        "guidance": asdict(guidance),
    }


def run_batch_command(args) -> dict:
    from app.batch.runner import Batch, run_batch, run_local
    from export.checks import check_number

    if args.workers is not None:  # checked before anything is written, Ray or not
        check_number(args.workers, "workers", 1, 100_000, integer=True)
        if args.ray is None:
            raise ValueError("--workers is for --ray: the local runner is one worker")
    batch = Batch.open(args.kind, args.source, args.output, settings_of(args))
    runner = run_local
    if args.ray is not None:
        from app.batch.on_ray import ray_runner

        runner = ray_runner(None if args.ray == "local" else args.ray, args.workers)
    summary = run_batch(batch, runner)
    print(
        f"{summary['done']} done, {summary['skipped']} skipped (done before), "
        f"{summary['failed']} failed in {summary['seconds']:.0f} s",
        file=sys.stderr,
    )
    if summary["failed"]:
        print(json.dumps(summary, indent=1, ensure_ascii=False))
        print(f"rerun the same command to retry the {summary['failed']} failed", file=sys.stderr)
        raise SystemExit(1)
    return summary
