"""`studio` for charts: chart, tempo, onsets, and training, tuning, evaluating and importing the
chart models. Subcommands are defined beside their handlers; the handlers import the library
when they run, so `studio --help` loads nothing but argparse."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.cli.options import add_chart_options, add_model, minutes, number


def add_parsers(sub) -> None:
    p = sub.add_parser("chart", help="charts for a song: .sm/.ssc/.osu/.json + audio copy")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("-o", "--output", type=Path, required=True, help="song folder to write")
    add_chart_options(p)
    p.add_argument("--bpm", type=number, default=None, help="the song's tempo (else estimated)")
    p.add_argument(
        "--offset",
        type=number,
        default=None,
        help="StepMania #OFFSET in seconds: beat 0 falls at -offset (needs --bpm; "
        "without it the beat phase is estimated for the given BPM)",
    )
    p.add_argument(
        "--timing-from",
        type=Path,
        default=None,
        help="take the tempo map of an existing .sm/.ssc/.osu/.json chart of this audio",
    )
    p.add_argument("--title", default=None, help="song title (default: audio tags or file name)")
    p.add_argument("--artist", default=None, help="artist (default: audio tags)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the song folder whole if it exists (else it must be new or empty)",
    )
    p.set_defaults(run=run_chart)

    p = sub.add_parser("tempo", help="estimate BPM and offset of a song from its audio")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--max-minutes", type=minutes, default=15.0, help="refuse longer audio")
    add_model(p, "onset model that checks the beat phase (default: bundled)")
    p.set_defaults(run=run_tempo)

    p = sub.add_parser("onsets", help="onset activations of a song, per difficulty, to .npz")
    p.add_argument("audio", type=Path, help="wav, flac, ogg or mp3")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    add_model(p)
    p.add_argument(
        "--tempo-map",
        help="KLab tempo map as JSON: '[[bpm, start_ms, beats_per_measure], ...]' "
        "(without it the beat guide is empty)",
    )
    p.add_argument("--max-minutes", type=minutes, default=15.0, help="refuse longer audio")
    p.set_defaults(run=run_onsets)


def run_chart(args) -> dict | None:
    clock = StageClock(args.verbose)
    clock(0.0, "importing the chart pipeline")
    from genelive.formats.songfolder import check_formats
    from genelive.generator import ChartGenerator

    formats = check_formats(args.formats)
    density = parse_density(args.density)
    clock(0.0, "loading models")
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
        progress=clock,
    )
    clock(1.0, "writing files" + (" and previews" if args.preview else ""))
    files = song.save(args.output, formats, preview=args.preview, replace=args.overwrite)
    clock.done()
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


class StageClock:
    """With -v, each stage of a command on stderr with the seconds it took (and the total)."""

    def __init__(self, enabled: bool):
        self.enabled, self.stage = enabled, None
        self.start = self.since = time.perf_counter()

    def __call__(self, fraction: float, stage: str) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.stage is not None:
            print(f"  {self.stage:<40} {now - self.since:6.2f} s", file=sys.stderr)
        self.stage, self.since = stage, now

    def done(self) -> None:
        if self.enabled:
            self(1.0, "")
            print(f"  {'total':<40} {time.perf_counter() - self.start:6.2f} s", file=sys.stderr)


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


def run_tempo(args) -> dict | None:
    import dataclasses

    import numpy as np

    from genelive.audio import load_audio
    from genelive.generator import ChartGenerator, estimated_timing
    from genelive.tempo_map import describe_segments

    audio = load_audio(args.audio, max_duration_s=args.max_minutes * 60)
    estimate = ChartGenerator.load(args.model).estimate_tempo(audio)
    candidates = [dataclasses.asdict(c) for c in estimate.candidates]
    timing = estimated_timing(estimate)
    if args.json:
        return {
            "bpm": estimate.bpm,
            "offset": estimate.offset_s,
            "unsure": estimate.unsure,
            "candidates": candidates,
            "segments": [dataclasses.asdict(s) for s in estimate.segments],
            "timing": timing.to_dict(),
        }
    print(f"{args.audio.name}: {estimate.bpm:g} BPM, offset {estimate.offset_s:+.3f} s")
    if estimate.segments:
        print(f"the tempo changes: {describe_segments(estimate.segments)}")
        starts_s = timing.time_at(np.array([b for b, _ in timing.bpms]))
        for (beat, bpm), start_s in zip(timing.bpms, starts_s, strict=True):
            print(f"  from beat {beat:g} ({start_s:.2f} s): {bpm:g} BPM")
        print("charts made without --bpm use this tempo map; the candidates are for one tempo")
    if estimate.unsure:
        print("unsure: the candidates below score close; listen and choose one")
    for c in candidates:
        print(
            f"  {c['bpm']:8.3f} BPM  offset {c['offset_s']:+.3f} s  "
            f"confidence {c['confidence']:.2f}  {c['relation']}"
        )
    return None


def run_onsets(args) -> None:
    import io

    import numpy as np

    from export.atomic import write_atomic
    from genelive.audio import load_audio
    from genelive.difficulty import DIFFICULTIES
    from genelive.onsets.model import OnsetModel
    from genelive.timing import BeatGrid

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


def parse_tempo_map(text: str) -> list[list[float]]:
    from export.checks import check_number, parse_json
    from genelive.timing import check_bpm

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
