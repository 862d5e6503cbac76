"""Onset model configs (dataclasses saved as `config.json` beside `model.safetensors`), where the
bundled models live, and reading any onset model's config from its folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from export.checks import InvalidValue, check_config, parse_json
from export.folder import CONFIG_FILE, ModelFolderError, read_config
from genelive.difficulty import DIFFICULTIES

WEIGHTS_DIR = Path(__file__).parents[1] / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "genelive"
BASELINES = {"ddc-cnn": WEIGHTS_DIR / "ddc-cnn", "librosa": WEIGHTS_DIR / "librosa"}
ONSET_GRAPH = "chart/onset"  # its name in an export folder
# A chunked-BiLSTM onset model's three graphs, in the order they run (genelive/onsets/chunked.py).
CHUNKED_GRAPHS = ("chart/onset_input", "chart/onset_lstm", "chart/onset_head")


@dataclass(frozen=True)
class Decoding:
    """How activations become onsets, per difficulty (Beginner..Challenge); chosen on validation."""

    thresholds: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5, 0.5)
    min_gap_frames: tuple[int, ...] = (5, 4, 4, 4, 4)  # KLab's minimum note distance
    # Charting: note rows per unit of activation mass (the activation summed over the song),
    # fitted on validation so the generated note count matches the human charts'. Empty: the
    # count is the number of peaks above the threshold (folders written before this field).
    rows_per_mass: tuple[float, ...] = ()

    def __post_init__(self):
        limits = {"thresholds": (0.0, 1.0), "min_gap_frames": (1, 1000), "rows_per_mass": (0, 100)}
        check_config(self, limits)
        for name in ("thresholds", "min_gap_frames", "rows_per_mass"):
            if name == "rows_per_mass" and not self.rows_per_mass:
                continue
            if len(getattr(self, name)) != len(DIFFICULTIES):
                raise InvalidValue.of(
                    name, f"needs one value per difficulty ({', '.join(DIFFICULTIES)})"
                )


@dataclass(frozen=True)
class OnsetConfig:
    """GenéLive!: multi-scale conv stack + difficulty scalar + beat guide + BiLSTM (DESIGN §3)."""

    model_type: ClassVar[str] = "genelive-onset"

    n_mels: int = 229
    conv_channels: int = 48  # first conv width; branches end at 4× this; 4 branches → 16× per frame
    # Time max-pooling (pool A, pool B) per branch: ×1, ×16, ×64, ×128 → 32 ms, 0.5 s, 2 s, 4 s.
    time_pools: tuple[tuple[int, int], ...] = ((1, 1), (2, 8), (2, 32), (2, 64))
    dropblock: float = 0.25
    features_dropout: float = 0.5
    use_difficulty: bool = True
    use_beats: bool = True
    # Beat-guide value on the first beat of each measure (1 on other beats). KLab trained with 1
    # everywhere; a larger value tells the model where measures start.
    downbeat_value: float = 1.0
    lstm_hidden: int = 384  # per direction
    lstm_layers: int = 2
    lstm_dropout: float = 0.1
    head_dropout: float = 0.3
    # KLab's eval-mode BiLSTM runs long songs in chunks of 640 frames, carrying the state across
    # chunk borders in a way that differs from one whole-sequence pass. Imported KLab models keep
    # it (parity); 0 means one pass over the whole song.
    lstm_chunk_frames: int = 0
    decoding: Decoding = field(default_factory=Decoding)

    def __post_init__(self):
        check_config(self, ONSET_LIMITS)
        if self.n_mels != N_MELS:  # the conv stack pools 229 mel bins down to 1
            raise InvalidValue.of("n_mels", f"must be {N_MELS} (the features' mel bins)")
        if not self.time_pools:
            raise InvalidValue.of("time_pools", "needs at least one branch")

    @property
    def features(self) -> int:
        return 4 * self.conv_channels * len(self.time_pools)


@dataclass(frozen=True)
class DDCConfig:
    """DDC-style CNN onset model (Donahue et al. 2017), our baseline."""

    model_type: ClassVar[str] = "ddc-onset"

    n_mels: int = 80
    fft_sizes_ms: tuple[float, ...] = (23.2, 46.4, 92.9)  # DDC's 1024/2048/4096 at 44.1 kHz
    hop_s: float = 0.01  # 100 frames per second
    context_frames: int = 7  # ±7 frames around the one classified (15 in all)
    conv_channels: tuple[int, int] = (10, 20)
    hidden: tuple[int, int] = (256, 128)
    dropout: float = 0.5
    decoding: Decoding = field(default_factory=Decoding)

    def __post_init__(self):
        check_config(self, DDC_LIMITS)
        if not self.fft_sizes_ms:
            raise InvalidValue.of("fft_sizes_ms", "needs at least one size")


@dataclass(frozen=True)
class LibrosaOnsetConfig:
    """Non-learned baseline: librosa spectral-flux onset strength + peak picking."""

    model_type: ClassVar[str] = "librosa-onset"

    hop_s: float = 0.01
    n_mels: int = 128
    decoding: Decoding = field(default_factory=Decoding)

    def __post_init__(self):
        check_config(self, {"hop_s": (0.001, 1.0), "n_mels": (8, 512)})


N_MELS = 229  # genelive.features.N_MELS: the mel bins every GenéLive model reads
# Ranges a config read from a file must keep to (beyond them a config is a mistake or an attack:
# `lstm_hidden: 10000000` would ask for 41 GB).
ONSET_LIMITS = {
    "n_mels": (1, 512),
    "conv_channels": (1, 512),
    "time_pools": (1, 512),
    "dropblock": (0.0, 1.0),
    "features_dropout": (0.0, 1.0),
    "downbeat_value": (0.0, 100.0),
    "lstm_hidden": (1, 4096),
    "lstm_layers": (1, 8),
    "lstm_dropout": (0.0, 1.0),
    "head_dropout": (0.0, 1.0),
    "lstm_chunk_frames": (0, 1_000_000),
}


DDC_LIMITS = {
    "n_mels": (8, 512),
    "fft_sizes_ms": (1.0, 1000.0),
    "hop_s": (0.001, 1.0),
    "context_frames": (0, 100),
    "conv_channels": (1, 1024),
    "hidden": (1, 8192),
    "dropout": (0.0, 1.0),
}

# Named presets for `studio train-charts --config NAME`.
PRESETS = {
    "paper": OnsetConfig(),
    # Trains on a 2-core CPU in about an hour: a third of the conv width, a third of the LSTM.
    "small": OnsetConfig(conv_channels=16, lstm_hidden=128),
    # 1.5× small's widths, for the larger corpus: about 2.2× its CPU time per step.
    "wide": OnsetConfig(conv_channels=24, lstm_hidden=192),
    "ddc": DDCConfig(),
    "librosa": LibrosaOnsetConfig(),
}

CONFIG_CLASSES = {c.model_type: c for c in (OnsetConfig, DDCConfig, LibrosaOnsetConfig)}


def read_any_config(folder: str | Path):
    path = Path(folder) / CONFIG_FILE
    try:
        data = parse_json(path.read_bytes(), str(path), ModelFolderError)
    except OSError as e:
        raise ModelFolderError(f"{folder}: not a model folder ({CONFIG_FILE}: {e})") from e
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if model_type not in CONFIG_CLASSES:
        raise ModelFolderError(
            f"{path}: model_type {model_type!r} is not an onset model "
            f"(expected one of {sorted(CONFIG_CLASSES)})"
        )
    return read_config(folder, CONFIG_CLASSES[model_type])
