"""GenéLive!: charts from songs. Onset model (KLab, AAAI-23), step selection, chart files.

from genelive import ChartGenerator
gen = ChartGenerator.load()                  # bundled onset + step models; or folders
song = gen("song.ogg", difficulties=["Easy", "Hard"], seed=0)   # or bpm=, offset_s=
song.save("out/", preview=True)              # .sm .ssc .osu .json, audio copy, previews
text = song.to_sm()

from genelive import BeatGrid, OnsetModel
model = OnsetModel.load()                    # the bundled model; or a folder
grid = BeatGrid.from_bpm_offset(bpm=174.0, offset_s=-0.12, duration_s=120.0)
act = model("song.ogg", beats=grid)          # activations (5, T) for Beginner..Challenge
onsets = model.onsets(act)                   # {"Beginner": times_s, ...}
"""

from genelive.audio import AudioError, load_audio
from genelive.config import DIFFICULTIES, OnsetConfig
from genelive.features import BeatGrid
from genelive.generate import ChartGenerator, GeneratedSong
from genelive.pipeline import Activations, OnsetModel

__all__ = [
    "DIFFICULTIES",
    "Activations",
    "AudioError",
    "BeatGrid",
    "ChartGenerator",
    "GeneratedSong",
    "OnsetConfig",
    "OnsetModel",
    "load_audio",
]
