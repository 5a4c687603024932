"""Run start-up work right after a window's first frame is on screen, never before it.

``QTimer.singleShot(0, ...)`` queued before ``app.exec()`` runs *before* the first paint, so
anything it does (a folder scan, a dialog, decoding the photo from the command line) delays the
moment the user sees the window. Waiting for the paint event puts such work behind it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

# If no paint comes (a window started minimized, a platform that skips it), run the work anyway.
FALLBACK_MS = 1000


class _FirstPaintWatcher(QObject):
    """Watches one widget until its next paint, then queues the callback and goes away.

    An event filter on that widget only (removed after one paint), not on the application:
    Python then runs for a handful of events instead of every event of the app.
    """

    def __init__(self, widget: QWidget, callback: Callable[[], None], fallback_ms: int) -> None:
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.timeout.connect(self._fire)
        self._fallback.start(fallback_ms)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self._fire()
        return False

    def _fire(self) -> None:
        self._fallback.stop()
        self._widget.removeEventFilter(self)
        # Queued: the children paint and the frame is flushed within the paint's own event, so the
        # callback runs once the whole window is on screen. The widget as context drops the call
        # if the window is destroyed first.
        QTimer.singleShot(0, self._widget, self._callback)
        self.deleteLater()


def after_first_paint(widget: QWidget, callback: Callable[[], None], fallback_ms: int = FALLBACK_MS) -> None:
    """Call ``callback`` on the UI thread just after ``widget`` has next been painted.

    A repaint is requested, so the call also comes when the widget is already on screen; for a
    hidden widget it comes once the widget is shown and painted, or after ``fallback_ms``.
    """
    _FirstPaintWatcher(widget, callback, fallback_ms)
    widget.update()
