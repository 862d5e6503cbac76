"""The Charts tab: what it does (ChartService, plain Python, tested) and how it looks (build)."""

from __future__ import annotations

import io
import logging
import secrets
import zipfile
from collections import OrderedDict
from pathlib import Path

from app.jobs import Job, JobError, JobStore
from export.atomic import write_atomic
from export.checks import check_number, check_seed, safe_filename
from genelive.audio import MAX_DURATION_S, load_audio
from genelive.difficulty import DIFFICULTIES
from genelive.formats.reading import read_json_chart
from genelive.formats.songfolder import check_formats
from genelive.generator import ChartGenerator, SongAnalysis, check_density, parse_difficulties
from genelive.tempo import estimate_tempo
from genelive.timing import MAX_OFFSET_S, check_bpm

FORMAT_CHOICES = ["sm", "ssc", "osu", "json"]
SONG_DIR = "song"  # inside a job folder: the song folder a game loads
ANALYSES_KEPT = 8  # songs whose analysis stays in memory for "regenerate this difficulty"
STAT_HEADERS = ["difficulty", "meter", "notes", "holds", "notes/s", "seed"]
HISTORY_HEADERS = ["job", "created", "song", "BPM", "offset s", "seed", "difficulties", "status"]

log = logging.getLogger(__name__)


