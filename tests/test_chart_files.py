"""Chart files: every note written comes back within 1 ms through the file's own timing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from genelive.formats.chartset import ChartSet
from genelive.formats.notes import Chart, ChartFileError, Note
from genelive.formats.osu import read_osu
from genelive.formats.reading import check_round_trip, read_chart_file, timing_from_file
from genelive.timing import Timing, TimingError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import simfile
    from simfile.notes import NoteData, NoteType
    from simfile.timing import TimingData
    from simfile.timing.engine import TimingEngine

# A tempo map with a BPM change at a fractional beat and a stop: the hard case for writers.
TIMING = Timing(0.123457, ((0.0, 151.37), (33.5, 97.2)), ((16.0, 0.4321),))
BEATS = [0.0, 0.5, 1.25, 2 + 1 / 3, 15.75, 16.0, 16.25, 33.5, 40.0 + 2 / 3, 64.0]


def _song(timing: Timing = TIMING, keys: int = 4) -> ChartSet:
    notes = []
    for i, beat in enumerate(BEATS):
        t = float(timing.time_at(beat))
        if i % 3 == 1:  # a hold of 1.5 beats
            end = beat + 1.5
            notes.append(Note(i % 4, beat, t, end, float(timing.time_at(end))))
        else:
            notes.append(Note(i % 4, beat, t))
    charts = [Chart(d, m, notes, 60.0) for d, m in (("Easy", 3), ("Hard", 8))]
    stamp = {"generator": "GenéLive Studio", "version": "test", "seed": 7, "settings": {"a": 1}}
    return ChartSet("Song: Title", "Art/ist", "audio.ogg", timing, charts, stamp, keys)


def _write(tmp_path, song: ChartSet, fmt: str) -> list:
    paths = []
    for name, text in song.render(fmt).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    return paths


def test_time_at_matches_the_simfile_engine(tmp_path):
    (path,) = _write(tmp_path, _song(), "sm")
    sim = simfile.open(str(path))
    engine = TimingEngine(TimingData(sim))
    for beat in [0, 1, 15.875, 16, 16 + 1 / 48, 33.5, 50, 100]:  # rows: 48ths of a beat
        assert abs(float(engine.time_at(beat)) - float(TIMING.time_at(beat))) < 1e-6


@pytest.mark.parametrize("fmt", ["sm", "ssc"])
def test_simfile_notes_within_1ms_through_simfiles_timing_engine(tmp_path, fmt):
    song = _song()
    (path,) = _write(tmp_path, song, fmt)
    sim = simfile.open(str(path))  # strict: the file is valid for the library
    assert [c.difficulty for c in sim.charts] == ["Easy", "Hard"]
    assert [c.meter for c in sim.charts] == ["3", "8"]
    for chart, want in zip(sim.charts, song.charts, strict=True):
        engine = TimingEngine(TimingData(sim, chart))
        got = sorted(
            (float(engine.time_at(n.beat)), n.column)
            for n in NoteData(chart)
            if n.note_type in (NoteType.TAP, NoteType.HOLD_HEAD)
        )
        tails = sorted(
            float(engine.time_at(n.beat)) for n in NoteData(chart) if n.note_type == NoteType.TAIL
        )
        expected = sorted((n.time_s, n.column) for n in want.notes)
        assert len(got) == len(expected)
        for (t, c), (t0, c0) in zip(got, expected, strict=True):
            assert c == c0 and abs(t - t0) <= 0.001
        hold_ends = sorted(n.end_time_s for n in want.notes if n.is_hold)
        assert np.max(np.abs(np.array(tails) - hold_ends)) <= 0.001
    text = path.read_text(encoding="utf-8")
    assert "GenéLive Studio test" in text and '"seed": 7' in text


def test_osu_notes_within_1ms_one_file_per_difficulty(tmp_path):
    song = _song()
    paths = _write(tmp_path, song, "osu")
    assert sorted(p.name for p in paths) == [
        "Art_ist - Song_ Title (GenéLive) [Easy].osu",
        "Art_ist - Song_ Title (GenéLive) [Hard].osu",
    ]
    for path in paths:
        beatmap = read_osu(path)
        assert beatmap.keys == 4 and beatmap.mode == 3
        assert "seed=7" in path.read_text(encoding="utf-8")
        want = sorted((n.time_s, n.column, n.end_time_s or 0.0) for n in song.charts[0].notes)
        got = sorted(
            (h.time_ms / 1000, h.column, (h.end_ms or 0) / 1000) for h in beatmap.hit_objects
        )
        assert [c for _, c, _ in got] == [c for _, c, _ in want]
        assert np.max(np.abs(np.array(got) - np.array(want))) <= 0.001


@pytest.mark.parametrize("fmt", ["sm", "ssc", "osu", "json"])
def test_our_reader_round_trips_every_format(tmp_path, fmt):
    song = _song()
    for path in _write(tmp_path, song, fmt):
        assert check_round_trip(song, path) <= 0.001
    if fmt == "json":
        back = read_chart_file(tmp_path / "Song_ Title.json")
        assert back.timing == TIMING and back.stamp == song.stamp
        got, want = back.charts[1].notes, song.charts[1].notes
        assert [(n.column, n.beat, n.end_beat) for n in got] == [
            (n.column, n.beat, n.end_beat) for n in want
        ]
        assert max(abs(a.time_s - b.time_s) for a, b in zip(got, want, strict=True)) < 1e-6


@pytest.mark.parametrize("fmt", ["sm", "osu", "json"])
def test_timing_from_a_written_file_places_beats_alike(tmp_path, fmt):
    song = _song()
    path = _write(tmp_path, song, fmt)[0]
    timing = timing_from_file(path)
    # osu! restarts its beat count at each red point: compare times of our notes, not beats.
    times = [n.time_s for n in song.charts[0].notes]
    if fmt == "osu":
        red = [p for p in read_osu(path).timing_points if p.uninherited]
        assert len(red) == 3  # start, BPM change, end of the stop
    else:
        beats = [n.beat for n in song.charts[0].notes]
        assert np.max(np.abs(timing.time_at(beats) - times)) < 1e-6


def test_osu_with_seven_keys_keeps_lanes_apart(tmp_path):
    song = _song(keys=7)
    text = song.to_osu(song.charts[0])
    assert "CircleSize:7" in text
    beatmap_path = tmp_path / "k7.osu"
    beatmap_path.write_text(text, encoding="utf-8")
    columns = {h.column for h in read_osu(beatmap_path).hit_objects}
    assert columns <= set(range(7)) and len(columns) > 4


@pytest.mark.parametrize("bad", [((0.0, 0.0),), ((0.0, -5.0),), ((0.0, 1001.0),), ((1.0, 120.0),)])
def test_impossible_tempo_maps_are_refused(bad):
    with pytest.raises(TimingError):
        Timing(0.0, bad)


def test_malformed_chart_files_say_what_is_wrong(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "genelive-chart", "charts": 3}')
    with pytest.raises(ChartFileError, match="malformed"):
        read_chart_file(path)
    with pytest.raises(ChartFileError, match="not a chart file"):
        read_chart_file(tmp_path / "x.txt")
    with pytest.raises(TimingError, match="no such file"):
        timing_from_file(tmp_path / "missing.sm")


def test_ogg_crc_matches_the_bitwise_definition():
    from genelive.formats.preview import _ogg_crc

    def bitwise(data: bytes) -> int:  # the Ogg spec's CRC, one bit at a time
        crc = 0
        for byte in data:
            crc ^= byte << 24
            for _ in range(8):
                crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
                crc &= 0xFFFFFFFF
        return crc

    rng = np.random.default_rng(0)
    for n in (0, 1, 27, 300):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert _ogg_crc(data) == bitwise(data)


def test_json_charts_are_the_documented_schema(tmp_path):
    """docs/chart-files.md: format, version 1, times to the microsecond, holds with their end."""
    from genelive.formats.json_chart import write_json

    timing = Timing(-0.5, ((0.0, 120.0),))
    notes = [Note(2, 1.0, 1.00000049), Note(0, 2.0, 1.5, 3.0, 2.0000004)]
    song = ChartSet("T", "A", "a.ogg", timing, [Chart("Easy", 2, notes, 4.0, seed=3)], {}, 4)
    text = write_json(song)
    assert text.startswith('{\n "format": "genelive-chart",\n "format_version": 1,\n')
    data = json.loads(text)
    assert data["timing"] == {"offset_s": -0.5, "bpms": [[0.0, 120.0]], "stops": []}
    (chart,) = data["charts"]
    assert chart["notes"] == [
        {"time_s": 1.0, "beat": 1.0, "column": 2},
        {"time_s": 1.5, "beat": 2.0, "column": 0, "end_time_s": 2.0, "end_beat": 3.0},
    ]
    assert chart["nps"] == 0.5 and chart["holds"] == 1 and chart["seed"] == 3


def test_a_json_file_of_another_kind_is_refused(tmp_path):
    from genelive.formats.json_chart import read_json

    for name, text in [("list.json", "[1, 2]"), ("other.json", '{"format": "other"}')]:
        (tmp_path / name).write_text(text)
        with pytest.raises(ChartFileError) as refused:
            read_json(tmp_path / name)
        assert str(refused.value) == f"{tmp_path / name}: not a genelive-chart file"
    bad_timing = json.loads((_write(tmp_path, _song(), "json")[0]).read_text())
    bad_timing["timing"]["bpms"] = [[1.0, 120.0]]
    (tmp_path / "t.json").write_text(json.dumps(bad_timing))
    with pytest.raises(ChartFileError, match=r"malformed chart JSON \(TimingError: a tempo map"):
        read_json(tmp_path / "t.json")


def test_notes_per_second_and_the_note_array():
    from genelive.formats.notes import note_array

    notes = [Note(1, 0.0, 0.25), Note(3, 1.0, 0.5, 2.0, 0.75), Note(0, 2.0, 1.0)]
    assert Chart("Easy", 1, notes, 7.0).nps == 0.429  # 3 / 7, to 3 decimals
    assert Chart("Easy", 1, notes, 0.5).nps == 6.0 and Chart("Easy", 1, notes, 0.0).nps == 0.0
    array = note_array(Chart("Easy", 1, notes, 7.0))
    np.testing.assert_array_equal(array[:, :2], [[0.25, 1], [0.5, 3], [1.0, 0]])
    assert np.isnan(array[[0, 2], 2]).all() and array[1, 2] == 0.75
    assert note_array(Chart("Easy", 1, [], 7.0)).shape == (0, 3)
