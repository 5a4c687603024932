"""Atomic file writes: a crash, a full disk or a kill mid-save never leaves a half-written file.

Data goes to a temporary file in the destination folder (same filesystem, so the final
``os.replace`` is atomic), is fsynced, then renamed over the destination; on POSIX the folder is
fsynced too so the rename itself survives a power cut. On any failure the temporary file is
removed and the previous file, if any, is untouched.

OS errors are turned into one-sentence messages raised as ``error_cls`` (``ImageSaveError`` by
default) so each caller (images, sessions, projects) reports failures with its own error type.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from .errors import ImageSaveError, IP2PError

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def describe_write_error(exc: OSError, path: Path, what: str = "the file") -> str:
    """One sentence saying why ``path`` could not be written and what to do about it."""
    folder = path.parent
    code = exc.errno
    if code in _NO_SPACE:
        return f"Not enough disk space to save {what} {path.name} in {folder}; free some space or choose another drive."
    if code == errno.EROFS:
        return f"Cannot save {what} {path.name}: {folder} is on a read-only drive; choose another folder."
    if code in _READ_ONLY:
        return (
            f"Cannot save {what} {path.name}: permission denied in {folder} "
            "(read-only folder, or the file is open in another program); choose another folder."
        )
    if code == errno.ENOENT:
        return f"Cannot save {what} {path.name}: the folder {folder} does not exist; choose an existing folder."
    if code == errno.ENOTDIR:
        return f"Cannot save {what} {path.name}: part of the path {folder} is a file, not a folder; choose another folder."
    if code == errno.EISDIR:
        return f"Cannot save {what} to {path}: a folder with that name already exists; choose another file name."
    if code == errno.ENAMETOOLONG:
        return f"Cannot save {what} {path.name}: the file name or path is too long; choose a shorter name."
    reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    return f"Cannot save {what} {path}: {reason}."


def _resolve_target(path: Path) -> Path:
    # Saving "over" a symlink should update the file it points to, not replace the link.
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def _create_temp(target: Path, suffix: str) -> Path:
    # os.open with 0o666 (not mkstemp's 0o600) so the finished file gets the user's usual
    # permissions via the umask, without touching the process-wide umask.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            fd = os.open(temp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FileExistsError(errno.EEXIST, "could not create a unique temporary file", str(target.parent))


def _fsync_file(path: Path) -> None:
    # Opened read-write because Windows refuses to flush a read-only handle.
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some filesystems (network, FUSE) do not support fsync on folders; the rename already happened.
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    suffix: str | None = None,
    *,
    error_cls: type[IP2PError] = ImageSaveError,
    what: str = "the file",
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, move it into place.

    The caller writes the complete file to the yielded path (by name, so any library can write
    it). ``suffix`` is the temporary file's extension (default: the destination's) so writers that
    pick a format from the name keep working. OSErrors from the block or from the final move are
    raised as ``error_cls`` with a plain message; other exceptions propagate unchanged. Either
    way the temporary file is deleted and an existing file at ``path`` is left as it was.
    """
    target = _resolve_target(Path(path))
    temp_suffix = target.suffix if suffix is None else suffix
    try:
        temp = _create_temp(target, temp_suffix)
    except OSError as exc:
        raise error_cls(describe_write_error(exc, target, what)) from exc

    try:
        yield temp
        _fsync_file(temp)
        _copy_mode_of_existing(target, temp)
        os.replace(temp, target)
    except OSError as exc:
        _remove_quietly(temp)
        raise error_cls(describe_write_error(exc, target, what)) from exc
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_dir(target.parent)


def _copy_mode_of_existing(target: Path, temp: Path) -> None:
    # Overwriting a file keeps its permission bits, as an in-place write would.
    try:
        mode = target.stat().st_mode
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.chmod(temp, mode & 0o7777)


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    error_cls: type[IP2PError] = ImageSaveError,
    what: str = "the file",
) -> Path:
    """Write ``data`` to ``path`` atomically and return the path written."""
    with atomic_output(path, error_cls=error_cls, what=what) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
    return _resolve_target(Path(path))


def atomic_write_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    encoding: str = "utf-8",
    error_cls: type[IP2PError] = ImageSaveError,
    what: str = "the file",
) -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation) and return the path written."""
    return atomic_write_bytes(path, text.encode(encoding), error_cls=error_cls, what=what)
