"""The lock that marks a session folder as in use by a running app.

The lock file holds the owner's PID (for people reading it), but liveness is decided by an OS
lock held on the open file: the OS drops it when the process dies in any way (crash, kill -9,
power loss), so a stale PID or a PID reused by another program never hides an abandoned session.
Where the filesystem cannot lock files, we fall back to "is that PID alive on this host".
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

LOCK_NAME = "session.lock"

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> None:
        # Lock one byte far past the PID text so other processes can still read the file.
        handle.seek(1 << 30)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        handle.seek(0)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(1 << 30)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        handle.seek(0)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_BUSY = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, getattr(errno, "EDEADLK", errno.EAGAIN)}


class SessionBusyError(Exception):
    """The session folder is locked by a running app."""


class SessionLock:
    """Holds the lock on one session folder for as long as the session is open."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._handle: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> None:
        """Take the lock or raise SessionBusyError; other OSErrors (read-only folder...) propagate."""
        handle = open(self.path, "a+b")
        try:
            _try_lock(handle)
        except OSError as exc:
            # Without OS locking (some network drives) the PID check is the best we can do.
            if exc.errno in _BUSY or not _lock_unsupported(exc) or _pid_alive(read_owner(self.path.parent)):
                handle.close()
                raise SessionBusyError(str(self.path)) from exc
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(owner).encode("utf-8"))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            _unlock(handle)
        except OSError:
            pass  # closing the file releases it anyway
        handle.close()


def _lock_unsupported(exc: OSError) -> bool:
    return exc.errno in {errno.ENOLCK, errno.EINVAL, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


def read_owner(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / LOCK_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pid_alive(owner: dict | None) -> bool:
    if not owner or owner.get("host") != socket.gethostname():
        return False
    try:
        pid = int(owner.get("pid"))
    except (TypeError, ValueError):
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":  # pragma: no cover
        return False  # no cheap check without extra packages; Windows always supports the OS lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_in_use(folder: Path) -> bool:
    """Whether a running app holds this session folder (never takes the lock for long)."""
    probe = SessionLock(Path(folder))
    if not probe.path.exists():
        return False
    try:
        handle = open(probe.path, "rb")
    except OSError:
        return _pid_alive(read_owner(folder))
    try:
        _try_lock(handle)
    except OSError as exc:
        handle.close()
        if exc.errno in _BUSY:
            return True
        return _pid_alive(read_owner(folder))
    try:
        _unlock(handle)
    except OSError:
        pass
    handle.close()
    return False
