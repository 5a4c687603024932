"""A session folder on disk: node images, thumbnails and the manifest, all written durably.

Layout::

    <root>/<session id>/
        manifest.json        the edit tree, cursor, view (rewritten atomically after each change)
        session.lock         held by the running app (see lock.py)
        original.png         the photo as opened
        nodes/<id>.png       each edit's full-size result (lossless)
        thumbs/<id>.png      ~256 px previews

Every file is written to a temporary name, fsynced, renamed, and the folder fsynced
(``ip2p_core.atomic``). A node's image is on disk before the manifest that mentions it, so the
manifest never points at a missing file; a file the manifest does not mention is left-over from
an interrupted write or delete and is removed on recovery.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from .. import __version__
from ..atomic import atomic_output, atomic_write_bytes
from ..errors import ImageLoadError, ImageSaveError, ProjectFileError

APP_DATA_NAME = "ip2p-desktop"
MANIFEST_NAME = "manifest.json"
ORIGINAL_NAME = "original.png"
# The source photo's EXIF (camera, date, GPS...) kept aside for exports; not inside original.png,
# whose pixels are already upright while the EXIF may still say "rotate".
EXIF_NAME = "original.exif"
NODES_DIR = "nodes"
THUMBS_DIR = "thumbs"

SESSION_FORMAT = "ip2p-session"
FORMAT_VERSION = 1
# zlib level 1: a 24 MP node saves in ~2 s instead of ~3.5 s at level 6, for ~10 % larger files.
PNG_COMPRESS_LEVEL = 1
THUMB_SIZE = 256
# PNG text chunk holding the node's own record, so a tree can be rebuilt if the manifest is lost.
NODE_CHUNK_KEY = "ip2p-node"

_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}
_HASH_BLOCK = 1 << 20


def default_sessions_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_DATA_NAME, appauthor=False)) / "sessions"


def node_image_name(node_id: str) -> str:
    return f"{NODES_DIR}/{node_id}.png"


def node_thumb_name(node_id: str) -> str:
    return f"{THUMBS_DIR}/{node_id}.png"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def make_thumbnail(image: Image.Image, size: int = THUMB_SIZE) -> Image.Image:
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    scale = min(1.0, size / max(image.width, image.height))
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: box-reduce first, then filter; ~20 ms for 24 MP instead of ~1 s.
    return image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)


def storable(image: Image.Image) -> Image.Image:
    """The image in a mode PNG stores losslessly (CMYK, float... become RGB)."""
    if image.mode in _PNG_MODES:
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def new_session_folder(root: Path) -> Path:
    """Create and return an empty, uniquely named session folder under ``root``."""
    import secrets

    try:
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        raise ImageSaveError(
            f"Cannot create the autosave folder in {root} ({exc.strerror or exc}); "
            "free some disk space or check the folder's permissions."
        ) from exc
    raise ImageSaveError(f"Cannot create a new autosave folder in {root}; remove old sessions from it.")


class SessionStore:
    """Reads and writes one session folder. Knows files, not trees."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, relative: str) -> Path:
        return self.folder / relative

    def ensure_layout(self) -> None:
        for sub in (NODES_DIR, THUMBS_DIR):
            try:
                (self.folder / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ImageSaveError(
                    f"Cannot write to the autosave folder {self.folder} ({exc.strerror or exc}); "
                    "free some disk space or check the folder's permissions."
                ) from exc

    # --- images ----------------------------------------------------------------------------

    def write_png(
        self,
        relative: str,
        image: Image.Image,
        *,
        texts: dict[str, str] | None = None,
        compress_level: int = PNG_COMPRESS_LEVEL,
    ) -> str:
        """Write ``image`` durably as PNG; returns the sha256 of the file written."""
        target = self.path(relative)
        info = PngImagePlugin.PngInfo()
        for key, value in (texts or {}).items():
            info.add_itxt(key, value, zip=True)
        with atomic_output(target, what="the edit") as temp:
            storable(image).save(temp, format="PNG", compress_level=compress_level, pnginfo=info)
        return file_sha256(target)

    def write_bytes(self, relative: str, data: bytes) -> None:
        atomic_write_bytes(self.path(relative), data, what="the session's data")

    def read_bytes(self, relative: str) -> bytes | None:
        try:
            return self.path(relative).read_bytes()
        except OSError:
            return None

    def write_thumbnail(self, relative: str, image: Image.Image) -> None:
        thumb = make_thumbnail(image)
        with atomic_output(self.path(relative), what="the thumbnail") as temp:
            thumb.save(temp, format="PNG", compress_level=6)

    def read_image(self, relative: str) -> Image.Image:
        """Load a stored PNG fully into memory (the file is closed on return)."""
        path = self.path(relative)
        try:
            with Image.open(path) as opened:
                opened.load()
            # Drop the chunk texts so callers don't carry the chain around with each pixel buffer.
            opened.info = {}
            return opened
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageLoadError(
                f"The stored image {relative} in {self.folder} cannot be read ({exc}); "
                "the autosave folder is damaged."
            ) from exc

    def read_node_record(self, relative: str) -> dict[str, Any] | None:
        """The node record embedded in a node PNG, without decoding its pixels."""
        try:
            with Image.open(self.path(relative)) as opened:
                text = opened.info.get(NODE_CHUNK_KEY)
            return json.loads(text) if isinstance(text, str) else None
        except (OSError, ValueError, Image.DecompressionBombError):
            return None

    def verify(self, relative: str, sha256: str) -> bool:
        """Whether the file exists and (when a hash is known) still has that hash."""
        path = self.path(relative)
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return False
            return not sha256 or file_sha256(path) == sha256
        except OSError:
            return False

    def remove(self, relatives: list[str]) -> None:
        for relative in relatives:
            if not relative:
                continue
            try:
                os.unlink(self.path(relative))
            except FileNotFoundError:
                pass
            except OSError:
                pass  # a left-over file is harmless: recovery removes unreferenced files

    def remove_unreferenced(self, referenced: set[str]) -> list[str]:
        """Delete node/thumb files and temp files no record mentions; returns what was removed."""
        removed = []
        for sub in (NODES_DIR, THUMBS_DIR):
            folder = self.folder / sub
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                relative = f"{sub}/{entry.name}"
                if relative not in referenced and entry.is_file():
                    removed.append(relative)
        for entry in self.folder.iterdir():
            if entry.name.startswith(".") and ".tmp" in entry.name and entry.is_file():
                removed.append(entry.name)
        self.remove(removed)
        return removed

    # --- manifest --------------------------------------------------------------------------

    def write_manifest(self, data: dict[str, Any]) -> None:
        body = dict(data)
        body.update(format=SESSION_FORMAT, format_version=FORMAT_VERSION, app=f"IP2P Desktop {__version__}")
        body["modified"] = time.time()
        encoded = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
        atomic_write_bytes(self.path(MANIFEST_NAME), encoded, what="the session's history")

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when it is missing or damaged; NewerFormatError if from a newer app."""
        try:
            data = json.loads(self.path(MANIFEST_NAME).read_bytes())
        except (OSError, ValueError):
            return None
        try:
            check_format(data, f"autosaved session {self.folder.name}")
        except NewerFormatError:
            raise
        except ProjectFileError:
            return None
        return data

    def delete_folder(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class NewerFormatError(ProjectFileError):
    """The file was written by a newer version of the app (never "repaired" by an older one)."""


def check_format(data: Any, label: str) -> None:
    """Raise ProjectFileError unless ``data`` is a manifest this version can read.

    ``label`` names the thing for the message, e.g. "project holiday.ip2p".
    """
    if not isinstance(data, dict):
        raise ProjectFileError(f"The history in the {label} is damaged.")
    version = data.get("format_version")
    # The version is checked first: a newer format may have changed everything else.
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise NewerFormatError(
            f"The {label} was saved by a newer version of IP2P Desktop (format {version}; this version "
            f"reads up to {FORMAT_VERSION}); update the app to open it."
        )
    if not isinstance(version, int) or version < 1 or not isinstance(data.get("nodes"), list):
        raise ProjectFileError(f"The history in the {label} is damaged.")
