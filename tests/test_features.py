"""The chart path's spectrograms (genelive/spectrogram.py) are librosa's to the bit."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from scipy.signal import get_window

from genelive import spectrogram
from genelive.features import log_mel
from genelive.tempo import onset_envelope


def test_window_and_filter_banks_equal_librosas():
    assert np.array_equal(spectrogram.hann_window(2048), get_window("hann", 2048, fftbins=True))
    ours = spectrogram.mel_filters(16000, 2048, 229, 30.0, htk=True)
    theirs = librosa.filters.mel(sr=16000, n_fft=2048, n_mels=229, fmin=30.0, htk=True)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    ours = spectrogram.mel_filters(16000, 1024, 128, fmax=8000.0)
    assert np.array_equal(ours, librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128))


# Lengths that take each of librosa's STFT paths: shorter than a frame, one frame, not a
# multiple of the hop, a minute.
@pytest.mark.parametrize("n", [1500, 2048, 3 * 16000 + 17, 60 * 16000])
def test_log_mel_and_onset_envelope_equal_librosas(n):
    audio = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    expected = librosa.feature.melspectrogram(
        y=audio,
        sr=16000,
        n_fft=2048,
        hop_length=512,
        n_mels=229,
        fmin=30.0,
        htk=True,
        pad_mode="reflect",
    )
    assert np.array_equal(log_mel(audio), np.log(np.maximum(expected, 1e-5)).T)
    flux = librosa.onset.onset_strength(y=audio, sr=16000, hop_length=80, n_fft=1024)
    assert np.array_equal(onset_envelope(audio), (flux - flux.mean()).astype(np.float64))
