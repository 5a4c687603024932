"""The photo being edited, and the blocking steps that create, export or save it.

A ``Document`` is an :class:`~ip2p_core.session.EditSession` plus what the session does not keep:
the file it came from, its alpha channel and EXIF (put back on export), and the chain of edits the
file itself already carried (so an exported result records its whole history).

The functions here decode, encode and write files; the window runs them on a BackgroundTasks
thread. All decoding and encoding goes through ``ip2p_core.imageio`` so odd files behave exactly
as in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ip2p_core.errors import ImageSaveError

PROJECT_SUFFIX = ".ip2p"
EXPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class Document:
    session: Any  # EditSession
    name: str
    source_path: Path | None = None
    alpha: Any = None  # PIL "L" image or None
    exif: bytes | None = None
    prior: Any = None  # Provenance the opened file carried, or None
    warnings: list[str] = field(default_factory=list)

    @property
    def has_unsaved_edits(self) -> bool:
        session = self.session
        return bool(session.dirty) and session.n_edits > 0

    def provenance(self, node_id: str) -> Any:
        """The chain that produced ``node_id``; the session already prepends the file's own chain."""
        return self.session.provenance(node_id)

    @property
    def source_exif(self) -> bytes | None:
        """The photo's EXIF; the session keeps it on disk, so it survives reopening and recovery."""
        return self.exif if self.exif is not None else getattr(self.session, "original_exif", None)


@dataclass
class Opened:
    """What an open/paste produced: the document and the state to show, ready for the canvas."""

    document: Document
    display: Any  # canvas_view.ImagePyramid, levels built off the UI thread; .image is the QImage


def _for_display(image: Any) -> Any:
    """A PIL image as the canvas draws it (QImage + prebuilt levels). Background threads only."""
    from .canvas_view import display_pyramid
    from .qimage_convert import pil_to_qimage

    return display_pyramid(pil_to_qimage(image))


def is_project_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() == PROJECT_SUFFIX


def _opened(loaded: Any, name: str, source_path: Path | None, sessions_root: Path | None) -> Opened:
    from ip2p_core.session import EditSession

    session = EditSession.create(
        loaded.rgb, source_path=source_path, root=sessions_root, exif=loaded.exif, prior=loaded.provenance, source_name=name
    )
    document = Document(
        session=session,
        name=name,
        source_path=source_path,
        alpha=loaded.alpha,
        exif=loaded.exif,
        prior=loaded.provenance,
    )
    return Opened(document, _for_display(loaded.rgb))


def open_image_file(path: str | Path, sessions_root: Path | None = None) -> Opened:
    """Decode ``path`` and start a session on it. Raises ImageLoadError for unusable files."""
    from ip2p_core.imageio import load_image

    path = Path(path)
    loaded = load_image(path)
    return _opened(loaded, path.name, path.resolve(), sessions_root)


def open_image_bytes(data: bytes, name: str, sessions_root: Path | None = None) -> Opened:
    from ip2p_core.imageio import load_image_bytes

    return _opened(load_image_bytes(data, name), name, None, sessions_root)


def open_pil_image(image: Any, name: str, sessions_root: Path | None = None) -> Opened:
    from ip2p_core.imageio import from_pil

    return _opened(from_pil(image, name), name, None, sessions_root)


def open_project_file(path: str | Path, sessions_root: Path | None = None) -> Opened:
    """Open an ``.ip2p`` project; ``document.warnings`` lists anything that had to be repaired."""
    from ip2p_core.session import EditSession

    path = Path(path)
    session = EditSession.open_project(path, root=sessions_root)
    document = Document(session=session, name=path.name, warnings=list(session.open_warnings))
    return Opened(document, _for_display(_image_or_placeholder(session, session.cursor)))


def recover_session(folder: str | Path) -> Opened:
    from ip2p_core.session import EditSession

    session = EditSession.recover(Path(folder))
    name = session.source_name or "recovered photo"
    document = Document(session=session, name=name, warnings=list(session.open_warnings))
    return Opened(document, _for_display(_image_or_placeholder(session, session.cursor)))


def _image_or_placeholder(session: Any, node_id: str) -> Any:
    from ip2p_core.errors import ProjectFileError

    try:
        return session.image(node_id)
    except ProjectFileError:
        return session.thumbnail(node_id)


def load_state_images(session: Any, after_id: str, before_id: str | None) -> tuple[str, Any, str | None, Any]:
    """Read two states from disk ready for the canvas: (after id, after, before id, before), the
    images as :class:`~ip2p_desktop.canvas_view.ImagePyramid` (``.image`` is the QImage)."""
    after = _for_display(_image_or_placeholder(session, after_id))
    before = _for_display(_image_or_placeholder(session, before_id)) if before_id else None
    return after_id, after, before_id, before


def export_image(document: Document, node_id: str, path: str | Path) -> Path:
    """Write the state ``node_id`` to ``path`` (PNG/JPEG/WebP by extension) with its provenance.

    The source photo is protected: saving over it raises ImageSaveError.
    """
    from ip2p_core.imageio import save_image

    path = Path(path)
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ImageSaveError(f"Cannot save {path.name}: choose a .png, .jpg or .webp file name.")
    image = document.session.image(node_id)
    node = document.session.node(node_id)
    provenance = document.provenance(node_id) if node.params is not None or document.prior else None
    if provenance is not None and not provenance.chain:
        provenance = None
    protect = [document.source_path] if document.source_path else []
    return save_image(path, image, alpha=document.alpha, exif=document.source_exif, provenance=provenance, protect=protect)


def save_project(document: Document, path: str | Path) -> Path:
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(PROJECT_SUFFIX)
    if document.source_path is not None and path.resolve() == document.source_path:
        raise ImageSaveError(f"Refusing to overwrite the original image {path.name}; choose another file name.")
    document.session.save_project(path)
    return path


def describe_load_error(exc: BaseException, what: str) -> str:
    """One sentence for any failure while opening ``what`` (bugs included, never a traceback)."""
    from ip2p_core.errors import IP2PError

    if isinstance(exc, IP2PError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"Not enough memory to open {what}; close other programs or choose a smaller image."
    if isinstance(exc, OSError):
        return f"Cannot open {what}: {exc.strerror or exc}."
    return f"Cannot open {what} ({type(exc).__name__}: {exc}); see the log for details."


__all__ = [
    "Document",
    "Opened",
    "ImageSaveError",
    "open_image_file",
    "open_image_bytes",
    "open_pil_image",
    "open_project_file",
    "recover_session",
    "load_state_images",
    "export_image",
    "save_project",
    "describe_load_error",
    "is_project_path",
]
