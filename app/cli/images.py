"""unCLIP on the command line: imagine, vary, interpolate, text-diff, make-tiny-unclip."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.options import add_backend_option, number
from app.paths import UNCLIP_DIR


def add_parsers(sub) -> None:
    p = sub.add_parser("imagine", help="images from a text prompt (unCLIP / Karlo)")
    p.add_argument("prompt", nargs="?", default=None, help="what to draw")
    p.add_argument(
        "--from-png",
        type=Path,
        default=None,
        help="redo an image of ours: its prompt, seed, steps and guidance (give the same "
        "--model: the PNG records only its name)",
    )
    _common(p, stages="P,D,S", guidance="P,D")
    p.add_argument("--num-images", type=int, default=1, help="images i = 0..K-1 use seed + i")
    p.set_defaults(run=run_imagine)

    p = sub.add_parser("vary", help="variations of an image (unCLIP image embedding → decoder)")
    p.add_argument("image", type=Path)
    _common(p, stages="D,S", guidance="D")
    p.add_argument("--num-images", type=int, default=1, help="images i = 0..K-1 use seed + i")
    p.set_defaults(run=run_vary)

    p = sub.add_parser("interpolate", help="frames between two images or two prompts")
    p.add_argument("a", help="image file or prompt")
    p.add_argument("b", help="image file or prompt")
    p.add_argument("--frames", type=int, default=5, help="frames, both ends included")
    _common(p, stages="P,D,S", guidance="P,D")
    p.set_defaults(run=run_interpolate)

    p = sub.add_parser("text-diff", help="move an image toward a new caption (DALL·E 2 text diff)")
    p.add_argument("image", type=Path)
    p.add_argument("--to", required=True, help="the caption to move toward")
    p.add_argument("--from", dest="from_caption", default="", help="its current caption")
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--strength", type=number, default=0.5, help="largest fraction of the angle")
    _common(p, stages="D,S", guidance="D")
    p.set_defaults(run=run_text_diff)

    p = sub.add_parser("make-tiny-unclip", help="a random-weight Karlo-format folder (tests)")
    p.add_argument("output", type=Path)
    p.add_argument(
        "--size",
        choices=["tiny", "mid"],
        default="tiny",
        help="tiny: seconds per image; mid: 1/8 of Karlo's widths",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_make_tiny)


def _common(p: argparse.ArgumentParser, stages: str, guidance: str) -> None:
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNGs")
    add_unclip_options(p, stages, guidance)


def add_unclip_options(
    p: argparse.ArgumentParser, stages: str, guidance: str, seed_default: int | None = None
) -> None:
    p.add_argument(
        "--model", default=None, help=f"Karlo-format folder or hub id (default {UNCLIP_DIR})"
    )
    seed_help = (
        "default: random (recorded in the PNG)"
        if seed_default is None
        else (f"default {seed_default}; images i = 0..K-1 of a prompt use seed + i")
    )
    p.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    from unclip.settings import DEFAULT_GUIDANCE, DEFAULT_STEPS

    def defaults(letters: str, values) -> str:  # "D,S" → "25,7"
        stage = {"P": "prior", "D": "decoder", "S": "super_res"}
        return ",".join(f"{getattr(values, stage[x]):g}" for x in letters.split(","))

    steps_default, guidance_default = (
        defaults(stages, DEFAULT_STEPS),
        defaults(guidance, DEFAULT_GUIDANCE),
    )
    p.add_argument(
        "--steps", default=None, help=f"steps per stage, {stages} (default {steps_default})"
    )
    p.add_argument(
        "--guidance", default=None, help=f"guidance scales, {guidance} (default {guidance_default})"
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    add_backend_option(p, "unclip")


def _numbers(text: str | None, names: tuple[str, ...], kind: type, flag: str) -> dict:
    if text is None:
        return {}
    parts = [x for x in text.replace(" ", "").split(",") if x]
    if len(parts) != len(names):
        raise ValueError(f"{flag} takes {len(names)} values ({','.join(names)}), not {text!r}")
    try:
        return {name: kind(x) for name, x in zip(names, parts, strict=True)}
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not {len(names)} {kind.__name__} values") from None


def stage_settings(args, stages: tuple[str, ...], scales: tuple[str, ...]):
    from unclip import Guidance, Steps

    steps = Steps(**_numbers(args.steps, stages, int, "--steps"))
    guidance = Guidance(**_numbers(args.guidance, scales, float, "--guidance"))
    return steps, guidance


def _load(args):
    from app.runtime import quiet_model_loading
    from unclip import UnCLIP

    quiet_model_loading()
    model = args.model or UNCLIP_DIR
    pipe = UnCLIP.load(model, backend=args.backend, device=args.device)
    if pipe.is_tiny_random:
        print(f"note: {model} is a random-weight test model; its images are noise", file=sys.stderr)
    return pipe


def _report(result, out_dir: Path, stem: str) -> dict:
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    paths = result.save(out_dir, stem)
    return {"files": [str(p) for p in paths], "seeds": [p["seed"] for p in result.parameters]}


def _progress(fraction: float, what: str) -> None:
    print(f"\r{100 * fraction:5.1f}% {what:<50}", end="", file=sys.stderr, flush=True)
    if fraction >= 1.0:
        print(file=sys.stderr)


def run_imagine(args) -> dict:
    from export.images import png_parameters
    from unclip import Guidance, Steps

    if args.from_png is not None:
        params = png_parameters(args.from_png)
        if params.get("task") != "imagine" or "prompt" not in params:
            raise ValueError(f"{args.from_png}: not an image made by `studio imagine`")
        prompt, seed, num = params["prompt"], int(params["seed"]), 1
        steps, guidance = Steps(**params["steps"]), Guidance(**params["guidance"])
    else:
        if args.prompt is None:
            raise ValueError("give a prompt (or --from-png IMAGE)")
        prompt, seed, num = args.prompt, args.seed, args.num_images
        steps, guidance = stage_settings(
            args, ("prior", "decoder", "super_res"), ("prior", "decoder")
        )
    result = _load(args).text_to_image(
        prompt, num_images=num, seed=seed, steps=steps, guidance=guidance, progress=_progress
    )
    return _report(result, args.output, "imagine")


def run_vary(args) -> dict:
    steps, guidance = stage_settings(args, ("decoder", "super_res"), ("decoder",))
    result = _load(args).variations(
        args.image,
        num_images=args.num_images,
        seed=args.seed,
        steps=steps,
        guidance=guidance,
        progress=_progress,
    )
    return _report(result, args.output, f"{args.image.stem}-variation")


def run_interpolate(args) -> dict:
    steps, guidance = stage_settings(args, ("prior", "decoder", "super_res"), ("prior", "decoder"))
    result = _load(args).interpolate(
        _end(args.a),
        _end(args.b),
        frames=args.frames,
        seed=args.seed,
        steps=steps,
        guidance=guidance,
        progress=_progress,
    )
    return _report(result, args.output, "frame")


def _end(text: str) -> Path | str:
    """An interpolation end on the command line: an image file that exists, else a prompt."""
    try:
        return Path(text) if Path(text).is_file() else text
    except OSError:  # too long to be a file name
        return text


def run_text_diff(args) -> dict:
    steps, guidance = stage_settings(args, ("decoder", "super_res"), ("decoder",))
    result = _load(args).text_diff(
        args.image,
        args.to,
        args.from_caption,
        frames=args.frames,
        strength=args.strength,
        seed=args.seed,
        steps=steps,
        guidance=guidance,
        progress=_progress,
    )
    return _report(result, args.output, f"{args.image.stem}-diff")


def run_make_tiny(args) -> dict:
    from unclip.tiny import make_tiny_unclip

    folder = make_tiny_unclip(args.output, size=args.size, seed=args.seed)
    return {"folder": str(folder), "note": "random weights, for tests and benchmarks only"}
