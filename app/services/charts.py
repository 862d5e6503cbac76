"""Charts for the web app: tempo candidates, a job per song (the one orchestrator,
genelive.ChartGenerator, with the tab's settings), regenerating one difficulty, the history,
and what the result panel shows of a job."""

from __future__ import annotations

import io
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from app.jobs import Job, JobError, JobStore
from app.services.history import history_rows, job_seed
from export.atomic import write_atomic
from export.checks import check_number, one_line, safe_filename
from export.progress import Cancelled, Progress, check_cancel, quiet
from genelive.audio import MAX_DURATION_S, load_audio
from genelive.difficulty import DIFFICULTIES
from genelive.formats.chartset import FORMATS, ChartSet
from genelive.formats.reading import read_json_chart
from genelive.formats.songfolder import check_formats
from genelive.generator import ChartGenerator
from genelive.settings import check_density, check_keys, check_temperature, parse_difficulties
from genelive.song import GeneratedSong, SongAnalysis
from genelive.tempo_map import describe_segments
from genelive.timing import MAX_OFFSET_S, check_bpm

FORMAT_CHOICES = list(FORMATS)
SONG_DIR = "song"  # inside a job folder: the song folder a game loads
SONGS_KEPT = 8  # songs whose charts and analysis stay in memory for "regenerate this difficulty"
STAT_HEADERS = ["difficulty", "meter", "notes", "holds", "notes/s", "seed"]
HISTORY_HEADERS = ["job", "created", "song", "BPM", "offset s", "seed", "difficulties", "status"]


class ChartService:
    def __init__(self, generator: ChartGenerator, store: JobStore):
        self.generator, self.store = generator, store
        self._songs: OrderedDict[str, GeneratedSong] = OrderedDict()  # job id → its charts
        self._cancel: dict[str, threading.Event] = {}

    # ------------------------------------------------------------------ timing

    def tempo(self, audio_path: str | None) -> tuple[list[list], float, float, str]:
        """Song → (candidate rows, best BPM, its offset, a message)."""
        audio = load_audio(_need_audio(audio_path), max_duration_s=MAX_DURATION_S)
        estimate = self.generator.estimate_tempo(audio)
        rows = [
            [c.bpm, c.offset_s, round(100 * c.confidence), c.relation] for c in estimate.candidates
        ]
        if estimate.segments:  # an empty BPM charts on the estimated tempo map
            note = (
                f"The tempo changes ({describe_segments(estimate.segments)}): leave BPM and "
                "Offset empty to chart on this tempo map, or click a row for one tempo."
            )
            return rows, None, None, note
        note = (
            "The candidates score close: listen and pick one (click a row)."
            if estimate.unsure
            else "Best candidate filled in; click another row to use it instead."
        )
        return rows, estimate.bpm, estimate.offset_s, note

    # ------------------------------------------------------------------ generating

    def generate(
        self,
        session: str,
        audio_path: str | None,
        bpm: float | None,
        offset_s: float | None,
        timing_file: str | None,
        difficulties: list[str],
        densities: list[float | None],
        seed: float | None,
        random_seed: bool,
        formats: list[str],
        progress: Progress | None = None,
        keys: int = 4,
        temperature: float = 1.0,
        title: str | None = None,
        artist: str | None = None,
    ) -> Job:
        """A new job: every asked difficulty of the song, written into its folder. Every setting
        is checked before the job is made; `progress(fraction, stage)` hears each stage, and
        `cancel(session)` stops the work at the next one (the job is marked cancelled)."""
        report = progress or quiet
        audio_path = _need_audio(audio_path)
        names = parse_difficulties(difficulties or [])
        formats = list(check_formats(formats or []))
        density = check_density({d: v for d, v in zip(DIFFICULTIES, densities, strict=True) if v})
        seed = job_seed(seed, random_seed)
        bpm = check_bpm(bpm) if bpm else None  # the form shows an empty BPM as 0: estimate
        if bpm is not None and offset_s is not None:
            offset_s = check_number(offset_s, "offset_s", -MAX_OFFSET_S, MAX_OFFSET_S, unit="s")
        keys, temperature = check_keys(keys), check_temperature(temperature)
        title = one_line(title or "", "title") or None
        artist = one_line(artist or "", "artist") or None
        params = {
            "song": Path(audio_path).name,
            "bpm": bpm,
            "offset_s": offset_s if bpm else None,
            "timing_file": Path(timing_file).name if timing_file else None,
            "difficulties": list(names),
            "density_nps": density,
            "seed": seed,
            "formats": formats,
            "keys": keys,
            "temperature": temperature,
            "title": title,
            "artist": artist,
        }
        job = self.store.new(session, "chart", params)
        cancel = self._cancel[session] = threading.Event()
        try:
            song = self.generator(
                audio_path,
                names,
                seed,
                params["bpm"],
                params["offset_s"],
                timing_file,
                density,
                temperature,
                keys,
                title,
                artist,
                MAX_DURATION_S,
                progress=lambda f, stage: report(0.9 * f, stage),
                cancel=cancel,
            )
            check_cancel(cancel, "writing files and previews")
            report(0.9, "writing files and previews")
            self._write(job, song, formats)
        except BaseException as e:  # cancelled or failed: say so in history
            job.record["status"] = "cancelled" if isinstance(e, Cancelled) else "failed"
            job.record["error"] = str(e)[:500]
            job.save()
            raise
        finally:
            self._cancel.pop(session, None)
        report(1.0, "done")
        return job

    def cancel(self, session: str) -> None:
        """Stop this session's running chart job at its next stage."""
        if session in self._cancel:
            self._cancel[session].set()

    def regenerate(self, session: str, job_id: str, difficulty: str, seed: float | None) -> Job:
        """One difficulty again with another seed; the others are kept as they are."""
        job = self.store.get(session, job_id)
        if job.record.get("status") != "done":
            raise JobError(f"job {job_id} has no finished charts to redo")
        (name,) = parse_difficulties([difficulty])
        params = job.record["params"]
        if name not in params["difficulties"]:
            raise JobError(f"job {job_id} has no {name} chart")
        seed = job_seed(seed, random_seed=False)
        song = self._songs.get(job.id)
        analysis = song.analysis if song is not None else None
        if song is None:
            song, analysis = self._reread(job)
        song = self.generator.regenerate(
            song,
            name,
            seed,
            params["density_nps"].get(name),
            params.get("temperature", 1.0),
            analysis,
        )
        self._write(job, song, params["formats"])
        return job

    # ------------------------------------------------------------------ history

    def history_rows(self, session: str) -> list[list]:
        return history_rows(self.store, session, "chart", _history_row)

    def job(self, session: str, job_id: str) -> Job:
        return self.store.get(session, job_id)

    # ------------------------------------------------------------------ internals

    def _remember(self, job_id: str, song: GeneratedSong) -> None:
        self._songs[job_id] = song
        self._songs.move_to_end(job_id)
        while len(self._songs) > SONGS_KEPT:
            self._songs.popitem(last=False)

    def _reread(self, job: Job) -> tuple[ChartSet, SongAnalysis]:
        """After a restart: the job's charts (its JSON chart), and their analysis again from the
        job's own audio copy and tempo map."""
        res = job.record["results"]
        folder = job.folder / SONG_DIR
        analysis = self.generator.analyse(
            folder / res["audio"],
            job.record["params"]["difficulties"],
            timing_from=folder / res["json"],
        )
        return read_json_chart(folder / res["json"]), analysis

    def _write(self, job: Job, song: GeneratedSong, formats) -> None:
        # JSON always: it is how a job's charts are read back (regenerate, history). The song
        # folder lands whole by one rename (a regenerated one replaces the old whole).
        files = song.save(
            job.folder / SONG_DIR, sorted({*formats, "json"}), preview=True, replace=True
        )
        song.audio_path = job.folder / SONG_DIR / song.audio_filename  # the upload may go
        song.analysis.audio_path = song.audio_path
        name = safe_filename(song.title, "song")
        zip_path = job.folder / f"{name}.zip"
        write_atomic(zip_path, _zip_song_folder(files, name))
        json_name = next(p.name for p in files if p.suffix == ".json" and p.parent.name == SONG_DIR)
        job.record.update(
            status="done",
            error=None,
            results={
                **song.summary(),
                "audio": song.audio_filename,
                "json": json_name,
                "files": [
                    str(p.relative_to(job.folder)) for p in files if "preview" not in p.parts
                ],
                "zip": zip_path.name,
            },
        )
        job.save()
        self._remember(job.id, song)


