"""Tempo and beat phase of a song from its audio: BPM candidates and StepMania's offset.

Rhythm-game songs nearly always keep one tempo, and a chart needs it to the hundredth of a BPM
(0.1 BPM off drifts by ~75 ms over two minutes). So the estimate is a global fit rather than a
beat tracker: the onset-strength envelope is projected onto beat combs, i.e. its Fourier
coefficient at the beat frequency and a few harmonics,

    S(bpm) = Σ_k w_k · |Σ_t env(t) · exp(−2πi · k · bpm/60 · t)|,

searched on a coarse grid, refined to 0.005 BPM around each peak, and weighed by a prior over
charted tempi. Folding the envelope onto one beat period then gives where the beats fall. The
octave (×2, ×½) is the usual doubt; every candidate is returned with a confidence so the user
chooses, and `unsure` says when the best one does not clearly win.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from genelive.audio import SAMPLE_RATE
from genelive.spectrogram import onset_strength

HOP = 80  # 5 ms envelope frames
PHASE_BINS = 200
# The flux envelope peaks this long after the beat a charter places: the median phase error,
# with the true tempo, on the corpus' training songs.
ONSET_LAG_S = 0.0175
MIN_BPM, MAX_BPM = 60.0, 300.0
COARSE_STEP_BPM = 0.25
FINE_STEP_BPM = 0.005
# Beat, 8ths, triplets, 16ths, weighed equally: a tempo whose subdivisions are all strong wins
# over its double, which only sees every other one. Weights and prior were chosen on the
# training songs of the corpus (see docs/model-card-genelive.md).
HARMONIC_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
# Charted tempi: median 170, most 120–200 BPM in the corpus. A log-normal prior, in octaves.
PRIOR_CENTER_BPM = 140.0
PRIOR_WIDTH_OCTAVES = 0.8
# The fit is good to a few hundredths of a BPM; charters mostly use whole numbers.
INTEGER_SNAP_BPM = 0.05
UNSURE_MARGIN = 1.25  # the best candidate must score this much above the next
# Half-beat check: charters put more notes on beats than half a beat off them (Medium charts of
# the corpus' training songs: 0.55 notes per beat on it, 0.17 half a beat off; Beginner keeps
# fewer off-beats still), so an onset model run without a beat guide has more mass on the true
# beats. Mass within this window of each phase:
HALF_BEAT_WINDOW_S = 0.04
# The shifted phase wins only with this much more mass; within this ratio either way the
# estimate is `unsure`. Chosen on the validation songs: their phases were all right, and the
# most off-beat Beginner mass among them was 1.13× the on-beat one (bench/tempo_vs_essentia.py;
# the training songs' four half-beat errors showed 1.43–2.59×).
HALF_BEAT_RATIO = 1.25
DISTINCT_TOLERANCE = 0.01  # candidates closer than 1% are one tempo


@dataclass(frozen=True)
class TempoCandidate:
    bpm: float
    offset_s: float  # StepMania's #OFFSET: beat 0 falls at −offset_s, within one beat of 0
    confidence: float  # share of the candidates' total score, 0..1
    relation: str  # "best", "half-beat" (its beats shifted half a beat), "×2", "×½", ..., "other"


@dataclass(frozen=True)
class TempoEstimate:
    candidates: tuple[TempoCandidate, ...]  # ranked, best first
    unsure: bool  # the best candidate does not clearly win: ask the user
    # Where the tempo changes (genelive.tempo_map): the segments, the first at 0 s; () when
    # the song keeps the best candidate's tempo.
    segments: tuple = ()

    @property
    def bpm(self) -> float:
        return self.candidates[0].bpm

    @property
    def offset_s(self) -> float:
        return self.candidates[0].offset_s


def onset_envelope(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) mono → (T,) spectral-flux onset strength at 200 frames/s, mean removed."""
    # librosa.onset.onset_strength(..., n_fft=1024, center=True) to the bit, without librosa.
    env = onset_strength(np.asarray(audio, np.float32), sample_rate, 1024, HOP)
    return (env - env.mean()).astype(np.float64)


