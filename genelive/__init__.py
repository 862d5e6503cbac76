"""GenéLive!: charts from songs. Onset model (KLab, AAAI-23), its training and evaluation.

from genelive import OnsetModel
model = OnsetModel.load()                      # the bundled model; or a folder
act = model("song.ogg", beat_times_s=beats)    # activations (5, T) for Beginner..Challenge
onsets = model.onsets(act)                     # {"Beginner": times_s, ...}
"""

from genelive.audio import AudioError, load_audio
from genelive.config import DIFFICULTIES, OnsetConfig
from genelive.pipeline import Activations, OnsetModel

__all__ = ["DIFFICULTIES", "Activations", "AudioError", "OnsetConfig", "OnsetModel", "load_audio"]
