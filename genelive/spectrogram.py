"""librosa's STFT, mel filter bank and power spectrogram, in numpy alone, call for call.

The charting path needs a mel spectrogram twice (the onset model's log-mel frames, the tempo's
onset envelope). librosa computes them in milliseconds, but importing what its first call needs
(numba, scipy.signal, its audio and pitch modules) takes two seconds of every `studio chart`.
These functions repeat librosa 0.11's operations in the same order on the same dtypes (and
scipy's Hann window), so their results are the same bits; tests/test_features.py compares them
with librosa itself.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

MAX_MEM_BLOCK = 2**8 * 2**10  # librosa.util.MAX_MEM_BLOCK: FFTs run in blocks of this many bytes


def hann_window(n: int) -> np.ndarray:
    """scipy.signal.get_window("hann", n, fftbins=True): the periodic Hann window, float64."""
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1, dtype=np.float64)
    for k, a in enumerate(np.asarray([0.5, 0.5], dtype=np.float64)):
        w += a * np.cos(k * fac)
    return w[:-1]


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """(n,) → (frame_length, n_frames) strided view (librosa.util.frame, axis -1)."""
    if x.shape[-1] < frame_length:
        raise ValueError(f"input is too short (n={x.shape[-1]}) for frame_length={frame_length}")
    strides = (*x.strides, x.strides[-1])
    shape = (x.shape[-1] - frame_length + 1, frame_length)
    frames = np.moveaxis(as_strided(x, strides=strides, shape=shape, writeable=False), -1, -2)
    return frames[..., ::hop_length]


def stft(y: np.ndarray, n_fft: int, hop_length: int, pad_mode: str = "constant") -> np.ndarray:
    """librosa.stft(y, n_fft=, hop_length=, center=True, window="hann", pad_mode=) of mono y:
    (1 + n_fft // 2, n_frames) complex, its dtype librosa's for y's."""
    window = hann_window(n_fft)[:, None]  # (n_fft, 1)
    half = n_fft // 2
    start_k = int(np.ceil(half / hop_length))
    tail_k = (y.shape[-1] + half - n_fft) // hop_length + 1
    frames_pre = frames_post = None
    if tail_k <= start_k:
        start, extra = 0, 0
        y = np.pad(y, (half, half), mode=pad_mode)
    else:
        # The first and last frames, which reach into the padding, are framed from padded
        # copies of the ends only: no padded copy of the whole signal.
        start = start_k * hop_length - half
        y_pre = np.pad(y[: (start_k - 1) * hop_length - half + n_fft + 1], (half, 0), mode=pad_mode)
        frames_pre = frame(y_pre, n_fft, hop_length)[..., :start_k]
        extra = frames_pre.shape[-1]
        if tail_k * hop_length - half + n_fft <= y.shape[-1] + half:
            y_post = np.pad(y[tail_k * hop_length - half :], (0, half), mode=pad_mode)
            frames_post = frame(y_post, n_fft, hop_length)
            extra += frames_post.shape[-1]
    frames = frame(y[start:], n_fft, hop_length)
    dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    out = np.zeros((1 + half, frames.shape[-1] + extra), dtype=dtype, order="F")
    off_start = 0
    if frames_pre is not None and extra > 0:
        off_start = frames_pre.shape[-1]
        out[:, :off_start] = np.fft.rfft(window * frames_pre, axis=-2)
        if frames_post is not None and frames_post.shape[-1] > 0:
            out[:, -frames_post.shape[-1] :] = np.fft.rfft(window * frames_post, axis=-2)
    n_columns = max(int(MAX_MEM_BLOCK // (frames.shape[0] * frames.itemsize)), 1)
    for bl_s in range(0, frames.shape[-1], n_columns):
        bl_t = min(bl_s + n_columns, frames.shape[-1])
        block = np.fft.rfft(window * frames[:, bl_s:bl_t], axis=-2)
        out[:, bl_s + off_start : bl_t + off_start] = block
    return out


def hz_to_mel(frequencies, htk: bool) -> np.ndarray:
    frequencies = np.asanyarray(frequencies)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)
    f_sp = 200.0 / 3
    mels = frequencies / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    if frequencies.ndim:
        log_t = frequencies >= min_log_hz
        mels[log_t] = min_log_mel + np.log(frequencies[log_t] / min_log_hz) / logstep
    elif frequencies >= min_log_hz:
        mels = min_log_mel + np.log(frequencies / min_log_hz) / logstep
    return mels


def mel_to_hz(mels, htk: bool) -> np.ndarray:
    mels = np.asanyarray(mels)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    if mels.ndim:
        log_t = mels >= min_log_mel
        freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    elif mels >= min_log_mel:
        freqs = min_log_hz * np.exp(logstep * (mels - min_log_mel))
    return freqs


def mel_filters(
    sr: float,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
) -> np.ndarray:
    """librosa.filters.mel(..., norm="slaney", dtype=float32): (n_mels, 1 + n_fft // 2)."""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def mel_power(
    y: np.ndarray,
    sr: float,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    pad_mode: str = "constant",
) -> np.ndarray:
    """librosa.feature.melspectrogram(y=y, sr=sr, ..., power=2): (n_mels, n_frames)."""
    power = np.abs(stft(y, n_fft, hop_length, pad_mode)) ** 2.0
    basis = mel_filters(sr, n_fft, n_mels, fmin, fmax, htk)
    return np.einsum("...ft,mf->...mt", power, basis, optimize=True)


def power_to_db(power: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db(power) with ref=1."""
    log_spec = 10.0 * np.log10(np.maximum(amin, power))
    log_spec -= 10.0 * np.log10(np.maximum(amin, np.abs(1.0)))
    return np.maximum(log_spec, log_spec.max() - top_db)


def onset_strength(y: np.ndarray, sr: float, n_fft: int, hop_length: int) -> np.ndarray:
    """librosa.onset.onset_strength(y=y, sr=sr, n_fft=, hop_length=, center=True): spectral
    flux of the dB mel spectrogram (128 bands up to sr/2), averaged over bands, (n_frames,)."""
    power = np.abs(mel_power(y, sr, n_fft, hop_length, 128, fmax=0.5 * sr))
    db = np.atleast_2d(power_to_db(power))
    flux = np.maximum(0.0, db[..., 1:] - db[..., :-1])
    env = np.empty((1, flux.shape[-1]), dtype=flux.dtype)
    env[0] = np.mean(flux[..., :, :], axis=-2)
    env = np.pad(env, [(0, 0), (1 + n_fft // (2 * hop_length), 0)], mode="constant")
    return env[..., : db.shape[-1]][0]
