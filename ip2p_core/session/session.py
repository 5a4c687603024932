"""EditSession: the edit tree of one photo, autosaved to its session folder as it changes.

Every finished edit is on disk (image, thumbnail, then manifest; each written, fsynced and
renamed) before :meth:`EditSession.add_result` returns, so it survives a crash, a kill or a power
cut; the app shows it in the history only after that. Images are read back from disk on demand,
so memory does not grow with the history.

Thread safety: methods may be called from a worker thread (add_result, save_project) and the UI
thread (undo, redo, ...) at the same time; the slow parts (encoding PNGs, writing the project)
run outside the lock so the UI is never blocked behind them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from ..errors import ImageSaveError, IP2PError, ProjectFileError
from ..metadata import ChainStep, Provenance
from ..params import EditParams, EditResult
from .lock import SessionBusyError, SessionLock
from .project import PROJECT_SUFFIX, read_project, write_project
from .store import (
    EXIF_NAME,
    MANIFEST_NAME,
    NODE_CHUNK_KEY,
    NODES_DIR,
    ORIGINAL_NAME,
    THUMB_SIZE,
    SessionStore,
    default_sessions_root,
    make_thumbnail,
    new_session_folder,
    node_image_name,
    node_thumb_name,
)
from .tree import ROOT_ID, EditNode, EditTree, drop_lost_images, new_node_id, valid_node_id

__all__ = ["EditSession"]


class EditSession:
    """One photo's edit history. Create with :meth:`create`, :meth:`open_project` or :meth:`recover`."""

    def __init__(self, store: SessionStore, tree: EditTree, session_lock: SessionLock, meta: dict[str, Any]) -> None:
        self._store = store
        self._tree = tree
        self._session_lock = session_lock
        self._lock = threading.RLock()
        self.folder: Path = store.folder
        self.created: float = float(meta.get("created") or time.time())
        source = meta.get("source_path")
        self.source_path: Path | None = Path(source) if source else None
        self.source_name: str = str(meta.get("source_name") or (self.source_path.name if self.source_path else ""))
        project = meta.get("project_path")
        self.project_path: Path | None = Path(project) if project else None
        self.dirty: bool = bool(meta.get("dirty", False))
        self._view: dict[str, Any] = dict(meta.get("view") or {})
        self._prior: Provenance | None = None
        with contextlib.suppress(TypeError, ValueError):
            self._prior = Provenance.from_dict(meta["prior_provenance"]) if meta.get("prior_provenance") else None
        self.open_warnings: list[str] = []
        self._revision = 0  # bumped by every change of content (not of cursor or view)
        self._saves_running = 0
        self._deferred_removals: list[str] = []
        self._closed = False

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        original: Image.Image,
        *,
        source_path: Path | None = None,
        root: Path | None = None,
        exif: bytes | None = None,
        prior: Provenance | None = None,
        source_name: str | None = None,
    ) -> "EditSession":
        """Start a session on ``original`` in a new folder under ``root`` (default: app data).

        ``exif`` (the source file's, e.g. ``LoadedImage.exif``) is kept for exports and comes back
        from :attr:`original_exif`. ``prior`` is the chain the photo already carried (it was an
        earlier result): it is prepended to :meth:`provenance`, not to :meth:`chain`.
        ``source_name`` names a photo without a path (pasted); default: ``source_path``'s name.
        """
        folder = new_session_folder(Path(root) if root else default_sessions_root())
        store = SessionStore(folder)
        session_lock = SessionLock(folder)
        try:
            _acquire(session_lock)
            store.ensure_layout()
            sha = store.write_png(ORIGINAL_NAME, original)
            store.write_thumbnail(node_thumb_name(ROOT_ID), original)
            if exif:
                store.write_bytes(EXIF_NAME, bytes(exif))
            root_node = EditNode(
                id=ROOT_ID,
                parent_id=None,
                params=None,
                created=time.time(),
                image_file=ORIGINAL_NAME,
                thumb_file=node_thumb_name(ROOT_ID),
                width=original.width,
                height=original.height,
                sha256=sha,
            )
            meta = {
                "source_path": str(source_path) if source_path else None,
                "source_name": source_name,
                "created": root_node.created,
                "prior_provenance": prior.to_dict() if prior is not None and prior.chain else None,
            }
            session = cls(store, EditTree(root_node), session_lock, meta)
            session._write_manifest()
        except BaseException:
            session_lock.release()
            store.delete_folder()
            raise
        return session

    @classmethod
    def open_project(cls, path: Path, *, root: Path | None = None) -> "EditSession":
        """Open an ``.ip2p`` file into a new session folder.

        A damaged file opens with whatever is intact; ``open_warnings`` says what is missing.
        Raises ProjectFileError for a file that is not a project, is from a newer version, or has
        nothing usable left.
        """
        path = Path(path)
        folder = new_session_folder(Path(root) if root else default_sessions_root())
        store = SessionStore(folder)
        session_lock = SessionLock(folder)
        try:
            _acquire(session_lock)
            store.ensure_layout()
            contents = read_project(path, folder, _members_to_extract)
            manifest = contents.manifest or {}
            warnings = list(contents.warnings)
            tree, problems = _tree_from_manifest(contents.manifest)
            if tree is not None:
                warnings += [f"In {path.name}: {p}." for p in problems]
            else:
                tree = _rebuild_tree(store)
                if contents.manifest is not None:
                    warnings.append(f"The edit history in {path.name} was unreadable; it was rebuilt from the images inside.")
            _use_canonical_file_names(tree)
            lost = {n.id for n in tree.nodes() if n.image_file not in contents.extracted}
            warnings += _report_lost(tree, lost, drop_lost_images(tree, lost))
            if tree.node(tree.root_id).image_missing and len(tree) == 1:
                raise ProjectFileError(f"{path.name} is too damaged to open: none of its images is intact.")
            meta = {
                "created": manifest.get("created"),
                "source_path": manifest.get("source_path"),
                "source_name": manifest.get("source_name"),
                "view": manifest.get("view") if isinstance(manifest.get("view"), dict) else {},
                "prior_provenance": manifest.get("prior_provenance"),
                "project_path": str(path.resolve()),
                # A repaired project differs from the file: offer to save it.
                "dirty": bool(warnings),
            }
            session = cls(store, tree, session_lock, meta)
            session.open_warnings = warnings
            store.remove_unreferenced(session._referenced_files())
            session._write_manifest()
        except BaseException:
            session_lock.release()
            store.delete_folder()
            raise
        return session

    @classmethod
    def recover(cls, folder: Path) -> "EditSession":
        """Take over an abandoned session folder (see ``list_recoverable_sessions``).

        Every edit whose image is intact (checked against its hash) comes back; an edit that
        was running when the app died never reached the manifest and is simply absent.
        """
        folder = Path(folder)
        if not any((folder / name).exists() for name in (MANIFEST_NAME, ORIGINAL_NAME, NODES_DIR)):
            raise ProjectFileError(f"{folder} is not an IP2P session folder.")
        store = SessionStore(folder)
        session_lock = SessionLock(folder)
        _acquire(session_lock, busy_message=f"The session {folder.name} is open in another IP2P Desktop window.")
        try:
            manifest = store.read_manifest()
            warnings: list[str] = []
            tree, problems = _tree_from_manifest(manifest)
            if tree is not None:
                warnings += [f"{p}." for p in problems]
            else:
                tree = _rebuild_tree(store)
                warnings.append("The session's history file was damaged; it was rebuilt from the saved images.")
                manifest = manifest or {}
            _use_canonical_file_names(tree)
            lost = {n.id for n in tree.nodes() if not store.verify(n.image_file, n.sha256)}
            warnings += _report_lost(tree, lost, drop_lost_images(tree, lost))
            meta = dict(manifest)
            meta["dirty"] = bool(manifest.get("dirty", True)) or bool(warnings)
            session = cls(store, tree, session_lock, meta)
            session.open_warnings = warnings
            store.ensure_layout()
            # Files the manifest does not mention: an interrupted edit or delete. Never resurrect them.
            store.remove_unreferenced(session._referenced_files())
            session._write_manifest()
        except BaseException:
            session_lock.release()
            raise
        return session

    # --- tree queries ----------------------------------------------------------------------------

    @property
    def root_id(self) -> str:
        return self._tree.root_id

    @property
    def cursor(self) -> str:
        return self._tree.cursor

    @property
    def view(self) -> dict[str, Any]:
        """Opaque view state of the app (zoom, pan, split...), saved with the project."""
        return dict(self._view)

    def set_view(self, view: dict[str, Any]) -> None:
        with self._lock:
            self._view = dict(view)
            self._persist_quietly()

    def node(self, node_id: str) -> EditNode:
        with self._lock:
            return self._tree.node(node_id)

    def nodes(self) -> list[EditNode]:
        with self._lock:
            return self._tree.nodes()

    def children(self, node_id: str) -> list[EditNode]:
        with self._lock:
            return self._tree.children(node_id)

    def path_to(self, node_id: str) -> list[EditNode]:
        with self._lock:
            return self._tree.path_to(node_id)

    def chain(self, node_id: str) -> list[EditParams]:
        with self._lock:
            return self._tree.chain(node_id)

    def provenance(self, node_id: str) -> Provenance:
        """What to embed in an exported image (``imageio.save_image(provenance=...)``): the photo's
        earlier chain, if it had one, then this session's edits root..node."""
        with self._lock:
            return _provenance(self._tree.path_to(node_id), self._prior)

    @property
    def original_exif(self) -> bytes | None:
        """The source photo's EXIF bytes given to :meth:`create` (for exports), or None."""
        return self._store.read_bytes(EXIF_NAME)

    @property
    def n_edits(self) -> int:
        with self._lock:
            return len(self._tree) - 1

    # --- images ----------------------------------------------------------------------------------

    def image(self, node_id: str) -> Image.Image:
        """The node's full-size image, read from disk (the root's is the original)."""
        node = self.node(node_id)
        if node.image_missing:
            what = "original photo" if node.is_root else f"edit '{node.instruction}'"
            raise ProjectFileError(
                f"The image of the {what} was lost when the project was damaged; "
                "its settings are kept, so you can re-run it."
            )
        return self._store.read_image(node.image_file)

    def thumbnail(self, node_id: str) -> Image.Image:
        """A ~256 px preview, cached on disk (a grey placeholder when the image was lost)."""
        node = self.node(node_id)
        thumb_path = self._store.path(node.thumb_file) if node.thumb_file else None
        if thumb_path is not None and thumb_path.is_file():
            with contextlib.suppress(IP2PError):
                return self._store.read_image(node.thumb_file)
        if node.image_missing:
            w, h = (node.width, node.height) if node.width and node.height else (4, 3)
            scale = THUMB_SIZE / max(w, h)
            return Image.new("RGB", (max(1, round(w * scale)), max(1, round(h * scale))), (128, 128, 128))
        thumb = make_thumbnail(self.image(node_id))
        if node.thumb_file:
            with contextlib.suppress(IP2PError):
                self._store.write_thumbnail(node.thumb_file, thumb)
        return thumb

    # --- changes ---------------------------------------------------------------------------------

    def add_result(self, parent_id: str, result: EditResult, *, weights_hash: str = "") -> EditNode:
        """Record ``result`` as a child of ``parent_id`` and move the cursor to it.

        Durable on return: the image, its thumbnail and the manifest are on disk. Raises
        ImageSaveError (disk full, ...) with the session unchanged.
        """
        self._check_open()
        with self._lock:
            ancestors = self._tree.path_to(parent_id)
        image: Image.Image = result.image
        working = getattr(result, "working_image", None)
        node = EditNode(
            id=new_node_id(),
            parent_id=parent_id,
            params=result.params,
            model_id=str(result.model_id or ""),
            weights_hash=weights_hash,
            timings={k: float(v) for k, v in (result.timings or {}).items()},
            created=time.time(),
            width=image.width,
            height=image.height,
            working_width=working.width if working is not None else 0,
            working_height=working.height if working is not None else 0,
        )
        node.image_file = node_image_name(node.id)
        node.thumb_file = node_thumb_name(node.id)
        provenance = _provenance(ancestors + [node], self._prior)
        texts = {
            "parameters": provenance.parameters_text(),
            "ip2p": provenance.to_json(),
            NODE_CHUNK_KEY: _node_record_json(node),
        }
        try:
            node.sha256 = self._store.write_png(node.image_file, image, texts=texts)
            self._store.write_thumbnail(node.thumb_file, image)
        except BaseException:
            self._store.remove([node.image_file, node.thumb_file])
            raise
        with self._lock:
            before = self._tree.to_dict()
            try:
                self._tree.add(node)
            except KeyError:
                self._store.remove([node.image_file, node.thumb_file])
                raise
            self._tree.move_to(node.id)
            try:
                self._changed()
            except BaseException:
                self._restore(before)
                self._store.remove([node.image_file, node.thumb_file])
                raise
        return node

    def replay(
        self,
        engine: Any,
        chain: list[EditParams],
        *,
        parent_id: str | None = None,
        new_seeds: bool = False,
        progress: Callable[[int, Any], None] | None = None,
        cancel: Any = None,
    ) -> list[EditNode]:
        """Run ``chain`` from ``parent_id`` (default: the cursor), adding each result as it finishes."""
        from .replay import replay_chain

        start = parent_id or self.cursor
        weights_hash = _weights_hash(engine)
        added: list[EditNode] = []

        def keep(_: int, result: EditResult) -> None:
            parent = added[-1].id if added else start
            added.append(self.add_result(parent, result, weights_hash=weights_hash))

        replay_chain(engine, self.image(start), chain, new_seeds=new_seeds, progress=progress, cancel=cancel, on_result=keep)
        return added

    def can_undo(self) -> bool:
        with self._lock:
            return self._tree.can_undo()

    def undo(self) -> str | None:
        with self._lock:
            moved = self._tree.undo()
            if moved is not None:
                self._persist_quietly()
            return moved

    def can_redo(self) -> bool:
        with self._lock:
            return self._tree.can_redo()

    def redo(self) -> str | None:
        """Step forward along the child most recently visited (the newest one if none was)."""
        with self._lock:
            moved = self._tree.redo()
            if moved is not None:
                self._persist_quietly()
            return moved

    def move_to(self, node_id: str) -> None:
        with self._lock:
            self._tree.move_to(node_id)
            self._persist_quietly()

    def delete_branch(self, node_id: str) -> None:
        """Delete a node and everything below it (not the root). Raises ImageSaveError if the
        change cannot be recorded, with the session unchanged."""
        self._check_open()
        with self._lock:
            before = self._tree.to_dict()
            removed = self._tree.delete_branch(node_id)
            try:
                self._changed()
            except BaseException:
                self._restore(before)
                raise
            files = [f for n in removed for f in (n.image_file, n.thumb_file)]
            if self._saves_running:
                self._deferred_removals.extend(files)  # a project save is reading them right now
            else:
                self._store.remove(files)

    # --- project and lifetime --------------------------------------------------------------------

    def save_project(self, path: Path) -> None:
        """Write the whole session to ``path`` (``.ip2p`` added if there is no extension).

        Atomic: on any failure (disk full, read-only folder...) ImageSaveError is raised and both
        the previous file at ``path`` and this session are untouched.
        """
        self._check_open()
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(PROJECT_SUFFIX)
        if path.is_dir():
            raise ImageSaveError(f"Cannot save the project to {path}: it is a folder; choose a file name.")
        with self._lock:
            manifest = self._manifest(for_project=True)
            files = self._project_files()
            revision = self._revision
            self._saves_running += 1
        try:
            write_project(path, manifest, files)
        finally:
            with self._lock:
                self._saves_running -= 1
                if not self._saves_running and self._deferred_removals:
                    self._store.remove(self._deferred_removals)
                    self._deferred_removals = []
        with self._lock:
            self.project_path = path.resolve()
            if revision == self._revision:
                self.dirty = False
            self._persist_quietly()

    def close(self, *, keep_autosave: bool = False) -> None:
        """End the session. Without ``keep_autosave`` its folder is deleted (call this only once the
        work is saved or the user chose to discard it); with it, the folder stays and is offered
        for recovery at the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if keep_autosave:
                self._persist_quietly()
            self._session_lock.release()
            if not keep_autosave:
                remove_session_folder(self.folder)

    def __enter__(self) -> "EditSession":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        # Leaving with an error keeps the autosave: never lose work because of a bug.
        self.close(keep_autosave=exc_type is not None or self.dirty)

    # --- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ProjectFileError("This session has been closed; open the project again to continue.")

    def _manifest(self, *, for_project: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "session_id": self.folder.name,
            "created": self.created,
            "source_name": self.source_name,
            "source_path": str(self.source_path) if self.source_path else None,
            "view": self._view,
            "prior_provenance": self._prior.to_dict() if self._prior is not None else None,
        }
        if not for_project:
            data["project_path"] = str(self.project_path) if self.project_path else None
            data["dirty"] = self.dirty
        data.update(self._tree.to_dict())
        return data

    def _project_files(self) -> list[tuple[str, Path]]:
        files: list[tuple[str, Path]] = []
        for node in self._tree.nodes():
            if not node.image_missing:
                source = self._store.path(node.image_file)
                if not source.is_file():
                    what = "original photo" if node.is_root else f"edit '{node.instruction}'"
                    raise ImageSaveError(
                        f"Cannot save the project: the autosaved image of the {what} is missing from {self.folder}."
                    )
                files.append((node.image_file, source))
        if self._store.path(EXIF_NAME).is_file():
            files.append((EXIF_NAME, self._store.path(EXIF_NAME)))
        for node in self._tree.nodes():
            thumb = self._store.path(node.thumb_file) if node.thumb_file else None
            if thumb is not None and thumb.is_file():
                files.append((node.thumb_file, thumb))
        return files

    def _referenced_files(self) -> set[str]:
        return {f for n in self._tree.nodes() for f in (n.image_file, n.thumb_file) if f} | {MANIFEST_NAME, EXIF_NAME}

    def _write_manifest(self) -> None:
        self._store.write_manifest(self._manifest())

    def _changed(self) -> None:
        """Record a change of content: mark dirty and write the manifest (raises on failure)."""
        was_dirty = self.dirty
        self.dirty = True
        self._revision += 1
        try:
            self._write_manifest()
        except BaseException:
            self.dirty = was_dirty
            raise

    def _persist_quietly(self) -> None:
        # Cursor and view changes lose nothing if they miss the disk; the next write catches up.
        if self._closed and not self._session_lock.held:
            return
        with contextlib.suppress(IP2PError):
            self._write_manifest()

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self._tree, _ = EditTree.from_dict(snapshot)


def _acquire(session_lock: SessionLock, busy_message: str | None = None) -> None:
    try:
        session_lock.acquire()
    except SessionBusyError as exc:
        raise ProjectFileError(busy_message or f"The session folder {session_lock.path.parent} is in use.") from exc
    except OSError as exc:
        raise ImageSaveError(
            f"Cannot use the autosave folder {session_lock.path.parent} ({exc.strerror or exc}); "
            "check that the drive is writable and has free space."
        ) from exc


def remove_session_folder(folder: Path) -> None:
    """Delete a session folder; renamed first so a half-deleted folder is never offered for recovery."""
    folder = Path(folder)
    doomed = folder.with_name(f".deleted-{folder.name}-{secrets.token_hex(3)}")
    try:
        os.replace(folder, doomed)
    except OSError:
        doomed = folder
    shutil.rmtree(doomed, ignore_errors=True)


def _weights_hash(engine: Any) -> str:
    try:
        return str(engine.describe().weights_hash or "")
    except Exception:  # noqa: BLE001 - a fake or older engine without describe(): no hash
        return ""


def _provenance(path: list[EditNode], prior: Provenance | None = None) -> Provenance:
    steps = list(prior.chain) if prior is not None else []
    for node in path:
        if node.params is None:
            continue
        steps.append(
            ChainStep.from_params(
                node.params,
                node.working_width,
                node.working_height,
                node.model_id,
                weights_hash=node.weights_hash or None,
            )
        )
    return Provenance(chain=steps)


def _node_record_json(node: EditNode) -> str:
    import json

    record = node.to_dict()
    record["sha256"] = ""  # the file cannot contain its own hash
    return json.dumps(record, ensure_ascii=False)


def _use_canonical_file_names(tree: EditTree) -> None:
    # File names always follow from ids; names recorded in a file are never trusted as paths.
    for node in tree.nodes():
        node.image_file = ORIGINAL_NAME if node.is_root else node_image_name(node.id)
        node.thumb_file = node_thumb_name(node.id)


def _members_to_extract(manifest: dict[str, Any] | None, names: set[str]) -> list[tuple[str, str]]:
    wanted: list[tuple[str, str]] = []
    if manifest is not None:
        for raw in manifest.get("nodes") or []:
            if not isinstance(raw, dict) or not valid_node_id(raw.get("id")):
                continue
            node_id = raw["id"]
            image = ORIGINAL_NAME if raw.get("parent_id") is None else node_image_name(node_id)
            sha = raw.get("sha256") if isinstance(raw.get("sha256"), str) else ""
            wanted.append((image, sha if raw.get("image_file") else ""))
            wanted.append((node_thumb_name(node_id), ""))
        wanted.append((EXIF_NAME, ""))
        return [(m, s) for m, s in wanted if m in names]
    for name in sorted(names):
        stem = name.rsplit("/", 1)[-1].removesuffix(".png")
        if name in (ORIGINAL_NAME, EXIF_NAME) or (
            name in (node_image_name(stem), node_thumb_name(stem)) and valid_node_id(stem)
        ):
            wanted.append((name, ""))
    return wanted


def _tree_from_manifest(manifest: dict[str, Any] | None) -> tuple[EditTree | None, list[str]]:
    """The tree a manifest describes, or None when it is unusable (then it is rebuilt from images)."""
    if manifest is None:
        return None, []
    try:
        return EditTree.from_dict(manifest)
    except (TypeError, ValueError, AttributeError):
        return None, []


def _rebuild_tree(store: SessionStore) -> EditTree:
    """The tree from the records embedded in each node PNG (when the manifest is lost)."""
    root = EditNode(
        id=ROOT_ID,
        parent_id=None,
        params=None,
        image_file=ORIGINAL_NAME if store.path(ORIGINAL_NAME).is_file() else "",
    )
    if root.image_file:
        with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError):
            with Image.open(store.path(ORIGINAL_NAME)) as header:  # size only, no decoding
                root.width, root.height = header.size
    nodes = [root]
    folder = store.path(NODES_DIR)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        record = store.read_node_record(f"{NODES_DIR}/{entry.name}")
        if record is None:
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError):
            node = EditNode.from_dict(record)
            if node.image_file == node_image_name(node.id) == f"{NODES_DIR}/{entry.name}":
                nodes.append(node)
    nodes[1:] = sorted(nodes[1:], key=lambda n: n.created)
    tree, _ = EditTree.from_nodes(nodes)
    return tree


def _report_lost(tree: EditTree, lost: set[str], removed: list[EditNode]) -> list[str]:
    messages = []
    for node in removed:
        messages.append(f"The edit '{node.instruction}' was missing or damaged and could not be restored.")
    for node in tree.nodes():
        if node.id in lost:
            if node.is_root:
                messages.append("The original photo was missing or damaged; the edits made from it were kept.")
            else:
                messages.append(
                    f"The image of the edit '{node.instruction}' was missing or damaged; its settings were kept."
                )
    return messages
