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


def _sections(text: str) -> dict[str, list[str]]:
    """The lines of each [Section] of a .osu, comments and blank lines left out."""
    sections, name = {}, None
    for line in text.splitlines()[1:]:
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
            sections[name] = []
        elif line and not line.startswith("//") and name:
            sections[name].append(line)
    return sections


def test_osu_header_sections_are_key_value_lines_osu_reads():
    song = _song(7)
    chart = song.charts[2]
    sections = _sections(song.to_osu(chart))
    # [General] is written "Key: Value", [Metadata] and [Difficulty] "Key:Value" (osu! trims).
    pairs = {}
    for name in ("General", "Metadata", "Difficulty"):
        for line in sections[name]:
            match = re.fullmatch(r"([A-Za-z]+) ?:(.*)", line)
            assert match, line
            pairs[match[1]] = match[2].strip()
    assert {k: pairs[k] for k in ("AudioFilename", "Mode", "Title", "Artist", "Version")} == {
        "AudioFilename": "song.ogg",
        "Mode": "3",
        "Title": "Song",
        "Artist": "Artist",
        "Version": chart.difficulty,
    }
    assert pairs["CircleSize"] == "7" and pairs["AudioLeadIn"] == "0"
    assert pairs["PreviewTime"] == "-1" and pairs["Tags"] == "genelive seed=0"
    assert pairs["Creator"].startswith("GenéLive Studio")
    for key in ("HPDrainRate", "OverallDifficulty", "ApproachRate"):
        assert 0 <= float(pairs[key]) <= 10, key
    assert float(pairs["SliderMultiplier"]) > 0 and float(pairs["SliderTickRate"]) > 0


def test_osu_timing_points_sit_where_the_tempo_map_puts_them():
    # Timing(-0.37, BPM 128 from beat 0 and 150 from beat 16.5, a 0.25 s stop at beat 8), by
    # hand: beat 0 at 370 ms (468.75 ms a beat); beat 8 at 370 + 8 × 468.75 = 4120 ms, the beat
    # resuming after the stop at 4370 ms; beat 16.5 at 4370 + 8.5 × 468.75 = 8354.375 ms.
    points = _sections(_song().to_osu(_song().charts[0]))["TimingPoints"]
    assert points == [
        "370,468.75,4,1,0,100,1,0",
        "4370,468.75,4,1,0,100,1,0",
        "8354,400,4,1,0,100,1,0",
    ]
    # A stop on the beat where the tempo changes resumes at the new tempo.
    timing = Timing(0.0, ((0.0, 120.0), (4.0, 60.0)), ((4.0, 0.5),))
    song = ChartSet("S", "A", "s.ogg", timing, [Chart("Easy", 1, [], 10.0)], {}, 4)
    assert _sections(song.to_osu(song.charts[0]))["TimingPoints"] == [
        "0,500,4,1,0,100,1,0",
        "2000,1000,4,1,0,100,1,0",
        "2500,1000,4,1,0,100,1,0",
    ]


def test_osu_hit_objects_keep_each_notes_time_and_column():
    song = _song()
    for chart in song.charts:
        objects = _sections(song.to_osu(chart))["HitObjects"]
        written = sorted((int(o.split(",")[2]), int(o.split(",")[0]) * 4 // 512) for o in objects)
        assert written == sorted((round(n.time_s * 1000), n.column) for n in chart.notes)
        ends = sorted(int(o.split(",")[5].split(":")[0]) for o in objects if ",128," in o)
        assert ends == sorted(round(n.end_time_s * 1000) for n in chart.notes if n.is_hold)


def test_four_panels_spread_over_seven_lanes():
    from genelive.formats.osu import remap_keys

    # 7 lanes: panel 0 → lane 0, panel 1 → lanes 1-2, panel 2 → lanes 3-4, panel 3 → 5-6;
    # a panel's notes take its lanes in turn.
    notes = [Note(c, i, i * 0.5) for i, c in enumerate([1, 1, 1, 2, 3, 3, 0])]
    assert [n.column for n in remap_keys(notes, 7)] == [1, 2, 1, 3, 5, 6, 0]
    # 5 lanes: panels 0, 1, 2 own one lane each, panel 3 owns lanes 3-4.
    notes = [Note(c, i, i * 0.5) for i, c in enumerate([0, 1, 2, 3, 3])]
    assert [n.column for n in remap_keys(notes, 5)] == [0, 1, 2, 3, 4]
    # 2 lanes: panels 0 and 1 share lane 0, panels 2 and 3 lane 1; a jump on one lane is one.
    notes = [Note(c, i, i * 0.5) for i, c in enumerate([0, 1, 2, 3])] + [Note(1, 0, 0.0)]
    assert [(n.column, n.time_s) for n in remap_keys(notes, 2)] == [
        (0, 0.0),
        (0, 0.5),
        (1, 1.0),
        (1, 1.5),
    ]


def test_a_note_on_a_lane_still_busy_is_dropped():
    from genelive.formats.osu import remap_keys

    held = Note(0, 0.0, 0.0, 2.0, 1.0)  # panel 0 held to 1.0 s; panel 0 owns lane 0 of 5
    during, at_release, after = Note(0, 1.0, 0.5), Note(0, 2.0, 1.0), Note(0, 2.002, 1.001)
    kept = remap_keys([held, during, at_release, after], 5)
    assert [(n.column, n.time_s) for n in kept] == [(0, 0.0), (0, 1.001)]
    assert kept[0].end_time_s == 1.0


@pytest.mark.parametrize("kind", ["sm", "ssc"])
def test_stepmania_header_holds_the_tempo_map_and_sample(kind, tmp_path):
    timing = Timing(-0.37, ((0.0, 128.0), (16.5, 150.0)), ((8.0, 0.25), (20.0, 0.5)))
    charts = [
        Chart("Easy", 3, [Note(0, 1.0, float(timing.time_at(1.0)))], 50.0, seed=7),
        Chart("Hard", 9, [], 50.0),  # no notes, no seed of its own
    ]
    song = ChartSet("Song", "Artist", "song.ogg", timing, charts, {"seed": 11}, 4)
    path = tmp_path / f"song.{kind}"
    path.write_text(getattr(song, f"to_{kind}")(), encoding="utf-8")
    parsed = simfile.open(str(path), strict=True)
    assert float(parsed.offset) == -0.37
    pairs = lambda text: [tuple(map(float, p.split("="))) for p in text.split(",")]  # noqa: E731
    assert pairs(parsed.bpms) == [(0.0, 128.0), (16.5, 150.0)]
    assert pairs(parsed.stops) == [(8.0, 0.25), (20.0, 0.5)]
    assert float(parsed.samplestart) == 20.0  # 40% into the song
    easy, hard = parsed.charts
    assert easy.description == "GenéLive seed 7" and hard.description == "GenéLive seed 11"
    assert [r for r in hard.notes.split("\n") if r.strip()] == ["0000"] * 4  # one empty measure


def test_the_sample_starts_40_percent_in_even_in_a_short_song():
    timing = Timing(0.0, ((0.0, 120.0),))
    short = ChartSet("S", "A", "s.ogg", timing, [Chart("Easy", 1, [], 2.0)], {}, 4)
    assert "#SAMPLESTART:0.800;" in short.to_sm()
    assert "#SAMPLESTART:0.000;" in ChartSet("S", "A", "s.ogg", timing, [], {}, 4).to_sm()
