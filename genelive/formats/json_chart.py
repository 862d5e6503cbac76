"""Our JSON chart format (docs/chart-files.md): every chart of a song, its tempo map and stamp;
what the web app reads a job's charts back from."""

from __future__ import annotations

import json
from pathlib import Path

from export.checks import parse_json
from genelive.formats.notes import Chart, ChartFileError, Note
from genelive.timing import Timing

JSON_FORMAT = "genelive-chart"
JSON_FORMAT_VERSION = 1


def write_json(song) -> str:
    """A chart set (genelive.formats.chartset.ChartSet) as JSON text."""
    data = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "title": song.title,
        "artist": song.artist,
        "audio": song.audio_filename,
        "timing": song.timing.to_dict(),
        "stamp": song.stamp,
        "charts": [
            {
                **chart.summary(),
                "duration_s": chart.duration_s,
                "notes": [_note_dict(n) for n in chart.notes],
            }
            for chart in song.charts
        ],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def read_json(path: str | Path) -> dict:
    """A JSON chart's fields as ChartSet takes them (title, artist, audio_filename, timing,
    charts, stamp), or ChartFileError."""
    path = Path(path)
    try:
        data = parse_json(path.read_bytes(), str(path), ChartFileError)
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise ChartFileError(f"{path}: not a {JSON_FORMAT} file")
        charts = [
            Chart(
                c["difficulty"],
                int(c["meter"]),
                [_note_from_dict(n) for n in c["notes"]],
                float(c.get("duration_s", 0.0)),
                c.get("seed"),
            )
            for c in data["charts"]
        ]
        timing = Timing.from_dict(data["timing"])
        return {
            "title": data["title"],
            "artist": data["artist"],
            "audio_filename": data["audio"],
            "timing": timing,
            "charts": charts,
            "stamp": data["stamp"],
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, ChartFileError):
            raise
        raise ChartFileError(f"{path}: malformed chart JSON ({type(e).__name__}: {e})") from e


def _note_dict(n: Note) -> dict:
    d = {"time_s": round(n.time_s, 6), "beat": n.beat, "column": n.column}
    if n.is_hold:
        d |= {"end_time_s": round(n.end_time_s, 6), "end_beat": n.end_beat}
    return d


def _note_from_dict(d: dict) -> Note:
    return Note(
        int(d["column"]),
        float(d["beat"]),
        float(d["time_s"]),
        d.get("end_beat"),
        d.get("end_time_s"),
    )
