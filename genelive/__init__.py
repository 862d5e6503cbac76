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

from export.lazy import lazy_names

# The public names and the module each lives in. They load when first used, so that importing
# one part (the audio reader, the formats) does not load the rest (the networks, PyTorch).
_PUBLIC = {
    "DIFFICULTIES": "genelive.difficulty",
    "Activations": "genelive.onsets.model",
    "AudioError": "genelive.audio",
    "BeatGrid": "genelive.timing",
    "ChartGenerator": "genelive.generator",
    "GeneratedSong": "genelive.song",
    "OnsetConfig": "genelive.onsets.config",
    "OnsetModel": "genelive.onsets.model",
    "load_audio": "genelive.audio",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
