"""kernels (Hugging Face hub kernels): a hard dependency of transformers 5, imported while
diffusers/transformers load. It reads ``_internals/python_depends.json`` at import time, so the
package data must be in the bundle, and transformers checks its version through metadata."""

from PyInstaller.utils.hooks import collect_data_files, copy_metadata

datas = copy_metadata("kernels")
datas += collect_data_files("kernels", excludes=["**/*.py", "**/*.pyc", "**/__pycache__"])
