"""A thread-safe cancel flag shared between the UI (or a signal handler) and a running edit."""

from __future__ import annotations

import threading
from typing import Any

from .errors import EditCancelled


class CancelToken:
    def __init__(self, event: Any = None) -> None:
        """``event``: anything with ``set()``/``is_set()`` to share the flag with, e.g. a
        ``multiprocessing`` event a child process checks; a private ``threading.Event`` if None."""
        self._event = threading.Event() if event is None else event

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise EditCancelled("The edit was cancelled.")
