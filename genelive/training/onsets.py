"""`studio train-charts`: train an onset model on a folder of charts with audio.

KLab's recipe (DESIGN §3): BCE on fuzzy labels, Adam 9e-4 with 400 warm-up steps and a cosine
decay to 1e-6, gradient clipping at 3, 20.48 s windows, spectrogram augmentation. Departures:
- the positive weight applies to onset frames (KLab's `weight=64` scaled the whole loss, which
  Adam cancels); `pos_weight` is a setting;
- each window's conv stack runs once and feeds the LSTM for every chart of its song;
- the best step and the decoding thresholds are chosen on the validation songs.
The run writes the best model so far into the output folder at every validation, and its full
state into `train_state.pt` (loaded with weights_only=True) so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from export.checks import check_config
from export.folder import config_to_dict
from export.weights import save_model_folder
from genelive.onsets.config import DDCConfig, LibrosaOnsetConfig
from genelive.onsets.model import build_network, frame_rate
from genelive.training.augment import (
    Augment,
    augment_beats,
    augment_features,
    stretch_features,
    stretch_frames,
    stretch_guide,
    stretch_rate,
)
from genelive.training.corpus import scan_charts
from genelive.training.data import (
    DEFAULT_CACHE,
    TRAINING_FILE,
    SongData,
    load_song_data,
    split_by_group,
)
from genelive.training.validation import librosa_charts, predict_charts, validate

STATE_FILE = "train_state.pt"
# KLab's fuzzy label: 1 on the onset frame, then 0.17, 0.10, 0.04, 0.01 at 1..4 frames away.
FUZZY_KERNEL = (0.01, 0.04, 0.10, 0.17, 1.0, 0.17, 0.10, 0.04, 0.01)


@dataclass(frozen=True)
class TrainConfig:
    # Defaults: the CPU recipe of the bundled model (KLab: batch 32, 400 warm-up steps).
    steps: int = 1000
    batch_windows: int = 8
    window_s: float = 20.48  # 640 GenéLive frames
    lr: float = 9e-4
    warmup_steps: int = 150
    final_lr: float = 1e-6
    grad_clip: float = 3.0
    pos_weight: float = 1.0
    validate_every: int = 100
    checkpoint_every: int = 50
    validation_fraction: float = 0.15
    test_fraction: float = 0.15  # songs only ever reported on, never chosen on
    split_seed: int = 0  # the split is a property of the corpus, not of the run
    seed: int = 0
    compile: bool = False  # torch.compile the conv stack (fixed training shapes only)
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self):
        check_config(self, TRAIN_LIMITS)


TRAIN_LIMITS = {
    "steps": (1, 10_000_000),
    "batch_windows": (1, 4096),
    "window_s": (1.0, 600.0),
    "lr": (0.0, 1.0),
    "warmup_steps": (0, 10_000_000),
    "final_lr": (0.0, 1.0),
    "grad_clip": (0.0, 1e6),
    "pos_weight": (0.0, 1e4),
    "validate_every": (1, 10_000_000),
    "checkpoint_every": (1, 10_000_000),
    "validation_fraction": (0.0, 0.9),
    "test_fraction": (0.0, 0.9),
    "split_seed": (0, 2**63 - 1),
    "seed": (0, 2**63 - 1),
}


def learning_rate(step: int, tc: TrainConfig) -> float:
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    return tc.final_lr + 0.5 * (tc.lr - tc.final_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def fuzzy_targets(onset_frames: Sequence[torch.Tensor], n_frames: int) -> torch.Tensor:
    """Per chart, onset frames → (N, T) soft targets: the max of the kernel over onsets."""
    hard = torch.zeros(len(onset_frames), n_frames)
    for i, frames in enumerate(onset_frames):
        hard[i, frames] = 1.0
    radius = len(FUZZY_KERNEL) // 2
    windows = F.pad(hard, (radius, radius)).unfold(1, len(FUZZY_KERNEL), 1)  # (N, T, 9)
    return (windows * torch.tensor(FUZZY_KERNEL)).amax(dim=-1)


def sample_batch(
    songs: Sequence[SongData],
    n_windows: int,
    n_frames: int,
    aug: Augment | None,
    g: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Random windows (song ∝ length), each with every chart of its song as a target."""
    lengths = torch.tensor([s.n_frames for s in songs], dtype=torch.float64)
    feats, beats, onsets, masks, levels, owner = [], [], [], [], [], []
    for w in range(n_windows):
        song = songs[int(torch.multinomial(lengths, 1, generator=g))]
        rate = stretch_rate(aug, g)
        span = min(song.n_frames, math.ceil(n_frames * rate))
        start = int(torch.randint(0, song.n_frames - span + 1, (), generator=g))
        n_out = min(n_frames, math.floor(span / rate))
        x = stretch_features(torch.from_numpy(song.features[start : start + span]), rate, n_out)
        if aug is not None:
            x = augment_features(x, aug, g)
        feats.append(F.pad(x, (0, 0) * (x.dim() - 1) + (0, n_frames - n_out)))
        window_beats = []
        for chart in song.charts:
            rel = torch.from_numpy(chart.onset_frames - start)
            onsets.append(stretch_frames(rel[(rel >= 0) & (rel < span)], rate, n_out))
            guide = chart.beats[start : start + span]
            window_beats.append(stretch_guide(guide, rate, n_out, n_frames))
            mask = torch.zeros(n_frames)
            mask[:n_out] = 1.0
            masks.append(mask)
            levels.append(chart.value)
            owner.append(w)
        window_beats = torch.stack(window_beats)
        beats.append(augment_beats(window_beats, aug, g) if aug is not None else window_beats)
    return {
        "features": torch.stack(feats),  # (B, T, ...)
        "beats": torch.cat(beats),  # (N, T)
        "targets": fuzzy_targets(onsets, n_frames),  # (N, T)
        "mask": torch.stack(masks),  # (N, T)
        "difficulty": torch.tensor(levels),  # (N,)
        "owner": torch.tensor(owner),  # (N,) window of each chart
    }


