"""Finding sessions left behind by a crash, a kill or a power cut, and cleaning up after them.

A session folder is abandoned when no running app holds its lock (see lock.py). Listing never
changes anything on disk; folders are only deleted when the user discards them or when they
hold nothing to recover (no edit at all).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProjectFileError
from .lock import is_in_use
from .session import remove_session_folder
from .store import FORMAT_VERSION, MANIFEST_NAME, NODES_DIR, default_sessions_root

_MIN_AGE_S = 60.0


@dataclass(frozen=True)
class RecoverableSession:
    """An abandoned session, as the "restore your work?" dialog shows it."""

    folder: Path
    created: float  # epoch seconds
    n_edits: int
    source_name: str  # the photo's file name ("" if unknown)
    last_modified: float  # epoch seconds of the last recorded change
    project_path: Path | None  # the project it was last saved to, if any
    unsaved_changes: bool  # False: everything is also in project_path


def list_recoverable_sessions(root: Path | None = None) -> list[RecoverableSession]:
    """Abandoned sessions under ``root`` that hold at least one edit, newest first."""
    root = Path(root) if root else default_sessions_root()
    try:
        folders = [f for f in root.iterdir() if f.is_dir() and not f.name.startswith(".")]
    except OSError:
        return []
    found = []
    for folder in folders:
        if is_in_use(folder):
            continue
        info = _describe(folder)
        if info is not None and info.n_edits > 0:
            found.append(info)
    found.sort(key=lambda s: s.last_modified, reverse=True)
    return found


def _describe(folder: Path) -> RecoverableSession | None:
    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_bytes())
        if not isinstance(manifest, dict):
            raise ValueError("not a manifest")
    except (OSError, ValueError):
        manifest = None
    if manifest is not None:
        version = manifest.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            return None  # a newer app's session: leave it for that app
        nodes = manifest.get("nodes")
        n_edits = max(0, len(nodes) - 1) if isinstance(nodes, list) else _count_node_files(folder)
        project = manifest.get("project_path")
        return RecoverableSession(
            folder=folder,
            created=_number(manifest.get("created"), _mtime(folder)),
            n_edits=n_edits,
            source_name=str(manifest.get("source_name") or ""),
            last_modified=_number(manifest.get("modified"), _mtime(manifest_path)),
            project_path=Path(project) if isinstance(project, str) and project else None,
            unsaved_changes=bool(manifest.get("dirty", True)),
        )
    # No readable manifest: still worth offering if edits are on disk (recover() rebuilds it).
    n_edits = _count_node_files(folder)
    if not n_edits:
        return None
    return RecoverableSession(
        folder=folder,
        created=_mtime(folder),
        n_edits=n_edits,
        source_name="",
        last_modified=_mtime(folder / NODES_DIR),
        project_path=None,
        unsaved_changes=True,
    )


def discard_session(folder: Path) -> None:
    """Delete an abandoned session the user chose not to restore."""
    folder = Path(folder)
    if is_in_use(folder):
        raise ProjectFileError(f"The session {folder.name} is open in another IP2P Desktop window; close it there.")
    remove_session_folder(folder)


def remove_empty_sessions(root: Path | None = None) -> int:
    """Delete abandoned session folders that hold no edit (nothing to recover); returns how many."""
    root = Path(root) if root else default_sessions_root()
    removed = 0
    try:
        folders = [f for f in root.iterdir() if f.is_dir()]
    except OSError:
        return 0
    for folder in folders:
        if folder.name.startswith(".deleted-"):
            remove_session_folder(folder)  # an interrupted delete
            continue
        # Young folders may be a session another app instance is creating right now (not locked yet).
        if folder.name.startswith(".") or time.time() - _mtime(folder) < _MIN_AGE_S or is_in_use(folder):
            continue
        if _is_newer_session(folder) or _count_node_files(folder):
            continue
        info = _describe(folder)
        if info is None or info.n_edits == 0:
            remove_session_folder(folder)
            removed += 1
    return removed


def _is_newer_session(folder: Path) -> bool:
    try:
        version = json.loads((folder / MANIFEST_NAME).read_bytes()).get("format_version")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(version, int) and version > FORMAT_VERSION


def _count_node_files(folder: Path) -> int:
    try:
        return sum(1 for entry in (folder / NODES_DIR).iterdir() if entry.suffix == ".png")
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) else default
