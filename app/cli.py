"""`studio`: the command line of GenéLive Studio."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from app import commands
from app.batch.commands import add_batch_parser
from app.export_commands import add_export_parser
from app.messages import for_cli
from app.options import add_chart_options, add_style_options, minutes, number
from app.paths import JOBS_DIR, STYTR2_DIR, UNCLIP_DIR
from app.unclip_commands import add_unclip_parsers


def _add_model(p: argparse.ArgumentParser, help_text: str = "model folder (default: bundled)"):
    p.add_argument("--model", type=Path, default=None, help=help_text)


def _add_allow_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept checkpoints holding arbitrary Python objects (may run code: trust needed)",
    )


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what is wrong, where to read more) and exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="studio",
        description="GenéLive Studio: charts from songs, style transfer, images from text.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("app", help="start the web app")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    _add_model(p, "onset model folder for the Charts tab (default: bundled)")
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
    p.add_argument("--onnx", type=Path, default=None,
                   help="a `studio export` folder: every tab whose graphs it holds runs on "
                        "onnxruntime from it (instead of --model/--stytr2/--unclip)")  # fmt: skip
    p.set_defaults(run=commands.run_app)

    p = sub.add_parser("onsets", help="onset activations of a song, per difficulty, to .npz")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    _add_model(p)
    p.add_argument(
        "--tempo-map",
        help="KLab tempo map as JSON: '[[bpm, start_ms, beats_per_measure], ...]' "
        "(without it the beat guide is empty)",
    )
    p.add_argument("--max-minutes", type=minutes, default=15.0, help="refuse longer audio")
    p.set_defaults(run=commands.run_onsets)

    p = sub.add_parser("tempo", help="estimate BPM and offset of a song from its audio")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--max-minutes", type=minutes, default=15.0, help="refuse longer audio")
    p.set_defaults(run=commands.run_tempo)

    p = sub.add_parser("chart", help="charts for a song: .sm/.ssc/.osu/.json + audio copy")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("-o", "--output", type=Path, required=True, help="song folder to write")
    add_chart_options(p)
    p.add_argument("--bpm", type=number, default=None, help="the song's tempo (else estimated)")
    p.add_argument("--offset", type=number, default=None,
                   help="StepMania #OFFSET in seconds: beat 0 falls at -offset (needs --bpm; "
                        "without it the beat phase is estimated for the given BPM)")  # fmt: skip
    p.add_argument("--timing-from", type=Path, default=None,
                   help="take the tempo map of an existing .sm/.ssc/.osu/.json chart of this "
                        "audio")  # fmt: skip
    p.add_argument("--title", default=None, help="song title (default: audio tags or file name)")
    p.add_argument("--artist", default=None, help="artist (default: audio tags)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the song folder whole if it exists (else it must be new or "
                        "empty)")  # fmt: skip
    p.set_defaults(run=commands.run_chart)

    p = sub.add_parser("train-steps", help="train the step-selection (arrows, holds) model")
    p.add_argument("data_dir", type=Path, help="folder tree of .sm/.ssc/.osu with their audio")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--split-from",
        type=Path,
        default=None,
        help="onset model folder whose train/validation split to use (default: bundled)",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=commands.run_train_steps)

    p = sub.add_parser("import-stytr2", help="import the official StyTr² .pth files")
    p.add_argument("source", type=Path, help="folder with the four official .pth files")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    _add_allow_pickle(p)
    p.set_defaults(run=commands.run_import_stytr2)

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
    p.set_defaults(run=commands.run_train_stytr2)

    p = sub.add_parser("style", help="style transfer: a content image in the style of others")
    p.add_argument("content", type=Path, help="content image")
    p.add_argument("style", type=Path, nargs="+", help="style image(s)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .png")
    add_style_options(p)
    p.set_defaults(run=commands.run_style)

    add_unclip_parsers(sub)
    add_export_parser(sub)
    add_batch_parser(sub)

    p = sub.add_parser("import-klab", help="import a KLab GenéLive! state dict (.pth)")
    p.add_argument("checkpoint", type=Path, help="KLab SimpleOnsets state dict")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    _add_allow_pickle(p)
    p.set_defaults(run=commands.run_import_klab)

    p = sub.add_parser("train-charts", help="train an onset model on charts with audio")
    p.add_argument("data_dir", type=Path, help="folder tree of .sm/.ssc/.osu with their audio")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--config",
        default="small",
        choices=sorted(commands.PRESETS),
        help="paper: KLab's sizes; small: trains on a CPU; ddc / librosa: the baselines",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1000)")
    p.add_argument("--batch", type=int, default=None, help="windows per step (default 8)")
    p.add_argument(
        "--downbeat-value",
        type=number,
        default=None,
        help="beat-guide value on measure starts (GenéLive configs; default 1 = KLab's)",
    )
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 150)")
    p.add_argument("--validate-every", type=int, default=None, help="steps between validations")
    p.add_argument("--pos-weight", type=number, default=None, help="weight of onset frames")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the conv stack for training (≈1.7× faster on CPU after ~2 min)",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=commands.run_train)

    p = sub.add_parser("tune-decoding", help="choose a model's onset thresholds on validation")
    p.add_argument("data_dir", type=Path, help="the charts the model was trained on")
    p.add_argument("--model", type=Path, required=True, help="model folder to update")
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=commands.run_tune)

    p = sub.add_parser("eval-charts", help="evaluate onsets against every chart in a folder")
    p.add_argument("data_dir", type=Path)
    _add_model(p)
    p.add_argument(
        "--split",
        choices=("all", "train", "validation"),
        default="all",
        help="only the songs of this side of the model's training split",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip the bundled baselines")
    p.add_argument(
        "--no-tempo", action="store_true", help="skip estimating BPM and offset from the audio"
    )
    p.add_argument(
        "--snap",
        action="store_true",
        help="snap estimated onsets to each chart's beat grid (default subdivisions per level)",
    )
    p.add_argument(
        "--generated",
        action="store_true",
        help="also generate whole charts (studio chart) and score their notes, on the charts' "
        "tempo maps and on the estimated tempo",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=commands.run_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    args.command_line = "studio " + shlex.join(argv)
    try:
        result = args.run(args)
    except commands.USER_ERRORS as e:
        print(f"error: {for_cli(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if result is not None:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
