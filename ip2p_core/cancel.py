"""A thread-safe cancel flag shared between the UI (or a signal handler) and a running edit."""

from __future__ import annotations

import threading

from .errors import EditCancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise EditCancelled("The edit was cancelled.")