class CombSpectrum:
    """|Fourier coefficient| of the envelope at any tempo's beat rate, read from one long FFT.

    Zero-padding to `n_fft` samples puts the bins 60·fps/n_fft BPM apart (≈0.003 BPM), finer
    than the search steps, so a tempo's coefficient is its nearest bin.
    """

    def __init__(self, env: np.ndarray, fps: float, n_fft: int | None = None):
        n_fft = n_fft or 1 << max(21, math.ceil(math.log2(len(env))))
        self.magnitude = np.abs(np.fft.rfft(env, n_fft))
        self.bins_per_bpm = n_fft / (60.0 * fps)

    def __call__(self, bpms: np.ndarray) -> np.ndarray:
        """S(bpm) = Σ_k w_k |X(k · bpm)| over the harmonics."""
        bpms = np.asarray(bpms, np.float64)
        score = np.zeros(bpms.shape)
        for k, weight in enumerate(HARMONIC_WEIGHTS, start=1):
            bins = np.rint(k * bpms * self.bins_per_bpm).astype(np.int64)
            score += weight * self.magnitude[np.minimum(bins, len(self.magnitude) - 1)]
        return score


def tempo_prior(bpms: np.ndarray) -> np.ndarray:
    octaves = np.log2(np.asarray(bpms) / PRIOR_CENTER_BPM)
    return np.exp(-0.5 * (octaves / PRIOR_WIDTH_OCTAVES) ** 2)


def estimate_tempo(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_candidates: int = 5
) -> TempoEstimate:
    """Ranked (BPM, offset) candidates for a song of constant tempo."""
    env = onset_envelope(audio, sample_rate)
    return estimate_from_envelope(env, sample_rate / HOP, n_candidates)


def estimate_from_envelope(env: np.ndarray, fps: float, n_candidates: int = 5) -> TempoEstimate:
    """`estimate_tempo` from the onset envelope (T,) at `fps` frames per second."""
    if len(env) < 4 * fps or not np.any(env):
        raise ValueError("too short or too flat to estimate a tempo (needs a few seconds of beats)")
    comb = CombSpectrum(env, fps)
    coarse = np.arange(MIN_BPM, MAX_BPM + COARSE_STEP_BPM, COARSE_STEP_BPM)
    score = comb(coarse) * tempo_prior(coarse)
    peaks = [i for i in range(1, len(coarse) - 1) if score[i - 1] < score[i] >= score[i + 1]]
    peaks = sorted(peaks, key=lambda i: -score[i])[: 3 * n_candidates]
    refined = []
    for i in peaks:
        fine = np.arange(coarse[i] - COARSE_STEP_BPM, coarse[i] + COARSE_STEP_BPM, FINE_STEP_BPM)
        s = comb(fine) * tempo_prior(fine)
        j = int(np.argmax(s))
        refined.append((float(s[j]), snap_bpm(float(fine[j]))))
    refined = _distinct(sorted(refined, reverse=True))[:n_candidates]
    best_bpm = refined[0][1]
    for ratio in (2.0, 0.5):  # the octave doubt is the usual one: always offer both
        bpm = snap_bpm(best_bpm * ratio)
        if all(abs(bpm / b - 1) > DISTINCT_TOLERANCE for _, b in refined):
            refined.append((float(comb(np.array([bpm]))[0] * tempo_prior(bpm)), bpm))
    refined.sort(reverse=True)
    total = sum(s for s, _ in refined)
    candidates = tuple(
        TempoCandidate(
            bpm=round(bpm, 3),
            offset_s=beat_offset(env, bpm, fps),
            confidence=round(s / total, 3),
            relation=_relation(bpm, best_bpm),
        )
        for s, bpm in refined
    )
    unsure = len(refined) > 1 and refined[0][0] < UNSURE_MARGIN * refined[1][0]
    return TempoEstimate(candidates, unsure)


def snap_bpm(bpm: float) -> float:
    """Charted tempi are mostly whole numbers; an estimate this close to one is taken as it."""
    return float(round(bpm)) if abs(bpm - round(bpm)) <= INTEGER_SNAP_BPM else bpm


def phase_for_bpm(audio: np.ndarray, bpm: float, sample_rate: int = SAMPLE_RATE) -> float:
    """StepMania offset of a tempo the user gives: where its beats fall in the audio."""
    return beat_offset(onset_envelope(audio, sample_rate), bpm, sample_rate / HOP)