class ChartService:
    def __init__(self, generator: ChartGenerator, store: JobStore):
        self.generator, self.store = generator, store
        self._analyses: OrderedDict[str, SongAnalysis] = OrderedDict()

    # ------------------------------------------------------------------ timing

    def tempo(self, audio_path: str | None) -> tuple[list[list], float, float, str]:
        """Song → (candidate rows, best BPM, its offset, a message)."""
        audio = load_audio(_need_audio(audio_path), max_duration_s=MAX_DURATION_S)
        estimate = estimate_tempo(audio)
        rows = [
            [c.bpm, c.offset_s, round(100 * c.confidence), c.relation] for c in estimate.candidates
        ]
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
        progress=None,
    ):
        """Yields (fraction, stage) while it works, then the finished Job."""
        report = progress or (lambda fraction, stage: None)
        audio_path = _need_audio(audio_path)
        names = parse_difficulties(difficulties or [])
        formats = list(check_formats(formats or []))
        density = check_density({d: v for d, v in zip(DIFFICULTIES, densities, strict=True) if v})
        seed = _seed(seed, random_seed)
        bpm = check_bpm(bpm) if bpm else None  # the form shows an empty BPM as 0: estimate
        if bpm is not None and offset_s is not None:
            offset_s = check_number(offset_s, "offset_s", -MAX_OFFSET_S, MAX_OFFSET_S, unit="s")
        params = {
            "song": Path(audio_path).name,
            "bpm": bpm,
            "offset_s": offset_s if bpm else None,
            "timing_file": Path(timing_file).name if timing_file else None,
            "difficulties": list(names),
            "density_nps": density,
            "seed": seed,
            "formats": formats,
        }
        job = self.store.new(session, "chart", params)
        try:
            yield 0.0, "decoding audio"
            song = self.generator.analyse(
                audio_path,
                names,
                params["bpm"],
                params["offset_s"],
                timing_file,
                progress=lambda f, stage: report(0.5 * f, stage),
            )
            self._remember(job.id, song)
            charts = []
            for i, name in enumerate(names):
                yield 0.5 + 0.4 * i / len(names), f"notes, arrows and holds: {name}"
                charts.append(self.generator.make_chart(song, name, seed, density.get(name)))
            yield 0.9, "writing files and previews"
            self._write(job, song, charts, seed, formats, density)
        except BaseException as e:  # cancelled (GeneratorExit) or failed: say so in history
            job.record["status"] = "failed" if isinstance(e, Exception) else "cancelled"
            job.record["error"] = str(e)[:500]
            job.save()
            raise
        yield 1.0, job

    def regenerate(self, session: str, job_id: str, difficulty: str, seed: float | None) -> Job:
        """One difficulty again with another seed; the others are kept as they are."""
        job = self.store.get(session, job_id)
        if job.record.get("status") != "done":
            raise JobError(f"job {job_id} has no finished charts to redo")
        (name,) = parse_difficulties([difficulty])
        params = job.record["params"]
        if name not in params["difficulties"]:
            raise JobError(f"job {job_id} has no {name} chart")
        seed = _seed(seed, random_seed=False)
        song = self._analyses.get(job.id) or self._reanalyse(job)
        self._remember(job.id, song)
        charts = [
            self.generator.make_chart(song, name, seed, params["density_nps"].get(name))
            if c["difficulty"] == name
            else self._kept_chart(job, c["difficulty"])
            for c in job.record["results"]["charts"]
        ]
        self._write(job, song, charts, params["seed"], params["formats"], params["density_nps"])
        return job

    # ------------------------------------------------------------------ history

    def history_rows(self, session: str) -> list[list]:
        return history_rows(self.store, session, "chart", _history_row)

    def job(self, session: str, job_id: str) -> Job:
        return self.store.get(session, job_id)

    # ------------------------------------------------------------------ internals

    def _remember(self, job_id: str, song: SongAnalysis) -> None:
        self._analyses[job_id] = song
        self._analyses.move_to_end(job_id)
        while len(self._analyses) > ANALYSES_KEPT:
            self._analyses.popitem(last=False)

    def _reanalyse(self, job: Job) -> SongAnalysis:
        """After a restart: the job's own audio copy and tempo map (its JSON chart)."""
        res = job.record["results"]
        folder = job.folder / SONG_DIR
        return self.generator.analyse(
            folder / res["audio"],
            job.record["params"]["difficulties"],
            timing_from=folder / res["json"],
        )

    def _kept_chart(self, job: Job, difficulty: str):
        res = job.record["results"]
        return read_json_chart(job.folder / SONG_DIR / res["json"]).chart(difficulty)

    def _write(self, job: Job, song: SongAnalysis, charts, seed: int, formats, density) -> None:
        result = self.generator.assemble(song, charts, seed, settings={"density_nps": density})
        # JSON always: it is how a job's charts are read back (regenerate, history). The song
        # folder lands whole by one rename (a regenerated one replaces the old whole).
        files = result.save(job.folder / SONG_DIR, sorted({*formats, "json"}), preview=True,
                            replace=True)  # fmt: skip
        song.audio_path = job.folder / SONG_DIR / result.audio_filename  # the upload may go
        name = safe_filename(result.title, "song")
        zip_path = job.folder / f"{name}.zip"
        write_atomic(zip_path, _zip_song_folder(files, name))
        json_name = next(p.name for p in files if p.suffix == ".json" and p.parent.name == SONG_DIR)
        job.record.update(
            status="done",
            error=None,
            results={
                **result.summary(),
                "audio": result.audio_filename,
                "json": json_name,
                "files": [
                    str(p.relative_to(job.folder)) for p in files if "preview" not in p.parts
                ],
                "zip": zip_path.name,
            },
        )
        job.save()


def _history_row(r: dict) -> list:
    p, res = r["params"], r["results"]
    return [r["id"], r["created"], p["song"], res.get("bpm", p.get("bpm")),
            res.get("offset", p.get("offset_s")), p["seed"], ",".join(p["difficulties"]),
            r["status"]]  # fmt: skip


def history_rows(store: JobStore, session: str, kind: str, row) -> list[list]:
    """One table row per job of this session, made by `row(record)`; a record that cannot make
    one (damaged, or from an older version) is left out, never the whole history."""
    rows = []
    for record in store.history(session, kind):
        try:
            rows.append(row(record))
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("job %s: its record does not make a history row", record["id"])
    return rows


def _seed(seed, random_seed: bool) -> int:
    """The seed a job uses: the given one, checked, or a random one."""
    if random_seed or seed is None:
        return secrets.randbelow(2**31)
    return check_seed(seed)


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
