"""Short blocking jobs (decoding a photo, writing a PNG or a project) off the UI thread.

``BackgroundTasks.run(fn, *args, done=..., failed=...)`` runs ``fn`` on a small QThreadPool and
calls ``done(result)`` or ``failed(exc)`` back on the UI thread through a queued signal. GPU work
never comes here: it belongs to the engine worker (see worker.py).

Why callbacks rather than qasync coroutines: see docs/ARCHITECTURE-desktop.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries a task's outcome from the pool thread to the UI thread.

    It is created on the UI thread, so its slots run there: Qt queues the signals emitted on the
    pool thread. (Connecting to a plain function would run it on the emitting thread.)
    """

    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(self, owner: "BackgroundTasks", done: Callable[[Any], None] | None,
                 on_error: Callable[[BaseException], None] | None) -> None:
        super().__init__()
        self._owner, self._done, self._on_error = owner, done, on_error
        self.succeeded.connect(self._on_succeeded)
        self.failed.connect(self._on_failed)

    @Slot(object)
    def _on_succeeded(self, result: Any) -> None:
        self._owner._finished(self)
        if self._done is not None:
            self._done(result)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self._owner._finished(self)
        if self._on_error is not None:
            self._on_error(exc)
        else:
            log.error("Background task failed", exc_info=exc)


class _Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._fn, self._args, self._kwargs, self._relay = fn, args, kwargs, relay

    def run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the UI, which reports it
            self._relay.failed.emit(exc)
        else:
            self._relay.succeeded.emit(result)


class BackgroundTasks(QObject):
    """A pool of I/O threads whose results come back on the UI thread."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._relays: set[_Relay] = set()

    @property
    def pending(self) -> int:
        """Tasks started whose callbacks have not run yet."""
        return len(self._relays)

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> None:
        relay = _Relay(self, done, failed)
        self._relays.add(relay)
        self._pool.start(_Task(fn, args, kwargs, relay))

    def _finished(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        relay.deleteLater()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the running tasks end (used when the app closes)."""
        return self._pool.waitForDone(timeout_ms)