def loss_on_batch(
    net, batch: dict[str, torch.Tensor], pos_weight: float, encode: Callable | None = None
) -> torch.Tensor:
    encoded = (encode or net.encode)(batch["features"])  # (B, T, C)
    logits = net.decode(encoded[batch["owner"]], batch["beats"], batch["difficulty"])  # (N, T)
    loss = F.binary_cross_entropy_with_logits(
        logits, batch["targets"], pos_weight=torch.tensor(pos_weight), reduction="none"
    )
    return (loss * batch["mask"]).sum() / batch["mask"].sum()


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    config,
    tc: TrainConfig = TrainConfig(),
    cache_dir: Path | None = DEFAULT_CACHE,
    say: Callable[[str], None] = print,
    command: str = "",
    split: dict[str, list[str]] | None = None,
) -> dict:
    """Train (or, for the librosa baseline, only tune) and write the model folder.

    `split` (song keys per side, as another model's training.json records them) replaces the
    split drawn from the corpus, so that models compared with each other share their songs."""
    out_dir = Path(out_dir)
    started = time.time()
    songs = scan_charts(data_dir)
    if split is None:
        split = split_by_group(songs, tc.validation_fraction, tc.test_fraction, tc.split_seed)
    present = {s.key for s in songs}
    split = {side: sorted(set(keys) & present) for side, keys in split.items()}
    say(
        f"{len(songs)} songs, {sum(len(s.charts) for s in songs)} charts: "
        + ", ".join(f"{len(keys)} songs for {side}" for side, keys in split.items())
    )
    train_keys, val_keys = set(split.get("train", [])), set(split.get("validation", []))
    data = load_song_data([s for s in songs if s.key in train_keys | val_keys], config, cache_dir)
    train_set = [d for d in data if d.key in train_keys]
    val_set = [d for d in data if d.key in val_keys]
    if not train_set or not val_set:
        raise ValueError(f"{data_dir}: too few songs with charts to train and validate on")
    info = {
        "data_dir": str(data_dir),
        "command": command,
        "split": split,
        "train_config": dataclasses.asdict(tc),
    }
    fps = frame_rate(config)
    if isinstance(config, LibrosaOnsetConfig):
        config, report = validate(config, librosa_charts(val_set), fps)
        info.update(validation=report, time_s=round(time.time() - started, 1))
        save_model_folder(out_dir, config, None, {TRAINING_FILE: info})
        say(_summary(report))
        return info
    return _train_network(config, tc, train_set, val_set, out_dir, info, say, started)


@dataclass
class _Run:
    """Everything that moves while training; saved whole so an interrupted run resumes."""

    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: torch.Generator
    step: int = 0
    best: dict = field(default_factory=lambda: {"f": -1.0, "step": 0})
    history: list = field(default_factory=list)
    earlier_s: float = 0.0  # training time of the processes before this one (resumed runs)
    started: float = field(default_factory=time.time)

    @property
    def elapsed_s(self) -> float:
        return round(self.earlier_s + time.time() - self.started, 1)

    def save(self, path: Path, settings: dict) -> None:
        state = {
            "step": self.step,
            "time_s": self.elapsed_s,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),  # dropout draws from the global generator
            "best": self.best,
            "history": self.history,
            **settings,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load(self, path: Path, settings: dict) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if any(state.get(k) != v for k, v in settings.items()):
            raise ValueError(
                f"{path.parent} holds a run with other settings; choose another output folder "
                f"or delete {path} to start over"
            )
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.best, self.history = state["step"], state["best"], state["history"]
        self.earlier_s = float(state.get("time_s", 0.0))


