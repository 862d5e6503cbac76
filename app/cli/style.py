"""`studio` for style transfer: style, import-stytr2, train-stytr2."""

from __future__ import annotations

from pathlib import Path

from app.cli.options import add_allow_pickle, add_style_options


def add_parsers(sub) -> None:
    p = sub.add_parser("style", help="style transfer: a content image in the style of others")
    p.add_argument("content", type=Path, help="content image")
    p.add_argument("style", type=Path, nargs="+", help="style image(s)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .png")
    add_style_options(p)
    p.set_defaults(run=run_style)

    p = sub.add_parser("import-stytr2", help="import the official StyTr² .pth files")
    p.add_argument("source", type=Path, help="folder with the four official .pth files")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    add_allow_pickle(p)
    p.set_defaults(run=run_import_stytr2)

    p = sub.add_parser("train-stytr2", help="train StyTr² (the paper's losses and schedule)")
    p.add_argument("--content", type=Path, required=True, help="folder of content images")
    p.add_argument("--style", type=Path, required=True, help="folder of style images")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--vgg",
        type=Path,
        default=None,
        help="the official vgg_normalised.pth (or the vgg/ folder import-stytr2 writes)",
    )
    p.add_argument("--init", type=Path, default=None, help="start from this StyTr² folder")
    p.add_argument("--steps", type=int, default=160_000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_train_stytr2)


def run_style(args) -> None:
    from export.atomic import OutputError, write_atomic
    from export.images import png_with_parameters
    from stytr2 import StyleTransfer

    if args.output.suffix.lower() != ".png":
        raise ValueError(f"{args.output}: write a .png (parameters are embedded in it)")
    image = StyleTransfer.load(args.model, backend=args.backend)(
        args.content,
        args.style,
        alpha=args.alpha,
        preserve_color=args.preserve_color,
        style_weights=args.style_weights,
        size=args.size,
    )
    params = {
        "generator": "GenéLive Studio stytr2",
        "content": args.content.name,
        "styles": [p.name for p in args.style],
        "alpha": args.alpha,
        "preserve_color": args.preserve_color,
        "style_weights": args.style_weights,
        "size": args.size,
        "model": str(args.model),
        "backend": args.backend,
    }
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.output, png_with_parameters(image, params))
    except OSError as e:
        raise OutputError(f"cannot write {args.output}: {e.strerror or e}") from e
    print(f"wrote {args.output} ({image.width}×{image.height})")


def run_import_stytr2(args) -> None:
    from stytr2.official import import_official

    out = import_official(args.source, args.output, allow_pickle=args.allow_pickle)
    print(f"imported {args.source} → {out} (and the loss network in {out / 'vgg'})")


def run_train_stytr2(args) -> None:
    from stytr2.train import StyleTrainConfig, train_stytr2

    tc = StyleTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
    history = train_stytr2(args.content, args.style, args.output, args.vgg, tc, init_dir=args.init)
    print(f"wrote {args.output} after {history[-1]['step']} steps (loss {history[-1]['loss']})")
