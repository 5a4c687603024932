"""safetensors: transformers and diffusers test ``importlib.metadata.version("safetensors")``
before they agree to read ``.safetensors`` files, so the dist-info must travel with the module."""

from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("safetensors")
