"""Model-agnostic I/O: model folders, safe checkpoint reading, and the runtime backends.

Imports none of the model packages; they import it.
"""

from export.backend import Backend, OnnxBackend, TorchBackend
from export.folder import ModelFolderError, load_model_folder, save_model_folder

__all__ = [
    "Backend",
    "ModelFolderError",
    "OnnxBackend",
    "TorchBackend",
    "load_model_folder",
    "save_model_folder",
]
