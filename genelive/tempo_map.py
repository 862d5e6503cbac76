"""Songs whose tempo changes: a tempo map of constant-tempo segments (several #BPMS entries,
osu! timing points) estimated from the audio.

The global fit of `genelive.tempo` finds the song's main tempo. Here the same beat combs are
read on short windows of the onset envelope, giving each window a score for every tempo within
half an octave of the main one, and a Viterbi path through the windows chooses one tempo per
window, paying a fixed cost for each change. Tempi are folded into that half-octave band around
the main tempo on purpose: a half-time intro is charted on the main grid (its beats are among
the grid's), and short windows cannot tell octaves apart reliably. Each segment's tempo is then
refitted on its own span, its beats found by folding its envelope, and the change is placed on
the old segment's beat that best meets the new segment's beats (continuous music shares that
beat), the old tempo stretched to end exactly there.

A song stays constant unless a different tempo holds for at least MIN_SEGMENT_S, so the map
does not cost the many songs that keep one tempo (measured in bench/tempo_maps.py).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from genelive.audio import SAMPLE_RATE
from genelive.tempo import (
    DISTINCT_TOLERANCE,
    FINE_STEP_BPM,
    HOP,
    CombSpectrum,
    TempoEstimate,
    beat_offset,
    estimate_from_envelope,
    onset_envelope,
    snap_bpm,
)
from genelive.timing import Timing

WINDOW_S = 8.0  # the 4th harmonic comb separates tempi ~1.5% apart in this long
WINDOW_HOP_S = 2.0
STATE_STEP = 0.0025  # tempo states 0.25% apart, within half an octave of the main tempo
# Cost of a tempo change, in units of one window's normalised score: a change must win by
# about this much summed over its windows. Chosen on the corpus' training songs.
CHANGE_COST = 1.5
MIN_SEGMENT_S = 8.0  # a different tempo shorter than this is not a segment
MIN_CHANGE = 0.02  # neighbouring segments closer than 2% are one tempo
PHASE_TOLERANCE_S = 0.01  # a new tempo's beats this close to the old one's are continuous


@dataclass(frozen=True)
class TempoSegment:
    start_s: float  # where this tempo starts (the first segment: 0)
    bpm: float
    first_beat_s: float  # a beat of this tempo within its span: its phase


def estimate_tempo_map(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> TempoEstimate:
    """`estimate_tempo`'s candidates for the main tempo, with `segments` where it changes."""
    env = onset_envelope(audio, sample_rate)
    fps = sample_rate / HOP
    estimate = estimate_from_envelope(env, fps)
    segments = tempo_segments(env, fps, estimate.bpm, estimate.offset_s)
    return dataclasses.replace(estimate, segments=segments)


def tempo_segments(
    env: np.ndarray, fps: float, main_bpm: float, main_offset_s: float
) -> tuple[TempoSegment, ...]:
    """(T,) onset envelope → its tempo segments; () for a constant tempo."""
    states = main_bpm * np.exp(np.arange(-0.5, 0.5, STATE_STEP) * math.log(2))  # (S,)
    starts = _window_starts(len(env) / fps)
    if len(starts) < 2 * MIN_SEGMENT_S / WINDOW_HOP_S:
        return ()
    scores = np.stack([_window_scores(env, fps, s, states) for s in starts])  # (W, S)
    path = _viterbi(scores, CHANGE_COST)
    spans = _spans(path, starts, states, len(env) / fps)
    spans = [(a, b, _refit(env, fps, a, b, bpm)) for a, b, bpm in spans]
    spans = _merge_close(spans)
    if len(spans) < 2:
        return ()
    segments = []
    for a, b, bpm in spans:
        if abs(bpm / main_bpm - 1) <= DISTINCT_TOLERANCE:
            bpm, first = main_bpm, -main_offset_s  # the global fit's phase, the surest
        else:
            first = a + _segment_phase(env, fps, a, b, bpm)
        segments.append(TempoSegment(round(a, 3), bpm, round(first, 4)))
    return tuple(segments)


def _window_starts(duration_s: float) -> np.ndarray:
    return np.arange(0.0, max(duration_s - WINDOW_S, 0.0) + 1e-9, WINDOW_HOP_S)


def _window_scores(env: np.ndarray, fps: float, start_s: float, states: np.ndarray) -> np.ndarray:
    """(S,) comb scores of one window, normalised to its best state (a silent window: all 0)."""
    a = int(start_s * fps)
    part = env[a : a + int(WINDOW_S * fps)]
    part = (part - part.mean()) * np.hanning(len(part))
    score = CombSpectrum(part, fps, n_fft=1 << 16)(states)  # bins ≈ 0.18 BPM apart
    top = score.max()
    return score / top if top > 0 else score


