"""tokenizers: transformers checks its version through package metadata before using it."""

from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("tokenizers")
