"""What each `studio` subcommand does: parse-free functions over argparse namespaces."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np

from export.atomic import write_atomic
from export.checks import check_number, parse_json
from export.folder import ModelFolderError
from export.images import ImageError, png_with_parameters
from genelive.audio import AudioError, load_audio
from genelive.difficulty import DIFFICULTIES
from genelive.formats.osu import OsuError
from genelive.formats.songfolder import OutputError
from genelive.onsets.config import PRESETS, OnsetConfig
from genelive.onsets.model import OnsetModel
from genelive.timing import BeatGrid, check_bpm
from genelive.training.data import DEFAULT_CACHE

# Errors that mean "the input is wrong": printed as one line, exit status 2, no traceback.
USER_ERRORS = (
    AudioError,
    ImageError,
    ModelFolderError,
    OsuError,
    FileNotFoundError,
    FileExistsError,
    ValueError,
    OutputError,
)

__all__ = ["PRESETS", "USER_ERRORS"]


def parse_tempo_map(text: str) -> list[list[float]]:
    try:
        entries = parse_json(text, "--tempo-map")
        if not isinstance(entries, list) or not entries:
            raise ValueError
        return [
            [
                check_bpm(bpm),
                check_number(start_ms, "start_ms"),
                check_number(per, "", 1, 64, integer=True),
            ]
            for bpm, start_ms, per in entries
        ]
    except (ValueError, TypeError) as e:
        raise ValueError(
            "--tempo-map must be JSON like '[[120, 0, 4]]' (bpm, start_ms, beats_per_measure)"
        ) from e


def run_onsets(args) -> None:
    audio = load_audio(args.audio, max_duration_s=args.max_minutes * 60)
    model = OnsetModel.load(args.model)
    if model.model_type != "genelive-onset":
        raise ValueError(
            f"{model.folder}: `studio onsets` needs a GenéLive! model, not {model.model_type}"
        )
    log_mel = model.features(audio)
    grid = None
    if not args.tempo_map:
        print(
            "note: no --tempo-map given; the beat guide is empty (the model is surer with it: "
            "`studio tempo SONG` estimates BPM and offset)"
        )
    else:
        grid = BeatGrid.from_bpm_info(parse_tempo_map(args.tempo_map), len(log_mel) / model.fps)
    act = model.activations(log_mel, grid, DIFFICULTIES)
    buffer = io.BytesIO()
    np.savez(buffer, log_mel=act.features, beats=act.beats, onset_probs=act.probs)
    write_atomic(args.output, buffer.getvalue())
    print(
        f"wrote {args.output}: log_mel {act.features.shape}, beats {act.beats.shape}, "
        f"onset_probs {act.probs.shape} ({', '.join(DIFFICULTIES)})"
    )


def run_tempo(args) -> dict | None:
    from genelive.tempo import estimate_tempo

    estimate = estimate_tempo(load_audio(args.audio, max_duration_s=args.max_minutes * 60))
    candidates = [dataclasses.asdict(c) for c in estimate.candidates]
    if args.json:
        return {
            "bpm": estimate.bpm,
            "offset": estimate.offset_s,
            "unsure": estimate.unsure,
            "candidates": candidates,
        }
    print(f"{args.audio.name}: {estimate.bpm:g} BPM, offset {estimate.offset_s:+.3f} s")
    if estimate.unsure:
        print("unsure: the candidates below score close; listen and choose one")
    for c in candidates:
        print(
            f"  {c['bpm']:8.3f} BPM  offset {c['offset_s']:+.3f} s  "
            f"confidence {c['confidence']:.2f}  {c['relation']}"
        )
    return None


def parse_density(text: str | None) -> dict[str, float]:
    """ "hard=4.5,challenge=7" → {"hard": 4.5, "challenge": 7.0}."""
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--density wants DIFFICULTY=NOTES_PER_SECOND pairs, not {item!r}")
    return out


def run_chart(args) -> dict | None:
    from genelive.formats.songfolder import check_formats
    from genelive.generator import ChartGenerator

    formats = check_formats(args.formats)
    density = parse_density(args.density)
    generator = ChartGenerator.load(args.model, args.steps_model, backend=args.backend)
    song = generator(
        args.audio,
        difficulties=args.difficulties,
        seed=args.seed,
        bpm=args.bpm,
        offset_s=args.offset,
        timing_from=args.timing_from,
        density_nps=density,
        temperature=args.temperature,
        keys=args.keys,
        title=args.title,
        artist=args.artist,
        max_duration_s=args.max_minutes * 60,
    )
    files = song.save(args.output, formats, preview=args.preview, replace=args.overwrite)
    summary = song.summary() | {"files": [str(f) for f in files]}
    if args.json:
        return summary
    tempo = f"{summary['bpm']:g} BPM, offset {summary['offset']:+.4f} s"
    if song.tempo is not None:
        tempo += " (estimated" + (", UNSURE: check it" if song.tempo.unsure else "") + ")"
    print(f"{args.audio.name}: {tempo}")
    for c in summary["charts"]:
        print(
            f"  {c['difficulty']:<10} meter {c['meter']:>2}  {c['notes']:>5} notes  "
            f"{c['holds']:>4} holds  {c['nps']:.2f} notes/s"
        )
    print(f"wrote {len(files)} files to {args.output}")
    return None


def run_train_steps(args) -> None:
    from genelive.onsets.config import DEFAULT_MODEL
    from genelive.training.corpus import scan_charts
    from genelive.training.data import songs_in_split
    from genelive.training.steps import StepTrainConfig, train_steps

    songs = scan_charts(args.data_dir)
    split_from = args.split_from or DEFAULT_MODEL
    train = songs_in_split(songs, split_from, "train")
    val = songs_in_split(songs, split_from, "validation")
    report = train_steps(
        train,
        val,
        args.output,
        train_config=StepTrainConfig(steps=args.steps, seed=args.seed),
        cache_dir=args.cache_dir or DEFAULT_CACHE,
        extra={"data_dir": str(args.data_dir), "command": args.command_line},
    )
    ppl = report.get("validation_perplexity", {})
    for name in ("model", "bigram", "unigram"):
        if name in ppl:
            print(f"validation perplexity {name:<8} {ppl[name]['all']:.3f}")
    print(f"wrote {args.output} (best step {report['best_step']})")


def run_import_stytr2(args) -> None:
    from stytr2.official import import_official

    out = import_official(args.source, args.output, allow_pickle=args.allow_pickle)
    print(f"imported {args.source} → {out} (and the loss network in {out / 'vgg'})")


def run_train_stytr2(args) -> None:
    from stytr2.train import StyleTrainConfig, train_stytr2

    tc = StyleTrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
    history = train_stytr2(args.content, args.style, args.output, args.vgg, tc,
                           init_dir=args.init)  # fmt: skip
    print(f"wrote {args.output} after {history[-1]['step']} steps (loss {history[-1]['loss']})")


def run_style(args) -> None:
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


def run_import_klab(args) -> None:
    from genelive.onsets.klab import import_klab

    config = import_klab(args.checkpoint, args.output, allow_pickle=args.allow_pickle)
    print(
        f"imported {args.checkpoint} → {args.output} ({config.features} features, "
        f"LSTM {config.lstm_layers}×{config.lstm_hidden})"
    )


def run_train(args) -> None:
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
    train(
        args.data_dir,
        args.output,
        config,
        tc,
        args.cache_dir or DEFAULT_CACHE,
        command=args.command_line,
    )


def run_tune(args) -> None:
    from genelive.training.onsets import retune_decoding

    report = retune_decoding(args.data_dir, args.model, args.cache_dir or DEFAULT_CACHE)
    d = OnsetModel.load(args.model).config.decoding
    print(
        f"decoding of {args.model}: thresholds {list(d.thresholds)}, "
        f"minimum gaps {list(d.min_gap_frames)} frames"
    )
    print(_format_table("on the validation songs", [("model", report)]))


def run_eval(args) -> dict | None:
    from genelive.evaluation.charts import eval_charts

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
    columns = (*DIFFICULTIES, "all")
    lines = [title]
    for tol in ("tol_50ms", "tol_20ms"):
        lines.append(f"\nmicro-F1 ±{tol[4:]:<9}" + "  ".join(f"{d[:9]:>9}" for d in columns))
        for name, rep in rows:
            cells = [f"{rep[tol][d]['f']:9.3f}" if d in rep[tol] else " " * 9 for d in columns]
            lines.append(f"{name:<17}" + "  ".join(cells))
    return "\n".join(lines)


def run_app(args) -> None:
    from app.web import launch

    folders = {"model": args.model, "stytr2": args.stytr2, "unclip": args.unclip}
    if args.onnx is not None:
        folders |= onnx_app_folders(args.onnx)
    launch(host=args.host, port=args.port, model_dir=folders["model"], jobs_dir=args.jobs_dir,
           stytr2_dir=folders["stytr2"], unclip_dir=folders["unclip"])  # fmt: skip


def onnx_app_folders(export_dir: Path) -> dict[str, Path]:
    """The app's model options an export folder serves: each pipeline whose graphs it holds."""
    from export.manifest import read_manifest

    names = read_manifest(export_dir)["graphs"]
    options = {"chart/": "model", "stytr2/": "stytr2", "unclip/": "unclip"}
    return {option: export_dir for prefix, option in options.items()
            if any(n.startswith(prefix) for n in names)}  # fmt: skip