def beat_offset(env: np.ndarray, bpm: float, fps: float) -> float:
    """StepMania offset of the tempo's beats: beat 0 at −offset, −period < offset ≤ 0.

    The envelope is folded onto one beat period (each frame at its exact phase, so the result
    is finer than a frame) and the strongest phase, lightly smoothed, is where beats fall. Kick
    and snare attacks are impulsive, so this is sharper than the comb's sinusoidal phase.
    """
    period_s = 60.0 / bpm
    phase = (np.arange(len(env)) / fps - ONSET_LAG_S) % period_s
    n_bins = PHASE_BINS
    hist = np.bincount((phase / period_s * n_bins).astype(int) % n_bins, env, n_bins)
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    smooth = np.convolve(np.concatenate([hist[-6:], hist, hist[:6]]), kernel, "valid")
    first_beat_s = (np.argmax(smooth) + 0.5) / n_bins * period_s
    return round(-first_beat_s, 4) + 0.0  # + 0.0: never "-0.0"


def _distinct(ranked: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop candidates within 1% of a better one (neighbouring peaks of one tempo)."""
    kept: list[tuple[float, float]] = []
    for s, bpm in ranked:
        if all(abs(bpm / b - 1) > DISTINCT_TOLERANCE for _, b in kept):
            kept.append((s, bpm))
    return kept


def _relation(bpm: float, best_bpm: float) -> str:
    for name, ratio in (("best", 1.0), ("×2", 2.0), ("×½", 0.5), ("×3/2", 1.5), ("×2/3", 2 / 3)):
        if abs(bpm / (best_bpm * ratio) - 1) <= DISTINCT_TOLERANCE:
            return name
    return "other"


def beat_phase_masses(
    activation: np.ndarray, fps: float, bpm: float, offset_s: float
) -> tuple[float, float]:
    """(mass on the beats, mass half a beat off them): the activation (T,) summed within
    HALF_BEAT_WINDOW_S of each phase of the tempo's beats (beat k at −offset_s + k·period)."""
    period_s = 60.0 / bpm
    phase_s = (np.arange(len(activation)) / fps + offset_s) % period_s  # 0 on a beat
    from_beat_s = np.minimum(phase_s, period_s - phase_s)
    from_half_s = np.abs(phase_s - period_s / 2)
    on = float(activation[from_beat_s <= HALF_BEAT_WINDOW_S].sum())
    half = float(activation[from_half_s <= HALF_BEAT_WINDOW_S].sum())
    return on, half


def check_half_beat(estimate: TempoEstimate, activation: np.ndarray, fps: float) -> TempoEstimate:
    """The estimate with its best tempo's half-beat-shifted phase as a candidate, chosen first
    where an onset activation without beat guide (T,) puts clearly more mass there; `unsure`
    where the two masses are close. The two phases share the best candidate's confidence."""
    best = estimate.candidates[0]
    on, half = beat_phase_masses(activation, fps, best.bpm, best.offset_s)
    period_s = 60.0 / best.bpm
    shifted_s = best.offset_s - period_s / 2
    shifted_s = round(shifted_s + period_s if shifted_s <= -period_s else shifted_s, 4) + 0.0
    share = half / (on + half) if on + half > 0 else 0.5
    kept = dataclasses.replace(best, confidence=round(best.confidence * (1 - share), 3))
    moved = TempoCandidate(best.bpm, shifted_s, round(best.confidence * share, 3), "half-beat")
    if half > HALF_BEAT_RATIO * on:
        kept, moved = (
            dataclasses.replace(moved, relation="best"),
            dataclasses.replace(kept, relation="half-beat"),
        )
    close = HALF_BEAT_RATIO * min(on, half) >= max(on, half)
    segments = estimate.segments
    if kept.offset_s != best.offset_s:  # the segments of the main tempo move with it
        half_s = kept.offset_s - best.offset_s
        segments = tuple(
            dataclasses.replace(s, first_beat_s=round(s.first_beat_s - half_s, 4))
            if s.bpm == best.bpm
            else s
            for s in segments
        )
    candidates = (kept, moved, *estimate.candidates[1:])
    return TempoEstimate(candidates, estimate.unsure or close, segments)
