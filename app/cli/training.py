"""`studio` for the chart models themselves: train-charts, tune-decoding, eval-charts,
train-steps, tune-steps, import-klab."""

from __future__ import annotations

from pathlib import Path

from app.cli.options import add_allow_pickle, add_model, number
from genelive.onsets.config import PRESETS


def add_parsers(sub) -> None:
    p = sub.add_parser("train-charts", help="train an onset model on charts with audio")
    p.add_argument("data_dir", type=Path, help="folder tree of .sm/.ssc/.osu with their audio")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--config",
        default="small",
        choices=sorted(PRESETS),
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
    p.add_argument(
        "--split-from",
        type=Path,
        default=None,
        help="use the train/validation/test songs another model folder records (training.json)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for training (default: every core, up to 8)",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=run_train)

    p = sub.add_parser("tune-decoding", help="choose a model's onset thresholds on validation")
    p.add_argument("data_dir", type=Path, help="the charts the model was trained on")
    p.add_argument("--model", type=Path, required=True, help="model folder to update")
    p.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    p.set_defaults(run=run_tune)

    p = sub.add_parser("eval-charts", help="evaluate onsets against every chart in a folder")
    p.add_argument("data_dir", type=Path)
    add_model(p)
    p.add_argument(
        "--split",
        choices=("all", "train", "validation", "test"),
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
    p.set_defaults(run=run_eval)

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
    p.set_defaults(run=run_train_steps)

    p = sub.add_parser(
        "tune-steps", help="refit a step model's meters (train) and hold rate (validation)"
    )
    p.add_argument("data_dir", type=Path, help="the charts the model was trained on")
    p.add_argument("--model", type=Path, required=True, help="step model folder to update")
    p.add_argument(
        "--onset-model",
        type=Path,
        default=None,
        help="onset model whose rows the hold rate is fitted on (default: bundled)",
    )
    p.set_defaults(run=run_tune_steps)

    p = sub.add_parser("import-klab", help="import a KLab GenéLive! state dict (.pth)")
    p.add_argument("checkpoint", type=Path, help="KLab SimpleOnsets state dict")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write")
    add_allow_pickle(p)
    p.set_defaults(run=run_import_klab)


def run_train(args) -> None:
    import dataclasses

    from app.runtime import use_training_threads
    from genelive.onsets.config import PRESETS, OnsetConfig
    from genelive.training.data import DEFAULT_CACHE, model_split
    from genelive.training.onsets import TrainConfig, train

    overrides = {
        k: v
        for k, v in {
            "steps": args.steps,
            "batch_windows": args.batch,
            "warmup_steps": args.warmup,
            "validate_every": args.validate_every,
            "pos_weight": args.pos_weight,
            "seed": args.seed,
            "compile": args.compile or None,
        }.items()
        if v is not None
    }
    tc = dataclasses.replace(TrainConfig(), **overrides)
    config = PRESETS[args.config]
    if args.downbeat_value is not None:
        if not isinstance(config, OnsetConfig):
            raise ValueError("--downbeat-value applies to the GenéLive configs (small, paper)")
        config = dataclasses.replace(config, downbeat_value=args.downbeat_value)
    split = None
    if args.split_from is not None:
        split = model_split(args.split_from)
        if split is None:
            raise ValueError(f"--split-from {args.split_from}: records no split (training.json)")
    if args.threads is not None and not 1 <= args.threads <= 256:
        raise ValueError(f"--threads {args.threads}: give 1 to 256")
    use_training_threads(args.threads)
    train(
        args.data_dir,
        args.output,
        config,
        tc,
        args.cache_dir or DEFAULT_CACHE,
        command=args.command_line,
        split=split,
    )


def run_tune(args) -> None:
    from genelive.onsets.model import OnsetModel
    from genelive.training.data import DEFAULT_CACHE
    from genelive.training.validation import retune_decoding

    report = retune_decoding(args.data_dir, args.model, args.cache_dir or DEFAULT_CACHE)
    d = OnsetModel.load(args.model).config.decoding
    print(
        f"decoding of {args.model}: thresholds {list(d.thresholds)}, "
        f"minimum gaps {list(d.min_gap_frames)} frames"
    )
    print(_format_table("on the validation songs", [("model", report)]))


def run_eval(args) -> dict | None:
    from genelive.evaluation.charts import eval_charts
    from genelive.training.data import DEFAULT_CACHE

    report = eval_charts(
        args.data_dir,
        args.model,
        args.split,
        not args.no_baselines,
        args.cache_dir or DEFAULT_CACHE,
        tempo=not args.no_tempo,
        snap=args.snap,
        generated=args.generated,
    )
    if args.json:
        return report
    title = f"{report['songs']} songs, {report['charts']} charts ({report['split']})"
    rows = [("GenéLive", report["onset"]), *report.get("baselines", {}).items()]
    rows += [(f"generated, {k[:-7]} tempo", v) for k, v in report.get("generated", {}).items()]
    print(_format_table(title, rows))
    for name, rep in rows:
        packs = rep.get("per_pack", {})
        if len(packs) > 1:
            cells = ", ".join(f"{k} {v['tol_50ms']['all']['f']:.3f}" for k, v in packs.items())
            print(f"{name}, micro-F1 ±50ms per pack: {cells}")
        if "notes_vs_human" in rep:
            cells = ", ".join(f"{d} {r:.2f}" for d, r in rep["notes_vs_human"].items())
            print(f"{name}, notes / human notes: {cells}; meter MAE {rep['meter_mae']['all']:.2f}")
    if "tempo" in report:
        t = report["tempo"]
        print(
            f"\ntempo from audio ({t['songs']} songs): acc1 {t['acc1']:.3f}, acc2 {t['acc2']:.3f}; "
            f"beat phase within 20 ms: {t['offset_within_20ms']:.3f} "
            f"of {t['constant_tempo_songs']} constant-tempo songs"
        )
    return None


def _format_table(title: str, rows: list[tuple[str, dict]]) -> str:
    """micro-F1 per difficulty, one row per model, for both tolerances."""
    from genelive.difficulty import DIFFICULTIES

    columns = (*DIFFICULTIES, "all")
    lines = [title]
    for tol in ("tol_50ms", "tol_20ms"):
        lines.append(f"\nmicro-F1 ±{tol[4:]:<9}" + "  ".join(f"{d[:9]:>9}" for d in columns))
        for name, rep in rows:
            cells = [f"{rep[tol][d]['f']:9.3f}" if d in rep[tol] else " " * 9 for d in columns]
            lines.append(f"{name:<17}" + "  ".join(cells))
    return "\n".join(lines)


def run_train_steps(args) -> None:
    from genelive.onsets.config import DEFAULT_MODEL
    from genelive.training.corpus import scan_charts
    from genelive.training.data import DEFAULT_CACHE, model_split, songs_in_split
    from genelive.training.steps import StepTrainConfig, train_steps

    songs = scan_charts(args.data_dir)
    split_from = args.split_from or DEFAULT_MODEL
    train = songs_in_split(songs, split_from, "train")
    val = songs_in_split(songs, split_from, "validation")
    split = model_split(split_from) or {}
    test = songs_in_split(songs, split_from, "test") if split.get("test") else []
    report = train_steps(
        train,
        val,
        args.output,
        train_config=StepTrainConfig(steps=args.steps, seed=args.seed),
        cache_dir=args.cache_dir or DEFAULT_CACHE,
        extra={"data_dir": str(args.data_dir), "command": args.command_line},
        test_songs=test,
        onset_model_dir=split_from,
    )
    for side in ("validation", "test"):
        ppl = report.get(f"{side}_perplexity", {})
        for name in ("model", "bigram", "unigram"):
            if name in ppl:
                print(f"{side} perplexity {name:<8} {ppl[name]['all']:.3f}")
    print(f"wrote {args.output} (best step {report['best_step']})")


def run_tune_steps(args) -> None:
    from genelive.training.steps import retune_steps

    config = retune_steps(args.data_dir, args.model, args.onset_model)
    print(f"{args.model}: hold bias (logits) {config.hold_bias}")
    print(f"meter fits (a + b·notes/s + c·peak rows/s) {config.meter_fit}")


def run_import_klab(args) -> None:
    from genelive.onsets.klab import import_klab

    config = import_klab(args.checkpoint, args.output, allow_pickle=args.allow_pickle)
    print(
        f"imported {args.checkpoint} → {args.output} ({config.features} features, "
        f"LSTM {config.lstm_layers}×{config.lstm_hidden})"
    )
