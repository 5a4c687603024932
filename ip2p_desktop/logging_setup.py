"""Log file and safe standard streams for a windowed app.

A windowed or frozen build starts with ``sys.stdout``/``sys.stderr`` set to ``None``; tqdm,
diffusers and transformers write progress bars to stderr and would crash with
``AttributeError: 'NoneType' object has no attribute 'write'``. We give such streams a sink that
forwards whole lines to the log, and switch the libraries' progress bars off (the app has its own).
"""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

from platformdirs import user_log_dir

from . import APP_ID, ORG_NAME

LOG_FILE_NAME = "ip2p-desktop.log"
_MAX_LOG_BYTES = 2_000_000
_BACKUP_COUNT = 2


def log_folder() -> Path:
    return Path(user_log_dir(APP_ID, ORG_NAME))


class _LogStream(io.TextIOBase):
    """A text stream that writes complete lines to a logger; used where no stdout/stderr exists."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        super().__init__()
        self._logger = logger
        self._level = level
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        # Progress bars check this to decide whether to draw; a log is not a terminal.
        return False

    def write(self, text: str) -> int:
        self._pending += text
        # tqdm redraws with "\r"; keep only the final state of each line to avoid log spam.
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            line = line.rsplit("\r", 1)[-1].strip()
            if line:
                self._logger.log(self._level, line)
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        # faulthandler and subprocess probe fileno(); say plainly that there is none.
        raise io.UnsupportedOperation("no file descriptor")


def ensure_std_streams() -> None:
    """Replace missing stdout/stderr (windowed/frozen builds) with streams that log."""
    if sys.stdout is None:
        sys.stdout = _LogStream(logging.getLogger("stdout"), logging.INFO)
    if sys.stderr is None:
        sys.stderr = _LogStream(logging.getLogger("stderr"), logging.WARNING)


def quiet_library_progress_bars() -> None:
    """Ask the hub/diffusers/transformers not to draw console progress bars (the app shows its own).

    Environment variables are read when those libraries are imported, which happens later in the
    worker, so setting them here is enough and keeps this module free of heavy imports.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "warning")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def rotate_if_large(path: Path, max_bytes: int = _MAX_LOG_BYTES, backups: int = _BACKUP_COUNT) -> None:
    """Start a fresh log when the current one passed ``max_bytes``: ``.log`` -> ``.log.1`` -> ``.log.2``.

    Done once per start instead of by a rotating handler: ``logging.handlers`` pulls socket,
    pickle and queue into every start-up, and one session rarely writes megabytes.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return
        for index in range(backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{index}")
            if older.exists():
                os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
        os.replace(path, path.with_name(f"{path.name}.1"))
    except OSError:
        # Missing file (first start) or held open by another running copy (Windows): append.
        pass


def setup_logging(folder: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to a file in the platform log folder (rotated at start-up); returns its path (None if unwritable)."""
    folder = folder or log_folder()
    root = logging.getLogger()
    root.setLevel(level)
    path: Path | None = folder / LOG_FILE_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        rotate_if_large(path)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        # A read-only profile must not stop the app from starting; fall back to stderr if any.
        path = None
        handler = logging.StreamHandler(sys.stderr) if sys.stderr is not None else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    # Replace a handler we installed earlier instead of stacking duplicates.
    for old in [h for h in root.handlers if getattr(h, "_ip2p", False)]:
        root.removeHandler(old)
        old.close()
    handler._ip2p = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    ensure_std_streams()
    quiet_library_progress_bars()
    return path