def _new_run(config, tc: TrainConfig, train_set: Sequence[SongData]) -> _Run:
    torch.manual_seed(tc.seed)
    net = build_network(config)
    if isinstance(config, DDCConfig):  # DDC standardises each band with training statistics
        stacked = np.concatenate([s.features for s in train_set])  # (ΣT, 3, F)
        net.feature_mean.copy_(torch.from_numpy(stacked.mean(axis=0)))
        net.feature_std.copy_(torch.from_numpy(stacked.std(axis=0) + 1e-3))
    optimizer = torch.optim.Adam(net.parameters(), lr=tc.lr)
    return _Run(net, optimizer, torch.Generator().manual_seed(tc.seed))


def _train_network(config, tc, train_set, val_set, out_dir, info, say, started) -> dict:
    run = _new_run(config, tc, train_set)
    run.started = started  # this process's feature loading counts too
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    settings = {
        "config": config_to_dict(config),
        "train_config": info["train_config"],
        "split": info["split"],
    }
    if state_path.is_file():
        run.load(state_path, settings)
        say(
            f"resuming from step {run.step} "
            f"(best validation F1 {run.best['f']:.4f} at step {run.best['step']})"
        )
    n_frames = round(tc.window_s * frame_rate(config))
    n_params = sum(p.numel() for p in run.net.parameters())
    say(
        f"{config.model_type}: {n_params:,} parameters; {tc.steps} steps of "
        f"{tc.batch_windows} windows × {n_frames} frames"
    )
    # Training shapes never change, so a compiled encoder is built once; validation stays eager.
    encode = torch.compile(run.net.encode) if tc.compile else run.net.encode
    tick, losses = time.time(), []
    while run.step < tc.steps:
        losses.append(_train_step(run, tc, train_set, n_frames, encode))
        if run.step % 10 == 0:
            per_step, tick = (time.time() - tick) / 10, time.time()
            say(
                f"step {run.step}/{tc.steps}  loss {np.mean(losses[-10:]):.4f}  "
                f"lr {learning_rate(run.step - 1, tc):.2e}  {per_step:.2f} s/step  "
                f"eta {_hms(per_step * (tc.steps - run.step))}"
            )
        # State first: an interruption during validation then loses nothing.
        if run.step % tc.checkpoint_every == 0 or run.step == tc.steps:
            run.save(state_path, settings)
        validating = run.step % tc.validate_every == 0 or run.step == tc.steps
        if validating and _validate_and_keep_best(run, config, val_set, losses, out_dir, info, say):
            run.save(state_path, settings)  # with the new best recorded
    info.update(history=run.history, time_s=run.elapsed_s)
    return info


def _train_step(run: _Run, tc: TrainConfig, train_set, n_frames: int, encode) -> float:
    run.net.train()
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate(run.step, tc)
    batch = sample_batch(train_set, tc.batch_windows, n_frames, tc.augment, run.rng)
    loss = loss_on_batch(run.net, batch, tc.pos_weight, encode)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.net.parameters(), tc.grad_clip)
    run.optimizer.step()
    run.step += 1
    return loss.item()


def _validate_and_keep_best(run, config, val_set, losses, out_dir, info, say) -> bool:
    """Validate; if best so far, write the model folder (with its tuned decoding)."""
    tuned, report = validate(config, predict_charts(run.net, val_set), frame_rate(config))
    f = report["tol_50ms"]["all"]["f"]
    run.history.append(
        {
            "step": run.step,
            "train_loss": round(float(np.mean(losses[-50:])), 5),
            "val_f1_50ms": f,
        }
    )
    say(f"validation at step {run.step}: " + _summary(report))
    if f <= run.best["f"]:
        return False
    run.best = {"f": f, "step": run.step}
    info.update(
        best_step=run.step,
        validation=report,
        history=run.history,
        time_s=run.elapsed_s,
    )
    save_model_folder(out_dir, tuned, run.net, {TRAINING_FILE: info})
    say(f"  new best; model written to {out_dir}")
    return True


def _summary(report: dict) -> str:
    parts = [f"{k} {v['f']:.3f}" for k, v in report["tol_50ms"].items()]
    return "F1@50ms " + ", ".join(parts)


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