def _viterbi(scores: np.ndarray, change_cost: float) -> np.ndarray:
    """(W, S) scores → (W,) state per window maximising Σ score − change_cost · changes."""
    n_windows, n_states = scores.shape
    total = scores[0].copy()
    back = np.zeros((n_windows, n_states), np.int64)
    for w in range(1, n_windows):
        best = int(np.argmax(total))
        switch = total[best] - change_cost
        stay = total >= switch
        back[w] = np.where(stay, np.arange(n_states), best)
        total = np.where(stay, total, switch) + scores[w]
    path = np.zeros(n_windows, np.int64)
    path[-1] = int(np.argmax(total))
    for w in range(n_windows - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    return path


def _spans(
    path: np.ndarray, starts: np.ndarray, states: np.ndarray, duration_s: float
) -> list[tuple[float, float, float]]:
    """Runs of one state → (start_s, end_s, bpm); a change falls mid-way between the centres
    of the windows on either side; runs shorter than MIN_SEGMENT_S join their longer neighbour."""
    centres = starts + WINDOW_S / 2
    runs, begin = [], 0
    for w in range(1, len(path) + 1):
        if w == len(path) or path[w] != path[begin]:
            runs.append([begin, w, float(states[path[begin]])])
            begin = w
    edges = [0.0] + [(centres[r[0] - 1] + centres[r[0]]) / 2 for r in runs[1:]] + [duration_s]
    spans = [[edges[i], edges[i + 1], r[2]] for i, r in enumerate(runs)]
    while len(spans) > 1:
        lengths = [b - a for a, b, _ in spans]
        i = int(np.argmin(lengths))
        if lengths[i] >= MIN_SEGMENT_S:
            break
        j = i - 1 if i == len(spans) - 1 or (i > 0 and lengths[i - 1] > lengths[i + 1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        spans[lo : hi + 1] = [[spans[lo][0], spans[hi][1], spans[j][2]]]
    return [tuple(s) for s in spans]


def _refit(env: np.ndarray, fps: float, start_s: float, end_s: float, bpm: float) -> float:
    """The tempo within ±1% of `bpm` that the span's own combs score best, to 0.005 BPM."""
    part = env[int(start_s * fps) : int(end_s * fps)]
    comb = CombSpectrum(part - part.mean(), fps)
    fine = np.arange(bpm * 0.99, bpm * 1.01, FINE_STEP_BPM)
    return round(snap_bpm(float(fine[int(np.argmax(comb(fine)))])), 3)


def _merge_close(spans: list) -> list:
    merged = [spans[0]]
    for a, b, bpm in spans[1:]:
        if abs(bpm / merged[-1][2] - 1) <= MIN_CHANGE:
            a0, _, bpm0 = merged[-1]
            merged[-1] = (a0, b, bpm0 if merged[-1][1] - a0 >= b - a else bpm)
        else:
            merged.append((a, b, bpm))
    return merged


def _segment_phase(env: np.ndarray, fps: float, start_s: float, end_s: float, bpm: float) -> float:
    """Seconds after `start_s` of the span's first beat (0 ≤ phase < one beat)."""
    part = env[int(start_s * fps) : int(end_s * fps)]
    return -beat_offset(part, bpm, fps)


def timing_from_segments(segments: tuple[TempoSegment, ...]) -> Timing:
    """A StepMania tempo map through the segments: each change on the old tempo's beat that
    best meets the new tempo's beats near the segment's start, the old tempo stretched so its
    last beat lands exactly on the new one's."""
    first = segments[0]
    period_s = 60.0 / first.bpm
    offset_s = -(first.first_beat_s % period_s)  # beat 0 within the first beat of the audio
    bpms = [[0.0, first.bpm]]
    anchor_beat, anchor_s = 0.0, -offset_s  # a beat of the current tempo and its time
    for seg in segments[1:]:
        old_period = 60.0 / bpms[-1][1]
        new_period = 60.0 / seg.bpm
        # Old beats within two beats of the boundary; the one nearest a new-tempo beat.
        k0 = round((seg.start_s - anchor_s) / old_period)
        ks = [k for k in range(k0 - 2, k0 + 3) if k >= 1]
        times = [anchor_s + k * old_period for k in ks]
        half = new_period / 2
        gaps = [((t - seg.first_beat_s + half) % new_period) - half for t in times]
        i = int(np.argmin(np.abs(gaps)))
        k, change_s = ks[i], times[i]
        if abs(gaps[i]) > PHASE_TOLERANCE_S:  # stretch the old tempo to the new tempo's beat
            change_s -= gaps[i]
            bpms[-1][1] = round(60.0 * k / (change_s - anchor_s), 4)
        anchor_beat, anchor_s = anchor_beat + k, change_s
        bpms.append([anchor_beat, seg.bpm])
    return Timing(round(offset_s, 4) + 0.0, tuple((float(b), float(v)) for b, v in bpms))


def describe_segments(segments: tuple[TempoSegment, ...]) -> str:
    """ "128 BPM, 160 from 40.3 s, ..." for messages."""
    first, *rest = segments
    return ", ".join([f"{first.bpm:g} BPM"] + [f"{s.bpm:g} from {s.start_s:.1f} s" for s in rest])
