"""Reading charts: .sm/.ssc through simfile's timing engine, .osu by hand; bad files skipped."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pytest

from genelive.formats.osu import OsuError, read_osu
from genelive.training.corpus import osu_difficulty, scan_charts, title_group
from genelive.training.data import split_by_group
from tests.helpers import click_track, quarter_measures, sm_text, write_audio


def _song(folder, text, name="song.sm"):
    folder.mkdir(parents=True, exist_ok=True)
    write_audio(folder / "audio.ogg", click_track(120, 12.0)[0], format="OGG", subtype="VORBIS")
    (folder / name).write_text(text)


def test_sm_onsets_and_beats_follow_offset_and_stops(tmp_path):
    measures = quarter_measures(2)  # 8 quarter notes from beat 0
    stop = "4.000=0.500"  # half a second stop on beat 4
    _song(tmp_path / "a", sm_text("Song A", 120, -0.25, {"Hard": measures}, stops=stop))
    (song,) = scan_charts(tmp_path)
    (chart,) = song.charts
    assert chart.difficulty == "Hard" and chart.meter == 5
    # Beat 0 sits at -OFFSET = 0.25 s; beats 0.5 s apart; the stop delays beats after 4.
    expected = 0.25 + 0.5 * np.arange(8) + np.where(np.arange(8) > 4, 0.5, 0.0)
    np.testing.assert_allclose(chart.onset_times_s, expected, atol=1e-6)
    assert chart.beats.times_s[0] == pytest.approx(0.25)
    np.testing.assert_allclose(chart.beats.times_s[:8], expected, atol=1e-6)
    assert chart.beats.downbeats[:9].tolist() == [True, False, False, False] * 2 + [True]


def test_holds_mines_and_edit_charts(tmp_path):
    measure = "2000\n0000\n3000\nM001"  # hold head, tail, mine + tap on the last row
    charts = {"Edit": [measure], "Beginner": quarter_measures(1)}
    _song(tmp_path / "b", sm_text("Song B", 60, 0.0, charts))
    (song,) = scan_charts(tmp_path)
    by_level = {c.difficulty: c for c in song.charts}
    assert set(by_level) == {"Challenge", "Beginner"}  # Edit counts as Challenge
    np.testing.assert_allclose(by_level["Challenge"].onset_times_s, [0.0, 3.0])


def test_malformed_files_and_charts_are_skipped_with_a_reason(tmp_path, caplog):
    _song(tmp_path / "good", sm_text("Good", 120, 0.0, {"Easy": quarter_measures(2)}))
    _song(tmp_path / "empty", sm_text("Empty", 120, 0.0, {"Easy": ["0000\n0000\n0000\n0000"]}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.sm").write_text("#TITLE:x;\n#MUSIC:missing.ogg;\n#NOTES:garbage")
    (tmp_path / "broken" / "y.osu").write_text("not an osu file")
    with caplog.at_level(logging.WARNING):
        songs = scan_charts(tmp_path)
    assert [s.title for s in songs] == ["Good"]
    text = caplog.text
    assert "no notes" in text and "y.osu" in text and "x.sm" in text


def test_ssc_wins_over_sm_and_duplicates_are_dropped(tmp_path):
    folder = tmp_path / "c"
    _song(folder, sm_text("Song C", 120, 0.0, {"Easy": quarter_measures(2)}), "c.sm")
    (folder / "c.ssc").write_text(
        "#VERSION:0.83;\n#TITLE:Song C;\n#MUSIC:audio.ogg;\n#OFFSET:0.000;\n#BPMS:0.000=120.000;\n"
        "#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#DIFFICULTY:Medium;\n#METER:4;\n#NOTES:\n"
        + "\n,\n".join(quarter_measures(1))
        + "\n;\n"
    )
    (folder / "copy.sm").write_text(sm_text("Song C", 120, 0.0, {"Easy": quarter_measures(2)}))
    (song,) = scan_charts(tmp_path)
    assert sorted(c.difficulty for c in song.charts) == ["Easy", "Medium"]
    assert {c.source.name for c in song.charts} == {"c.ssc", "copy.sm"}


def osu_text(version: int = 14, name: str = "Hard", mode: int = 3) -> str:
    return (
        f"osu file format v{version}\n\n[General]\nAudioFilename: audio.ogg\nMode: {mode}\n\n"
        f"[Metadata]\nTitle:Song D\nVersion:{name}\n\n[Difficulty]\nCircleSize:4\n\n"
        "[TimingPoints]\n1000,500,4,2,0,60,1,0\n3000,-50,4,2,0,60,0,0\n\n[HitObjects]\n"
        "64,192,1000,1,0,0:0:0:0:\n448,192,1500,128,0,2500:0:0:0:0:\n192,192,1500,1,0,0:0:0:0:\n"
    )


def test_osu_mania_reading(tmp_path):
    folder = tmp_path / "d"
    _song(folder, osu_text(), "d.osu")
    beatmap = read_osu(folder / "d.osu")
    assert [h.column for h in beatmap.hit_objects] == [0, 3, 1]
    assert beatmap.hit_objects[1].end_ms == 2500
    (song,) = scan_charts(tmp_path)
    (chart,) = song.charts
    assert chart.difficulty == "Hard"
    np.testing.assert_allclose(chart.onset_times_s, [1.0, 1.5])
    np.testing.assert_allclose(chart.beats.times_s[:4], [0.0, 0.5, 1.0, 1.5])  # back to t=0 too
    assert chart.beats.downbeats[:4].tolist() == [False, False, True, False]  # the red point


def test_osu_legacy_offset_and_errors(tmp_path):
    path = tmp_path / "old.osu"
    path.write_text(osu_text(version=4))
    np.testing.assert_allclose(read_osu(path).onset_times_s(), [1.024, 1.524])
    path.write_text(osu_text(mode=0))
    with pytest.raises(OsuError, match="not an osu!mania beatmap"):
        read_osu(path)
    path.write_text(osu_text().replace("64,192,1000,1", "64,192,soon,1"))
    with pytest.raises(OsuError, match=r"old.osu:\d+: malformed \[HitObjects\]"):
        read_osu(path)


def test_osu_difficulty_names_and_density_fallback():
    onsets = np.arange(0, 60, 0.5)  # 2 notes per second
    assert osu_difficulty("Insane", onsets) == "Challenge"
    assert osu_difficulty("Normal", onsets) == "Medium"
    assert osu_difficulty("Kyle's 4K", onsets) == "Easy"
    assert osu_difficulty("whatever", np.arange(0, 60, 0.1)) == "Challenge"


def test_three_packs_split_three_ways_by_group_and_pack(corpus):
    songs = scan_charts(corpus.parent)  # charts/, itg/, hodobox/
    packs = Counter(s.pack for s in songs)
    assert set(packs) == {"charts", "itg", "hodobox"} and min(packs.values()) >= 30
    assert sum(len(s.charts) for s in songs) >= 600
    assert title_group("Top of The World (nanobii Remix)") == title_group("Top of The World")
    # ITG's four Disconnected mixes are one group by the manifest, though their titles differ.
    disconnected = [s for s in songs if s.group == "disconnected"]
    assert len(disconnected) == 4
    assert {title_group(s.title) for s in disconnected} != {"disconnected"}
    split = split_by_group(songs, 0.15, 0.15, seed=0)
    side_of = {key: side for side, keys in split.items() for key in keys}
    assert sorted(side_of) == sorted(s.key for s in songs)  # every song on exactly one side
    for group in {s.group for s in songs}:
        assert len({side_of[s.key] for s in songs if s.group == group}) == 1, group
    for side in ("validation", "test"):
        share = Counter(s.pack for s in songs if side_of[s.key] == side)
        for pack, n in packs.items():  # each pack in its proportion, give or take a group
            assert abs(share[pack] - 0.15 * n) <= 2, (side, pack)
    assert split_by_group(songs, 0.15, 0.15, seed=0) == split
    assert split_by_group(songs, 0.15, 0.15, seed=1) != split


def test_a_hostile_manifest_is_ignored_whole_and_never_opens_paths(tmp_path, caplog):
    for name in ("One", "One (Remix)", "Two"):
        _song(tmp_path / "pack" / name, sm_text(name, 120, 0.0, {"Easy": quarter_measures(2)}))
    manifest = tmp_path / "pack" / "manifest.json"
    rows = [{"song": "One", "group": "g"}, {"song": "Two", "group": "g"}]
    manifest.write_text(json.dumps(rows))
    groups = {s.title: s.group for s in scan_charts(tmp_path)}
    assert groups == {"One": "g", "One (Remix)": "one", "Two": "g"}
    assert {s.pack for s in scan_charts(tmp_path)} == {"pack"}
    for bad in (
        [*rows, {"song": "../../etc", "group": "x"}],
        [*rows, {"song": "a/b"}],
        [*rows, {"song": ".."}],
        {"song": "One"},
        [*rows, {"song": 3}],
        [*rows, {"song": "One", "group": ["g"]}],
    ):
        manifest.write_text(json.dumps(bad))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            groups = {s.title: s.group for s in scan_charts(tmp_path)}
        assert groups == {"One": "one", "One (Remix)": "one", "Two": "two"}, bad
        assert "ignoring" in caplog.text and "manifest.json" in caplog.text
    manifest.write_bytes(b"\xff\xfe not json")
    assert len(scan_charts(tmp_path)) == 3


def test_corpus_song_timing_matches_golden_metadata(corpus, golden_genelive):
    meta = json.loads((golden_genelive / "meta.json").read_text())
    song_dir = corpus / "[2015.03.26] BC - Lily [Thumbsy]"
    (song,) = scan_charts(song_dir)
    offset = meta["chart_timing"]["offset_s"]
    bpm = meta["chart_timing"]["bpms"][0][1]
    chart = song.charts[0]
    # Beat 0 at −OFFSET; beats every 60/BPM seconds.
    k = np.round((chart.beats.times_s + offset) * bpm / 60)
    np.testing.assert_allclose(chart.beats.times_s, -offset + k * 60 / bpm, atol=1e-6)


def test_simfiles_without_dance_single_charts_say_so(tmp_path, caplog):
    text = sm_text("Doubles", 120, 0.0, {"Hard": quarter_measures(2)})
    _song(tmp_path / "d", text.replace("dance-single", "dance-double"))
    _song(tmp_path / "none", "#TITLE:Nothing;\n#MUSIC:audio.ogg;\n#BPMS:0=120;\n")
    with caplog.at_level(logging.WARNING):
        assert scan_charts(tmp_path) == []
    assert "no dance-single charts (only dance-double)" in caplog.text
    assert "no dance-single charts (none at all)" in caplog.text


def test_linked_song_folders_are_read_and_link_cycles_end(tmp_path):
    _song(tmp_path / "store" / "a", sm_text("Linked", 120, 0.0, {"Easy": quarter_measures(2)}))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").symlink_to(tmp_path / "store" / "a")
    (tree / "loop").symlink_to(tree)  # a cycle
    (song,) = scan_charts(tree)
    assert song.key == "a/audio.ogg" and song.title == "Linked"


def _simfile(tmp_path, header: str, notes: str = "1000\n0000\n0000\n0000", meter: str = "5"):
    path = tmp_path / "t.sm"
    path.write_text(
        f"#TITLE:T;\n#MUSIC:a.ogg;\n#OFFSET:0;\n{header}\n#NOTES:\n dance-single:\n :\n Hard:\n"
        f" {meter}:\n 0,0,0,0,0:\n{notes}\n;\n"
    )
    return path


@pytest.mark.parametrize(
    ("bpms", "expected"),
    [
        ("0=120,8=150", ((0.0, 120.0), (8.0, 150.0))),
        # StepMania extends a first BPM given after beat 0 back to beat 0.
        ("0.5=120,8=150", ((0.0, 120.0), (0.5, 120.0), (8.0, 150.0))),
    ],
)
def test_simfile_tempo_maps(tmp_path, bpms, expected):
    from genelive.formats.stepmania import simfile_timing

    timing = simfile_timing(_simfile(tmp_path, f"#BPMS:{bpms};\n#STOPS:4=0.5,6=0;"))
    assert timing.bpms == expected and timing.stops == ((4.0, 0.5),)  # a zero stop is none


@pytest.mark.parametrize("tag", ["DELAYS", "WARPS"])
def test_simfile_delays_and_warps_are_refused_with_the_reason(tmp_path, tag):
    from genelive.formats.stepmania import simfile_timing
    from genelive.timing import TimingError

    path = tmp_path / "t.ssc"
    path.write_text(
        f"#VERSION:0.83;\n#TITLE:T;\n#MUSIC:a.ogg;\n#OFFSET:0;\n#BPMS:0=120;\n#{tag}:4=1;\n"
    )
    with pytest.raises(TimingError) as refused:
        simfile_timing(path)
    assert str(refused.value) == f"{path}: has {tag.lower()}, which our chart formats cannot carry"


def test_an_unreadable_tempo_map_is_refused_with_the_reason(tmp_path):
    from genelive.formats.stepmania import simfile_timing
    from genelive.timing import TimingError

    with pytest.raises(TimingError, match=r"t.sm: unreadable simfile \("):
        simfile_timing(_simfile(tmp_path, "#BPMS:zero=fast;"))


def test_simfile_charts_tails_without_heads_and_missing_meters(tmp_path):
    import simfile

    from genelive.formats.stepmania import chart_of

    # A tail in column 1 with no head there is ignored; the hold in column 0 is one note.
    rows = "2000\n0300\n3000\n0000"
    for meter, expected in [("", 1), (" ", 1), ("7", 7)]:
        path = _simfile(tmp_path, "#BPMS:0=60;", rows, meter)
        sim = simfile.open(str(path))
        sim.charts[0].meter = meter  # as given: simfile strips what it reads
        chart = chart_of(sim, sim.charts[0])
        assert chart.meter == expected and chart.difficulty == "Hard"
        (hold,) = chart.notes
        assert (hold.column, hold.beat, hold.end_beat, hold.end_time_s) == (0, 0.0, 2.0, 2.0)


OSU_TIMING = """osu file format v{version}

