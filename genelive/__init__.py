"""GenéLive!: charts from songs. Onset model (KLab, AAAI-23), its training and evaluation.

from genelive import BeatGrid, OnsetModel
model = OnsetModel.load()                    # the bundled model; or a folder
grid = BeatGrid.from_bpm_offset(bpm=174.0, offset_s=-0.12, duration_s=120.0)
act = model("song.ogg", beats=grid)          # activations (5, T) for Beginner..Challenge
onsets = model.onsets(act)                   # {"Beginner": times_s, ...}
"""

from genelive.audio import AudioError, load_audio
from genelive.config import DIFFICULTIES, OnsetConfig
from genelive.features import BeatGrid
from genelive.pipeline import Activations, OnsetModel

__all__ = [
    "DIFFICULTIES",
    "Activations",
    "AudioError",
    "BeatGrid",
    "OnsetConfig",
    "OnsetModel",
    "load_audio",
]
