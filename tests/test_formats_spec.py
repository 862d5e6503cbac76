"""Written charts against the formats' own rules, not our readers: the osu! file format's grammar
for every hit object and timing point, and what StepMania accepts in a .sm/.ssc (measures of a
row count it knows, holds closed in their column, meters, difficulty names), per difficulty."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from genelive.difficulty import DIFFICULTIES
from genelive.formats.chartset import ChartSet
from genelive.formats.notes import Chart, Note
from genelive.timing import Timing

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import simfile

# osu!mania hit objects (osu! wiki, "osu! (file format)"): x,y,time,type,hitSound,hitSample for
# a note; x,y,time,type,hitSound,endTime:hitSample for a hold (type bit 128).
TAP = re.compile(r"^(\d+),(\d+),(\d+),(\d+),(\d+),(\d+:\d+:\d+:\d+:[^,:]*)$")
HOLD = re.compile(r"^(\d+),(\d+),(\d+),(\d+),(\d+),(\d+):(\d+:\d+:\d+:\d+:[^,:]*)$")
TIMING_POINT = re.compile(r"^-?\d+,-?[\d.]+(e-?\d+)?,\d+,\d+,\d+,\d+,[01],\d+$")
STEPMANIA_ROWS = {4, 8, 12, 16, 24, 32, 48, 64, 96, 192}  # rows per measure it reads


def _song(keys: int = 4) -> ChartSet:
    """Taps, jumps, holds and 16ths/triplets on a tempo map with a change and a stop."""
    timing = Timing(-0.37, ((0.0, 128.0), (16.5, 150.0)), ((8.0, 0.25),))
    rng = np.random.default_rng(0)
    charts = []
    for level, name in enumerate(DIFFICULTIES):
        beats = np.unique(np.round(np.sort(rng.uniform(0, 40, 40 + 10 * level)) * 12) / 12)
        notes, busy = [], {}
        for beat in beats:
            column = int(rng.integers(4))
            if busy.get(column, -1) >= beat:
                continue
            if rng.random() < 0.2:
                end = beat + 1.5
                busy[column] = end
                notes.append(
                    Note(column, beat, float(timing.time_at(beat)), end, float(timing.time_at(end)))
                )
            else:
                notes.append(Note(column, beat, float(timing.time_at(beat))))
        charts.append(Chart(name, level * 2 + 1, notes, 40.0, seed=level))
    return ChartSet("Song", "Artist", "song.ogg", timing, charts, {"seed": 0}, keys)


@pytest.mark.parametrize("keys", [4, 7])
def test_every_osu_line_follows_the_file_format(keys):
    song = _song(keys)
    for chart in song.charts:
        lines = song.to_osu(chart).splitlines()
        assert lines[0] == "osu file format v14"
        section, objects, points = None, [], []
        for line in lines[1:]:
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif line and not line.startswith("//"):
                {"HitObjects": objects, "TimingPoints": points}.get(section, []).append(line)
        assert "Mode: 3" in lines and f"CircleSize:{keys}" in lines
        assert points and all(TIMING_POINT.match(p) for p in points), points
        taps = holds = 0
        for line in objects:
            tap, hold = TAP.match(line), HOLD.match(line)
            assert tap or hold, line
            x, y, time, kind = (int(v) for v in (tap or hold).groups()[:4])
            assert 0 <= x < 512 and y == 192 and time >= 0
            assert 0 <= x * keys // 512 < keys  # its column
            if hold:
                assert kind & 128 and not kind & 1 and int(hold.group(6)) > time, line
                holds += 1
            else:
                assert kind & 1 and not kind & 128, line
                taps += 1
        if keys == 4:  # other key counts spread the four panels' notes over more lanes
            assert (taps, holds) == (chart.n_notes - chart.n_holds, chart.n_holds)


@pytest.mark.parametrize("kind", ["sm", "ssc"])
def test_stepmania_reads_every_chart_as_written(kind, tmp_path):
    song = _song()
    path = tmp_path / f"song.{kind}"
    path.write_text(getattr(song, f"to_{kind}")(), encoding="utf-8")
    parsed = simfile.open(str(path), strict=True)  # simfile's strict parser accepts it
    assert parsed.title == "Song" and parsed.music == "song.ogg"
    by_difficulty = {c.difficulty: c for c in parsed.charts}
    assert list(by_difficulty) == list(DIFFICULTIES)
    for chart in song.charts:
        written = by_difficulty[chart.difficulty]
        assert written.stepstype == "dance-single" and int(written.meter) == chart.meter
        measures = [m.strip() for m in written.notes.strip().split(",")]
        held: dict[int, bool] = {}
        heads = taps = 0
        for measure in measures:
            rows = [r for r in measure.splitlines() if r.strip() and not r.startswith("//")]
            assert len(rows) in STEPMANIA_ROWS, len(rows)
            for row in rows:
                assert re.fullmatch(r"[0123]{4}", row), row
                for column, value in enumerate(row):
                    if value == "3":
                        assert held.pop(column, False), f"a tail without a head in {column}"
                    elif value in "12":
                        assert not held.get(column), f"a note on a held column {column}"
                        held[column] = value == "2"
                        heads += value == "2"
                        taps += value == "1"
                        if value == "1":
                            held.pop(column)
        assert not any(held.values()), "a hold left open"
        assert (taps, heads) == (chart.n_notes - chart.n_holds, chart.n_holds)
