"""unCLIP (DALL·E 2 / Karlo): images from text, image variations, interpolation, text diffs.

from unclip import UnCLIP, Steps
pipe = UnCLIP.load("models/karlo")                       # a Karlo-format folder
result = pipe.text_to_image("a drum on a neon stage", seed=0, steps=Steps(25, 25, 7))
result.save("out/", "key-art")                           # PNGs with their settings inside
"""

from export.lazy import lazy_names

# The public names and the module each lives in. They load when first used, so that the
# command line can read the settings (its help shows their defaults) without diffusers.
_PUBLIC = {
    "Cancelled": "export.progress",
    "DEFAULT_GUIDANCE": "unclip.settings",
    "DEFAULT_STEPS": "unclip.settings",
    "Guidance": "unclip.settings",
    "ImageResult": "unclip.pipeline",
    "Steps": "unclip.settings",
    "UnCLIP": "unclip.pipeline",
    "UnCLIPModelError": "unclip.components",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