[General]
AudioFilename: a.ogg
Mode: 3

[Metadata]
Title:Song [Live]
Version:Hard

[Difficulty]
CircleSize:4

[TimingPoints]
1000,500,4,1,0,100,1,0
2000,-50,4,1,0,100,0,0
3000,250,3,1,0,100,1,0

[HitObjects]
64,192,1500,1,0,0:0:0:0:
448,192,3250,128,0,3500:0:0:0:0:
"""


@pytest.mark.parametrize(("version", "shift_s"), [(14, 0.0), (5, 0.0), (4, 0.024)])
def test_osu_tempo_map_beats_and_notes_from_red_points(tmp_path, version, shift_s):
    """Red points at 1000 ms (120 BPM, 4/4) and 3000 ms (240 BPM, 3/4), a green one between;
    files below format v5 play 24 ms late."""
    path = tmp_path / "t.osu"
    path.write_text(OSU_TIMING.format(version=version))
    beatmap = read_osu(path)
    assert beatmap.title == "Song [Live]" and beatmap.version_name == "Hard"
    timing = beatmap.timing()
    assert timing.offset_s == pytest.approx(-1.0 - shift_s)
    assert timing.bpms == ((0.0, 120.0), (4.0, 240.0))
    grid = beatmap.beat_grid(4.0)
    expected = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.25, 3.5, 3.75]
    np.testing.assert_allclose(grid.times_s, np.array(expected) + shift_s)
    assert np.flatnonzero(grid.downbeats).tolist() == [2, 6, 9]
    notes = list(beatmap.notes_s())
    assert notes == [
        (0, pytest.approx(1.5 + shift_s), None),
        (3, pytest.approx(3.25 + shift_s), pytest.approx(3.5 + shift_s)),
    ]


def test_osu_timing_point_lines_of_every_length(tmp_path):
    text = OSU_TIMING.format(version=14)
    path = tmp_path / "t.osu"
    # Two fields (old files): red when the beat length is positive, green otherwise; 4/4.
    path.write_text(
        text.replace("2000,-50,4,1,0,100,0,0", "2000,0").replace(
            "1000,500,4,1,0,100,1,0", "1000,500"
        )
    )
    points = read_osu(path).timing_points
    assert [(p.uninherited, p.meter) for p in points] == [(True, 4), (False, 4), (True, 3)]
    path.write_text(text.replace("3000,250,3,1,0,100,1,0", "3000,250,3,1,0,100"))  # six fields
    assert read_osu(path).timing_points[2].uninherited
    path.write_text(text.replace("3000,250,3,1,0,100,1,0", "3000,0,3,1,0,100,1,0"))
    with pytest.raises(OsuError) as refused:
        read_osu(path)
    assert str(refused.value) == "t.osu:17: malformed [TimingPoints] line '3000,0,3,1,0,100,1,0'"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "t.osu: not an osu! beatmap (no 'osu file format vN' header)"),
        (b"[General]\nMode: 3\n", "t.osu: not an osu! beatmap (no 'osu file format vN' header)"),
        (b"osu file format vX\n", "t.osu: bad format header 'osu file format vX'"),
        (b"osu file format v14\n\xff\xfe\n", "t.osu: unreadable ("),
    ],
)
def test_files_that_are_not_osu_beatmaps(tmp_path, content, says):
    path = tmp_path / "t.osu"
    path.write_bytes(content)
    with pytest.raises(OsuError) as refused:
        read_osu(path)
    assert str(refused.value).startswith(says)


def test_an_osu_map_without_a_red_point_has_no_tempo(tmp_path):
    path = tmp_path / "t.osu"
    text = OSU_TIMING.format(version=14)
    path.write_text(
        text.replace("1000,500,4,1,0,100,1,0\n", "").replace("3000,250,3,1,0,100,1,0\n", "")
    )
    with pytest.raises(OsuError) as refused:
        read_osu(path).timing()
    assert str(refused.value) == "t.osu: no uninherited (red) timing point: no tempo"


def test_osu_columns_from_x_and_lines_of_three_and_seven_fields(tmp_path):
    # osu!mania: column = floor(x × keys / 512), x = 512 (past the edge) in the last column.
    xs = [0, 127, 128, 255, 256, 384, 511, 512]
    objects = "".join(f"{x},192,{1000 + 100 * i},1,0,0:0:0:0:\n" for i, x in enumerate(xs))
    text = OSU_TIMING.format(version=14).split("[HitObjects]")[0] + "[HitObjects]\n" + objects
    text = text.replace("1000,500,4,1,0,100,1,0", "1000,500,1")  # three fields: meter 1
    text = text.replace("2000,-50,4,1,0,100,0,0", "2000,500,4,1,0,100,0")  # 7 fields: green
    path = tmp_path / "t.osu"
    path.write_text(text)
    beatmap = read_osu(path)
    assert [h.column for h in beatmap.hit_objects] == [0, 0, 1, 1, 2, 3, 3, 3]
    points = beatmap.timing_points
    assert [(p.uninherited, p.meter) for p in points] == [(True, 1), (False, 4), (True, 3)]
    grid = beatmap.beat_grid(3.0)
    assert grid.downbeats[grid.times_s < 3.0].all()  # one beat a measure: every beat


def test_legacy_offset_moves_where_each_red_point_ends(tmp_path):
    # v4: everything 24 ms late. The first run (500 ms beats from 1024 ms) ends at the second
    # red point, 3034 ms: its beat at 3024 ms is still inside it.
    text = OSU_TIMING.format(version=4).replace("3000,250,3", "3010,250,3")
    path = tmp_path / "t.osu"
    path.write_text(text)
    times = read_osu(path).beat_grid(4.0).times_s
    np.testing.assert_allclose(times[:8], [0.024, 0.524, 1.024, 1.524, 2.024, 2.524, 3.024, 3.034])


def test_each_osu_red_point_runs_until_the_next(tmp_path):
    text = OSU_TIMING.format(version=14).replace("2000,-50,4,1,0,100,0,0", "2000,250,4,1,0,100,1,0")
    text = text.replace("3000,250,3,1,0,100,1,0", "3000,500,4,1,0,100,1,0")
    path = tmp_path / "t.osu"
    path.write_text(text)
    times = read_osu(path).beat_grid(4.0).times_s
    np.testing.assert_allclose(times, [0, 0.5, 1, 1.5, 2, 2.25, 2.5, 2.75, 3, 3.5])
