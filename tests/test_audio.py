"""Audio loading: formats, mono, resampling, and a clear error for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from genelive import audio as audio_mod
from genelive.audio import AudioError, load_audio, probe_audio
from tests.helpers import click_track, write_audio


@pytest.mark.parametrize(
    ("suffix", "kwargs"),
    [
        (".wav", {}),
        (".flac", {}),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}),
        (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
def test_formats_decode_to_mono_16k(tmp_path, suffix, kwargs):
    audio, _ = click_track(120, 3.0, sr=22050)
    stereo = np.stack([audio, 0.5 * audio], axis=1)
    path = write_audio(tmp_path / f"song{suffix}", stereo, 22050, **kwargs)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    # MP3 frames pad the length a little; the others are exact after resampling.
    assert abs(len(y) - 3.0 * 16000) < (2000 if suffix == ".mp3" else 2)
    assert 0.3 < np.abs(y).max() < 1.5


def test_resampled_click_stays_in_time(tmp_path):
    audio, _times = click_track(100, 4.0, sr=44100, first_beat_s=1.0)
    y = load_audio(write_audio(tmp_path / "c.wav", audio, 44100))
    first = np.argmax(np.abs(y) > 0.3) / 16000
    assert abs(first - 1.0) < 0.002


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        load_audio(tmp_path / "nope.ogg")
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio")
    with pytest.raises(AudioError, match="not a readable audio file"):
        load_audio(text)


def test_empty_and_silent_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(empty)
    silent = write_audio(tmp_path / "silent.flac", np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(silent)


def test_length_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "long.wav", click_track(120, 3.0)[0], 22050)
    assert probe_audio(path).duration_s == pytest.approx(3.0)

    def no_decoding(*a, **k):
        raise AssertionError("decoded an over-long file")

    monkeypatch.setattr(audio_mod.sf, "read", no_decoding)
    with pytest.raises(AudioError, match="limit is 0 min"):
        load_audio(path, max_duration_s=2.0)


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_cut_wav_decodes_what_is_there(tmp_path):
    # A WAV is raw samples after its header: half the bytes are half the song, and the
    # loader gives exactly those (at 16 kHz), not an error and not padding.
    path = _cut_in_half(write_audio(tmp_path / "song.wav", click_track(120, 3.0)[0], 22050))
    assert len(load_audio(path)) / 16000 == pytest.approx(1.5, abs=0.01)


@pytest.mark.parametrize(
    ("suffix", "kwargs", "message"),
    [
        (".flac", {}, r"^song\.flac: corrupt audio, decoding failed \(.*lost sync"),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}, r"^song\.ogg: .*holds no audio samples"),
    ],
)
def test_cut_compressed_file_is_one_clear_error(tmp_path, suffix, kwargs, message):
    audio = click_track(120, 3.0)[0]
    path = _cut_in_half(write_audio(tmp_path / f"song{suffix}", audio, 22050, **kwargs))
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert "\n" not in str(caught.value)


def test_cli_reports_bad_audio_in_one_line(tmp_path, capsys):
    silent = write_audio(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    assert main(["onsets", str(silent), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: silent.wav: the audio is silent") and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()
