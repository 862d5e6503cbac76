"""From a song to charts: timing, notes, arrows and holds, for every difficulty.

    from genelive import ChartGenerator
    gen = ChartGenerator.load()                       # bundled models, or model_dir=...
    song = gen("song.ogg", difficulties=["Easy", "Hard"], seed=0)
    song.save("out/")                                 # .sm .ssc .osu .json + the audio
    song.chart("Hard").nps, song.to_sm()

Steps: (1) the tempo map: the user's, one read from an existing chart, or estimated from the
audio (never a silent default); (2) onset activations for all difficulties in one pass, with
the tempo map as the beat guide; (3) notes: peaks picked with the thresholds chosen on
validation, brought inside the corpus' density range (or to the user's target), snapped to the
subdivisions the difficulty allows, spaced at least as the corpus' charts are; (4) arrows and
holds sampled from the step-selection model under playability rules. Same audio, settings and
seed → the same charts, byte for byte.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from export.backend import check_backend
from export.checks import InvalidValue, check_seed, one_line
from export.progress import Progress, check_cancel, quiet
from genelive.audio import MAX_DURATION_S, SAMPLE_RATE, load_audio
from genelive.difficulty import DIFFICULTIES, meter_inputs, predict_meter
from genelive.features import log_mel
from genelive.formats.chartset import ChartSet
from genelive.formats.notes import Chart, Note
from genelive.formats.reading import timing_from_file
from genelive.formats.songfolder import game_audio_name
from genelive.onsets.config import DEFAULT_MODEL
from genelive.onsets.model import OnsetModel
from genelive.onsets.peaks import peaks
from genelive.settings import (
    check_density,
    check_keys,
    check_target_nps,
    check_temperature,
    parse_difficulties,
)
from genelive.snapping import DEFAULT_SUBDIVISIONS, place_on_grid
from genelive.song import GENERATOR, GeneratedSong, SongAnalysis, audio_tags, version
from genelive.steps.arrows import HEAD, STATE_COLUMNS, TAIL, TAP, count_notes
from genelive.steps.model import StepModel
from genelive.tempo import TempoEstimate, check_half_beat, phase_for_bpm
from genelive.tempo_map import describe_segments, estimate_tempo_map, timing_from_segments
from genelive.timing import Timing, check_bpm

log = logging.getLogger(__name__)

HALF_BEAT_LEVEL = "Beginner"  # its notes sit on beats far more than off them
CANDIDATE_FLOOR = 0.05  # peaks weaker than this never become notes, whatever the density target


class ChartGenerator:
    def __init__(self, onset_model: OnsetModel, step_model: StepModel):
        self.onset_model, self.step_model = onset_model, step_model

    @classmethod
    def load(
        cls,
        model_dir: str | Path | None = None,
        steps_dir: str | Path | None = None,
        backend: str = "torch",
        device: str = "auto",
    ) -> ChartGenerator:
        """backend="onnx": `model_dir` is a folder `studio export chart` wrote (both models)."""
        if check_backend(backend) == "onnx":
            return cls(
                OnsetModel.load(model_dir, "onnx", device),
                StepModel.load(model_dir, "onnx", device),
            )
        return cls(
            OnsetModel.load(model_dir or DEFAULT_MODEL, backend, device),
            StepModel.load(steps_dir, backend, device),
        )

    def __call__(
        self,
        audio_path: str | Path,
        difficulties: str | Sequence[str] | None = None,
        seed: int = 0,
        bpm: float | None = None,
        offset_s: float | None = None,
        timing_from: str | Path | None = None,
        density_nps: Mapping[str, float] | None = None,
        temperature: float = 1.0,
        keys: int = 4,
        title: str | None = None,
        artist: str | None = None,
        max_duration_s: float = MAX_DURATION_S,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> GeneratedSong:
        """Every asked difficulty of one song: the one way charts are made, for the command
        line, the web app and batch jobs alike. `progress(fraction, stage)` hears each stage;
        setting `cancel` stops the work at the next stage (Cancelled)."""
        report = progress or quiet
        difficulties = parse_difficulties(difficulties)
        density_nps = check_density(density_nps)
        seed, temperature, keys = check_seed(seed), check_temperature(temperature), check_keys(keys)
        title = None if title is None else one_line(title, "title")
        artist = None if artist is None else one_line(artist, "artist")
        song = self.analyse(
            audio_path, difficulties, bpm, offset_s, timing_from, max_duration_s, report, cancel
        )
        charts = []
        for i, name in enumerate(difficulties):
            stage = f"notes, arrows and holds: {name}"
            check_cancel(cancel, stage)
            report(0.5 + 0.5 * i / len(difficulties), stage)
            charts.append(self.make_chart(song, name, seed, density_nps.get(name), temperature))
        settings = {"density_nps": density_nps, "temperature": temperature}
        return self.assemble(song, charts, seed, keys, title, artist, settings)

    def regenerate(
        self,
        song: ChartSet,
        difficulty: str,
        seed: int,
        density_nps: float | None = None,
        temperature: float = 1.0,
        analysis: SongAnalysis | None = None,
    ) -> GeneratedSong:
        """`song` with one difficulty made anew (another seed, density or temperature), the other
        charts kept exactly as they are. `analysis`: the song's (a GeneratedSong has its own; a
        chart set read back from a file needs `analyse` again)."""
        analysis = analysis or song.analysis
        (name,) = parse_difficulties([difficulty])
        if name not in [c.difficulty for c in song.charts]:
            raise InvalidValue.of("difficulty", f"names no chart of this song ({name})")
        charts = [
            self.make_chart(analysis, name, seed, density_nps, temperature)
            if c.difficulty == name
            else c
            for c in song.charts
        ]
        settings = song.stamp.get("settings", {})
        kept = {k: v for k, v in settings.items() if k in ("density_nps", "temperature")}
        return self.assemble(
            analysis,
            charts,
            song.stamp["seed"],
            settings.get("keys", song.keys),
            song.title,
            song.artist,
            kept,
        )

    def analyse(
        self,
        audio_path: str | Path,
        difficulties: Sequence[str] = DIFFICULTIES,
        bpm: float | None = None,
        offset_s: float | None = None,
        timing_from: str | Path | None = None,
        max_duration_s: float = MAX_DURATION_S,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> SongAnalysis:
        """The work shared by all charts of a song: decoding, tempo map, onset activations."""
        report = progress or quiet
        audio_path = Path(audio_path)
        report(0.0, "decoding audio")
        audio = load_audio(audio_path, max_duration_s=max_duration_s)
        duration_s = len(audio) / SAMPLE_RATE
        stage = "tempo" if bpm is None and timing_from is None else "timing"
        check_cancel(cancel, stage)
        report(0.1, stage)
        timing, tempo = self.choose_timing(audio, bpm, offset_s, timing_from)
        check_cancel(cancel, "onsets")
        report(0.2, "onsets")
        mel = log_mel(audio)
        features = mel
        if self.onset_model.model_type != "genelive-onset":
            features = self.onset_model.features(audio)
        if timing is None:  # estimated: the onset model checks the beat phase
            tempo = self.check_phase(tempo, audio, features)
            timing = estimated_timing(tempo)
        grid, _ = timing.beat_grid(duration_s)
        act = self.onset_model.activations(features, grid, tuple(difficulties))
        return SongAnalysis(
            audio_path=audio_path,
            duration_s=duration_s,
            mel=mel,
            timing=timing,
            tempo=tempo,
            timing_source="user" if bpm is not None else "file" if timing_from else "estimated",
            probs=dict(zip(act.difficulties, act.probs, strict=True)),
            fps=act.fps,
            tags=audio_tags(audio_path),
        )

    def make_chart(
        self,
        song: SongAnalysis,
        difficulty: str,
        seed: int = 0,
        density_nps: float | None = None,
        temperature: float = 1.0,
    ) -> Chart:
        """One difficulty's chart from the shared analysis (so one can be redone alone)."""
        seed, temperature = check_seed(seed), check_temperature(temperature)
        if density_nps is not None:
            density_nps = check_target_nps(density_nps)
        grid, first_beat = song.timing.beat_grid(song.duration_s)
        rows = (song.probs[difficulty], song.fps, difficulty, grid, first_beat, song.duration_s)
        times, beats = self.note_rows(*rows, density_nps)
        states = self.step_model.sample(times, beats, difficulty, song.mel, seed, temperature)
        # The rows were counted for the human charts' notes per row (jumps). Rows the step model
        # only ends holds on hold no note, and its jumps differ from the charters': scale the
        # rows to the notes wanted and sample again (the same seed; one more pass).
        wanted = round(len(times) * self.step_model.config.notes_per_row.get(difficulty, 1.0))
        notes = count_notes(states)[0]
        if notes and notes != wanted:
            extra = round(len(times) * wanted / notes) - len(times)
            times, beats = self.note_rows(*rows, density_nps, extra_rows=extra)
            states = self.step_model.sample(times, beats, difficulty, song.mel, seed, temperature)
        notes = notes_from_states(states, beats, song.timing)
        meter = self.meter(difficulty, notes, song.duration_s)
        return Chart(difficulty, meter, notes, song.duration_s, seed=int(seed))

    def assemble(
        self,
        song: SongAnalysis,
        charts: Sequence[Chart],
        seed: int,
        keys: int = 4,
        title: str | None = None,
        artist: str | None = None,
        settings: Mapping | None = None,
    ) -> GeneratedSong:
        """Charts of one song → the song, stamped with what made it."""
        seeds = {c.difficulty: c.seed for c in charts}
        stamp = {
            "generator": GENERATOR,
            "version": version(),
            "seed": int(seed),
            "settings": {
                "onset_model": self.onset_model.folder.name,
                "steps_model": self.step_model.folder.name,
                "difficulties": [c.difficulty for c in charts],
                "keys": int(keys),
                "timing": song.timing_source,
                **(settings or {}),
                **({"seeds": seeds} if set(seeds.values()) != {int(seed)} else {}),
            },
        }
        return GeneratedSong(
            analysis=song,
            title=title or song.tags.get("title") or song.audio_path.stem,
            artist=artist if artist is not None else song.tags.get("artist", ""),
            audio_filename=game_audio_name(song.audio_path),
            timing=song.timing,
            charts=list(charts),
            stamp=stamp,
            keys=check_keys(keys),
            audio_path=song.audio_path,
            tempo=song.tempo,
            song_mel=song.mel,
        )

    def estimate_tempo(self, audio: np.ndarray) -> TempoEstimate:
        """Tempo candidates from the audio (with segments where the tempo changes), the beat
        phase checked by the onset model."""
        return self.check_phase(estimate_tempo_map(audio), audio)

    def check_phase(
        self, estimate: TempoEstimate, audio: np.ndarray, features: np.ndarray | None = None
    ) -> TempoEstimate:
        """The estimate with its beat phase checked against where the onset model (run without
        a beat guide) puts a Beginner chart's notes: on the beats or half a beat off them. The
        librosa baseline knows nothing of charts and keeps the audio's phase."""
        if self.onset_model.backend is None:
            return estimate
        if features is None:
            features = self.onset_model.features(audio)
        free = self.onset_model.activations(features, None, (HALF_BEAT_LEVEL,))
        return check_half_beat(estimate, free.probs[0], free.fps)

    @staticmethod
    def choose_timing(
        audio: np.ndarray, bpm: float | None, offset_s: float | None, timing_from
    ) -> tuple[Timing | None, TempoEstimate | None]:
        """The tempo map given (by BPM, or by a chart file), or None and the audio's tempo
        estimate, for `check_phase` to finish once the onset features are there."""
        if timing_from is not None:
            if bpm is not None or offset_s is not None:
                raise InvalidValue(
                    "give either {timing_from} or {bpm} (and {offset_s}), not both",
                    "timing_from",
                    "bpm",
                    "offset_s",
                )
            return timing_from_file(timing_from), None
        if bpm is not None:
            bpm = check_bpm(bpm)
            if offset_s is None:  # the user's tempo, our beat phase
                offset_s = phase_for_bpm(audio, bpm)
            return Timing.constant(bpm, offset_s), None
        if offset_s is not None:
            raise InvalidValue("{offset_s} needs {bpm}", "offset_s", "bpm")
        return None, estimate_tempo_map(audio)

    def note_rows(
        self,
        probs: np.ndarray,
        fps: float,
        difficulty: str,
        grid,
        first_beat: int,
        duration_s: float,
        target_nps: float | None,
        extra_rows: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Onset activation (T,) → note rows: (times_s, beats (float64)), on the grid, spaced;
        `extra_rows` more (or fewer) than the note count asks for."""
        i = DIFFICULTIES.index(difficulty)
        decoding = self.onset_model.config.decoding
        frames, heights = peaks(probs, CANDIDATE_FLOOR, decoding.min_gap_frames[i])
        if decoding.rows_per_mass:  # the human charts' count for this much activation
            n = round(decoding.rows_per_mass[i] * float(probs.sum()))
        else:
            n = int((heights >= decoding.thresholds[i]).sum())
        # Densities are in notes; rows hold more than one note where there are jumps.
        stats = self.step_model.config
        rows_per_note = 1.0 / stats.notes_per_row.get(difficulty, 1.0)
        if target_nps is not None:
            n = round(target_nps * duration_s * rows_per_note)
        else:  # keep the validation-tuned choice inside the corpus' density range
            low, _, high = stats.density_nps.get(difficulty, (0, 0, 1e9))
            n = int(np.clip(n, *np.round(np.array([low, high]) * duration_s * rows_per_note)))
        min_gap_s = self.step_model.config.min_gap_s.get(difficulty, 0.0)
        times, positions = place_on_grid(
            frames / fps,
            heights,
            grid,
            DEFAULT_SUBDIVISIONS[difficulty],
            max(n + extra_rows, 0),
            min_gap_s,
        )
        return times, (positions + first_beat).astype(np.float64)

    def meter(
        self, difficulty: str, notes: Sequence[Note], duration_s: float, pack: str = ""
    ) -> int:
        """The difficulty number the corpus' charters give such a chart: their fit over all
        packs, or the fit of one pack (`pack`, a folder of the training data) where it has one."""
        stats = self.step_model.config
        fit = stats.meter_fit_by_pack.get(pack, {}).get(difficulty) or stats.meter_fit.get(
            difficulty, [DIFFICULTIES.index(difficulty) * 2 + 1.0]
        )
        rows_s = np.unique([n.time_s for n in notes])
        return predict_meter(fit, *meter_inputs(rows_s, len(notes), duration_s))


def estimated_timing(estimate: TempoEstimate) -> Timing:
    """The estimate's tempo map (its segments where the tempo changes, else the best
    candidate's tempo); a warning when the candidates score close."""
    if estimate.unsure:
        others = ", ".join(
            f"{c.bpm:g} at {c.offset_s:+.3f} s ({c.confidence:.0%})"
            for c in estimate.candidates[1:4]
        )
        log.warning(
            "tempo unsure: %g BPM at %+.3f s (%.0f%%) chosen over %s; check it, or give "
            "BPM and offset",
            estimate.bpm,
            estimate.offset_s,
            100 * estimate.candidates[0].confidence,
            others,
        )
    if estimate.segments:
        log.info("tempo changes: %s", describe_segments(estimate.segments))
        return timing_from_segments(estimate.segments)
    return Timing.constant(estimate.bpm, estimate.offset_s)


def notes_from_states(states: np.ndarray, beats: np.ndarray, timing: Timing) -> list[Note]:
    """Row states → notes (holds paired head → tail), times through the tempo map."""
    times = timing.time_at(beats)
    notes, open_holds = [], {}
    for state, beat, t in zip(states, beats, times, strict=True):
        for column, value in enumerate(STATE_COLUMNS[state]):
            if value == TAP:
                notes.append(Note(column, float(beat), float(t)))
            elif value == HEAD:
                open_holds[column] = (float(beat), float(t))
            elif value == TAIL and column in open_holds:
                b0, t0 = open_holds.pop(column)
                notes.append(Note(column, b0, t0, float(beat), float(t)))
    return sorted(notes, key=lambda n: (n.beat, n.column))