def _history_row(r: dict) -> list:
    p, res = r["params"], r["results"]
    return [
        r["id"],
        r["created"],
        p["song"],
        res.get("bpm", p.get("bpm")),
        res.get("offset", p.get("offset_s")),
        p["seed"],
        ",".join(p["difficulties"]),
        r["status"],
    ]


def _need_audio(audio_path: str | None) -> str:
    if not audio_path:
        raise ValueError("upload a song first (wav, flac, ogg or mp3)")
    return audio_path


def _zip_song_folder(files: list[Path], folder: str) -> bytes:
    """The song folder as StepMania loads it (charts + audio; previews left out), named after
    the song."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            if "preview" not in path.parts:
                info = zipfile.ZipInfo(f"{folder}/{path.name}", (2020, 1, 1, 0, 0, 0))
                z.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def job_view(job: Job) -> dict:
    """What the result panel shows for a finished job: paths inside the job folder only."""
    res = job.record["results"]
    song_dir = job.folder / SONG_DIR
    gallery, stats = [], []
    for c in res["charts"]:
        d = c["difficulty"]
        caption = f"{d} (meter {c['meter']}): {c['notes']} notes, {c['holds']} holds"
        gallery.append((str(song_dir / "preview" / f"{d}.png"), caption))
        stats.append([d, c["meter"], c["notes"], c["holds"], c["nps"], c.get("seed")])
    names = [c["difficulty"] for c in res["charts"]]
    return {
        "gallery": gallery,
        "stats": stats,
        "files": [str(job.folder / f) for f in res["files"]],
        "zip": str(job.folder / res["zip"]),
        "difficulties": names,
        "preview": {d: str(song_dir / "preview" / f"{d}.ogg") for d in names},
        "summary": f"**{res['bpm']:g} BPM**, offset {res['offset']:+.4f} s · job `{job.id}`",
        "job": job.id,
    }
