"""Reading charts: .sm/.ssc through simfile's timing engine, .osu by hand; bad files skipped."""

from __future__ import annotations

import json
import logging

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


def test_versions_of_a_song_stay_on_one_side_of_the_split(corpus):
    songs = scan_charts(corpus)
    assert len(songs) >= 60 and sum(len(s.charts) for s in songs) >= 240
    assert title_group("Top of The World (nanobii Remix)") == title_group("Top of The World")
    train, val = split_by_group(songs, 0.2, seed=0)
    assert not set(train) & set(val) and 0.15 < len(val) / len(songs) < 0.25
    for group in {s.group for s in songs}:
        sides = {s.key in val for s in songs if s.group == group}
        assert len(sides) == 1, group
    assert split_by_group(songs, 0.2, seed=0) == (train, val)


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
