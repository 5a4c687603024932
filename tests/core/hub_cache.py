"""Build a Hugging Face hub cache entry offline, in the layout huggingface_hub itself writes."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def populate_hub_cache(cache_dir: Path, repo_id: str, model_folder: Path, revision: str = "a" * 40) -> Path:
    """Copy a model folder into ``cache_dir`` as ``models--owner--name`` with blobs, refs and a snapshot."""
    repo_dir = cache_dir / ("models--" + repo_id.replace("/", "--"))
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    for file in sorted(model_folder.rglob("*")):
        if not file.is_file():
            continue
        data = file.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(model_folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    return snapshot
