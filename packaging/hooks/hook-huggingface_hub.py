"""huggingface_hub: downloads of the reference model go through it.

Its version is read through package metadata by transformers/diffusers, and the HTTP stack's CA
bundle (certifi, collected by PyInstaller's own certifi hook) must be present or every download
fails with an SSL error in the frozen app.
"""

from PyInstaller.utils.hooks import collect_data_files, copy_metadata

datas = copy_metadata("huggingface_hub")
datas += collect_data_files("huggingface_hub", excludes=["**/*.py", "**/*.pyc", "**/__pycache__"])
hiddenimports = ["certifi"]
