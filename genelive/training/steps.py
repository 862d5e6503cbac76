"""Training the step-selection model on a chart corpus, and measuring it.

Perplexity (exp of the mean negative log-likelihood per row) on validation charts is reported
beside two count baselines trained on the same rows: a unigram (state frequencies per difficulty)
and a bigram (state given the previous state, per difficulty, interpolated with the unigram).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from export.checks import check_config
from export.weights import load_model_folder, save_model_folder
from genelive.difficulty import DIFFICULTIES, MAX_METER, MIN_FIT_CHARTS, fit_meter, meter_inputs
from genelive.onsets.config import OnsetConfig
from genelive.steps.arrows import N_STATES, StepRows, count_notes
from genelive.steps.config import START_STATE, StepConfig
from genelive.steps.model import StepModel, row_inputs
from genelive.steps.nets import StepNet
from genelive.training.corpus import Song, scan_charts
from genelive.training.data import DEFAULT_CACHE, TRAINING_FILE, cached_features, model_split
from genelive.training.validation import fit_hold_bias

log = logging.getLogger(__name__)


@dataclass
class StepSequence:
    difficulty: str
    states: np.ndarray  # (R,)
    features: np.ndarray  # (R, N_ROW_FEATURES)
    mel: np.ndarray  # (R, 229)
    pack: str = ""


@dataclass
class StepTrainConfig:
    steps: int = 1500
    batch: int = 32
    chunk_rows: int = 96
    lr: float = 2e-3
    seed: int = 0
    validate_every: int = 250

    def __post_init__(self):
        check_config(
            self,
            {
                "steps": (1, 10_000_000),
                "batch": (1, 4096),
                "chunk_rows": (2, 10_000),
                "lr": (0.0, 1.0),
                "seed": (0, 2**63 - 1),
                "validate_every": (1, 10_000_000),
            },
        )


def step_sequences(songs: Sequence[Song], cache_dir: Path | None = DEFAULT_CACHE):
    """Each 4-panel chart of the songs as a training sequence."""
    out = []
    for song in songs:
        charts = [c for c in song.charts if c.steps is not None and len(c.steps) > 1]
        if not charts:
            continue
        mel = cached_features(song.audio_path, OnsetConfig(), cache_dir)
        for chart in charts:
            rows: StepRows = chart.steps
            feats, mel_rows = row_inputs(rows.times_s, rows.beats, chart.difficulty, mel)
            out.append(StepSequence(chart.difficulty, rows.states, feats, mel_rows, song.pack))
    return out


def corpus_statistics(songs: Sequence[Song]) -> dict[str, dict]:
    """StepConfig's corpus fields, per difficulty: notes-per-second percentiles (10, 50, 90),
    notes per onset row, the shortest usual gap between onset rows, and the meter fits (over
    all packs, and per pack)."""
    nps: dict[str, list] = {d: [] for d in DIFFICULTIES}
    rows: dict[str, list] = {d: [0, 0] for d in DIFFICULTIES}
    gaps: dict[str, list] = {d: [] for d in DIFFICULTIES}
    meters: dict[str, dict[str, list]] = {}  # pack → difficulty → (nps, peak, meter)
    for song in songs:
        for chart in song.charts:
            if chart.steps is None:
                continue
            n_notes = count_notes(chart.steps.states)[0]
            rate, peak = meter_inputs(chart.onset_times_s, n_notes, song.duration_s)
            rows[chart.difficulty][0] += n_notes
            rows[chart.difficulty][1] += len(chart.onset_times_s)
            nps[chart.difficulty].append(rate)
            gaps[chart.difficulty].extend(np.diff(chart.onset_times_s))
            if chart.meter is not None and 0 < chart.meter <= MAX_METER:
                by_level = meters.setdefault(song.pack, {})
                by_level.setdefault(chart.difficulty, []).append((rate, peak, chart.meter))
    density, min_gap, per_row = {}, {}, {}
    for d in DIFFICULTIES:
        if nps[d]:
            density[d] = [round(float(v), 3) for v in np.percentile(nps[d], [10, 50, 90])]
            min_gap[d] = round(float(np.percentile(gaps[d], 2)), 3) if gaps[d] else 0.0
            per_row[d] = round(rows[d][0] / max(rows[d][1], 1), 3)
    pooled: dict[str, list] = {}
    for by_level in meters.values():
        for d, charts in by_level.items():
            pooled.setdefault(d, []).extend(charts)
    return {
        "density_nps": density,
        "notes_per_row": per_row,
        "meter_fit": {d: fit_meter(c) for d, c in pooled.items()},
        "meter_fit_by_pack": {
            pack: {d: fit_meter(c) for d, c in by_level.items() if len(c) >= MIN_FIT_CHARTS}
            for pack, by_level in sorted(meters.items())
            if pack
        },
        "min_gap_s": min_gap,
    }


def _batch(seqs: list[StepSequence], config: StepTrainConfig, rng: np.random.Generator):
    """Random chunks of rows: (prev, target, features, mel) tensors of (B, L[, ...])."""
    L = config.chunk_rows
    prev, target, feats, mels, mask = [], [], [], [], []
    for i in rng.integers(0, len(seqs), config.batch):
        s = seqs[i]
        start = int(rng.integers(0, max(1, len(s.states) - L // 2)))
        stop = min(start + L, len(s.states))
        n = stop - start
        p = np.concatenate([[START_STATE if start == 0 else s.states[start - 1]], s.states])
        pad = L - n
        prev.append(np.pad(p[start:stop], (0, pad)))
        target.append(np.pad(s.states[start:stop], (0, pad)))
        feats.append(np.pad(s.features[start:stop], ((0, pad), (0, 0))))
        mels.append(np.pad(s.mel[start:stop], ((0, pad), (0, 0))))
        mask.append(np.arange(L) < n)
    return tuple(torch.from_numpy(np.stack(a)) for a in (prev, target, feats, mels, mask))


@torch.no_grad()
def model_nll(net: StepNet, seqs: list[StepSequence]) -> dict[str, tuple[float, int]]:
    """Summed negative log-likelihood (nats) and row count per difficulty, whole charts."""
    net.eval()
    out = {d: (0.0, 0) for d in DIFFICULTIES}
    for s in seqs:
        prev = np.concatenate([[START_STATE], s.states[:-1]])
        h, c = net.initial_state(1)
        logits = net(
            torch.from_numpy(prev)[None],
            torch.from_numpy(s.features)[None],
            torch.from_numpy(s.mel)[None],
            h,
            c,
        )["logits"][0]
        nll = F.cross_entropy(logits, torch.from_numpy(s.states), reduction="sum").item()
        total, n = out[s.difficulty]
        out[s.difficulty] = (total + nll, n + len(s.states))
    return out


def count_baselines(train: list[StepSequence], val: list[StepSequence]) -> dict[str, dict]:
    """Validation NLL of unigram and bigram models per difficulty (add-½ / interpolated)."""
    out: dict[str, dict] = {"unigram": {}, "bigram": {}}
    for d in DIFFICULTIES:
        uni = np.full(N_STATES, 0.5)
        bi = np.zeros((N_STATES + 1, N_STATES))
        for s in (s for s in train if s.difficulty == d):
            np.add.at(uni, s.states, 1)
            np.add.at(bi, (np.concatenate([[START_STATE], s.states[:-1]]), s.states), 1)
        uni /= uni.sum()
        alpha = 2.0  # pseudo-counts of the unigram in each bigram row
        bi = (bi + alpha * uni) / (bi.sum(1, keepdims=True) + alpha)
        nll_u = nll_b = 0.0
        n = 0
        for s in (s for s in val if s.difficulty == d):
            prev = np.concatenate([[START_STATE], s.states[:-1]])
            nll_u -= np.log(uni[s.states]).sum()
            nll_b -= np.log(bi[prev, s.states]).sum()
            n += len(s.states)
        out["unigram"][d] = (float(nll_u), n)
        out["bigram"][d] = (float(nll_b), n)
    return out


def perplexities(nll: dict[str, tuple[float, int]]) -> dict[str, float]:
    """Per difficulty and "all" (micro: every row weighs the same)."""
    out = {d: round(float(np.exp(t / n)), 3) for d, (t, n) in nll.items() if n}
    total = sum(t for t, _ in nll.values())
    rows = sum(n for _, n in nll.values())
    out["all"] = round(float(np.exp(total / max(rows, 1))), 3)
    return out


def train_steps(
    train_songs: Sequence[Song],
    val_songs: Sequence[Song],
    out_dir: Path,
    config: StepConfig | None = None,
    train_config: StepTrainConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    extra: dict | None = None,
    test_songs: Sequence[Song] = (),
    onset_model_dir: Path | None = None,
) -> dict:
    """Train, keep the step with the best validation perplexity, fit the hold bias on the
    validation songs' generated rows (`onset_model_dir`'s onsets: default the bundled model),
    save the folder; the report (perplexities on validation, and on `test_songs` per pack)."""
    config = config or StepConfig()
    tc = train_config or StepTrainConfig()
    for name, value in corpus_statistics(train_songs).items():
        setattr(config, name, value)
    train, val = step_sequences(train_songs, cache_dir), step_sequences(val_songs, cache_dir)
    if not train:
        raise ValueError("no 4-panel charts to train on")
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    net = StepNet(config)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tc.steps, eta_min=tc.lr / 20)
    best, history, t0 = (float("inf"), 0), [], time.time()
    for step in range(1, tc.steps + 1):
        net.train()
        prev, target, feats, mel, mask = _batch(train, tc, rng)
        h, c = net.initial_state(len(prev))
        logits = net(prev, feats, mel, h, c)["logits"]
        loss = F.cross_entropy(logits[mask], target[mask])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % tc.validate_every == 0 or step == tc.steps:
            ppl = perplexities(model_nll(net, val or train))["all"]
            history.append({"step": step, "loss": round(loss.item(), 4), "val_perplexity": ppl})
            log.info("step %d loss %.3f validation perplexity %.3f", step, loss.item(), ppl)
            if ppl < best[0]:
                best = (ppl, step)
                save_model_folder(out_dir, config, net)
    report = {
        "train_config": asdict(tc),
        "split": {
            "train": [s.key for s in train_songs],
            "validation": [s.key for s in val_songs],
            **({"test": [s.key for s in test_songs]} if test_songs else {}),
        },
        "best_step": best[1],
        "history": history,
        "time_s": round(time.time() - t0, 1),
        **(extra or {}),
    }
    _, best_net = load_model_folder(out_dir, StepConfig, StepNet)
    if val_songs:  # the rate of holds on generated rows, chosen on validation
        config.hold_bias = fit_hold_bias(StepModel.load(out_dir), val_songs, onset_model_dir)
    if val:
        report["validation_perplexity"] = perplexity_report(best_net, train, val)
    # Reported only: the test songs choose nothing (the best step is validation's).
    test = step_sequences(test_songs, cache_dir) if test_songs else []
    if test:
        report["test_perplexity"] = perplexity_report(best_net, train, test)
        packs = sorted({s.pack for s in test})
        report["test_perplexity"]["per_pack"] = {
            pack: perplexity_report(best_net, train, [s for s in test if s.pack == pack])
            for pack in packs
        }
    save_model_folder(out_dir, config, None, {TRAINING_FILE: report})
    return report


def perplexity_report(net: StepNet, train: list[StepSequence], seqs: list[StepSequence]) -> dict:
    """Per-row perplexity of the model and of the count baselines (fitted on `train`)."""
    baselines = count_baselines(train, seqs)
    return {
        "model": perplexities(model_nll(net, seqs)),
        "bigram": perplexities(baselines["bigram"]),
        "unigram": perplexities(baselines["unigram"]),
        "rows": sum(len(s.states) for s in seqs),
    }


def retune_steps(
    data_dir: str | Path, model_dir: str | Path, onset_model_dir: Path | None = None
) -> StepConfig:
    """A step model folder's corpus statistics (meter fits, densities) again from its training
    songs and its hold bias from its validation songs (on the rows `onset_model_dir`'s onsets
    give); rewrites config.json, weights untouched."""
    model = StepModel.load(model_dir)
    split = model_split(model.folder)
    if split is None:
        raise ValueError(f"{model_dir}: records no train/validation split (training.json)")
    songs = scan_charts(data_dir)
    train = [s for s in songs if s.key in set(split["train"])]
    val = [s for s in songs if s.key in set(split["validation"])]
    if not train or not val:
        raise ValueError(f"{data_dir}: the model's training and validation songs are not here")
    config = dataclasses.replace(model.config, **corpus_statistics(train))
    config.hold_bias = fit_hold_bias(model, val, onset_model_dir)
    save_model_folder(model.folder, config, None)
    return config
