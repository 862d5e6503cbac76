"""The ground floor every model package stands on: checks shared by every interface, model
folders and their weights, atomic writes, image reading, the torch/onnxruntime backends, ONNX
export and export folders. Imports none of the model packages; they import it.

Import the module you need (`from export.folder import read_config`): this package's own
import loads nothing, so an onnxruntime-only process never pays for PyTorch.
"""
