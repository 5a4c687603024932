"""Run in a fresh process by ``_startup.py``: start a window, report when things happen, quit.

    python benchmarks/_desktop_probe.py bare
    python benchmarks/_desktop_probe.py app [--model PATH] [--edit PHOTO] [--timeout S]

Prints one line ``PROBE {json}`` with wall-clock (``time.time()``) stamps, so the parent can
measure from the moment it spawned the process (interpreter start and imports included):

* ``shown``: the main window's first frame is complete (the first call queued from its first
  paint event runs, after the window and all its children have painted; bare: a plain
  ``QMainWindow``; app: the real IP2P Desktop start-up path, ``ip2p_desktop.app.run``). In both
  modes the paint filter sits on the main window only;
* app only, with ``--model``: ``model_ready`` (the controller's ``modelReady``), and with
  ``--edit``: ``edit_done`` after opening the photo and applying one instruction through the
  window, plus ``longest_stall_s``: the longest gap between ticks of a 5 ms QTimer on the UI
  thread from the window's first paint until the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _emit(data: dict) -> None:
    print("PROBE " + json.dumps(data), flush=True)


def _debug(*parts: object) -> None:
    if os.environ.get("IP2P_PROBE_DEBUG"):
        print("probe:", *parts, file=sys.stderr, flush=True)


class _Stamps(dict):
    """Event stamps; with IP2P_PROBE_DEBUG=1 each one is also printed as it happens."""

    def __setitem__(self, key: str, value: object) -> None:
        _debug(key, value)
        super().__setitem__(key, value)


def bare() -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.resize(1440, 900)

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and not stamps:
                stamps["painting"] = 0.0
                QTimer.singleShot(0, frame_done)
            return False

    def frame_done() -> None:
        stamps["shown"] = time.time()
        app.quit()

    stamps: dict[str, float] = {}
    paint_filter = FirstPaint()
    window.installEventFilter(paint_filter)
    window.show()
    app.exec()
    _emit(stamps)
    return 0


def app_mode(model: str | None, photo: str | None, timeout_s: float) -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])  # app.run() reuses this instance
    stamps: dict[str, object] = _Stamps()
    gaps: list[float] = []
    state = {"window": None, "last_tick": 0.0}

    phase_max: dict[str, float] = {}

    def tick() -> None:
        now = time.perf_counter()
        gap = now - state["last_tick"]
        gaps.append(gap)
        state["last_tick"] = now
        phase = "edit" if "edit_started" in stamps else "load" if "model_ready" not in stamps else "idle"
        phase_max[phase] = max(phase_max.get(phase, 0.0), gap)
        if gap >= max(gaps):
            stamps["longest_stall_end"] = time.time()

    probe_timer = QTimer()
    probe_timer.setInterval(5)
    probe_timer.timeout.connect(tick)

    def finish(reason: str) -> None:
        if "end" in stamps:
            return
        stamps["end"] = time.time()
        stamps["end_reason"] = reason
        probe_timer.stop()
        stamps["longest_stall_s"] = max(gaps, default=None)
        stamps["ticks"] = len(gaps)
        stamps["longest_stall_by_phase_s"] = dict(phase_max)
        # exit(), not quit(): quit() first closes the window, which asks about unsaved history.
        QTimer.singleShot(0, lambda: app.exit(0))

    def on_history_changed() -> None:
        if "edit_done" not in stamps and "edit_started" in stamps:
            stamps["edit_done"] = time.time()
            finish("edit done")

    def start_edit() -> None:
        window = state["window"]
        controls = window.controls
        controls.instruction.setPlainText("make it winter")
        controls.steps.setValue(int(os.environ.get("IP2P_PROBE_STEPS", "4")))
        controls.resolution.setValue(int(os.environ.get("IP2P_PROBE_RESOLUTION", "256")))
        stamps["edit_started"] = time.time()
        window.apply_instruction()

    def on_document_changed() -> None:
        if "photo_open" not in stamps:
            stamps["photo_open"] = time.time()
            if "model_ready" in stamps:
                start_edit()

    def on_model_ready(*_args) -> None:
        if "model_ready" in stamps:
            return
        stamps["model_ready"] = time.time()
        if photo is None:
            finish("model ready")
        elif "photo_open" in stamps:
            start_edit()

    def on_model_failed(message: str) -> None:
        stamps["model_failed"] = message
        finish("model failed")

    def attach(window) -> None:
        state["window"] = window
        state["last_tick"] = time.perf_counter()
        probe_timer.start()
        if model is None:
            QTimer.singleShot(0, lambda: finish("window shown"))
            return
        controller = window.controller
        controller.modelReady.connect(on_model_ready)
        controller.modelFailed.connect(on_model_failed)
        window.historyChanged.connect(on_history_changed)
        window.documentChanged.connect(on_document_changed)
        if photo is not None:
            QTimer.singleShot(0, lambda: window.open_path(photo))

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if "painting" not in stamps and event.type() == QEvent.Type.Paint:
                stamps["painting"] = 0.0
                QTimer.singleShot(0, lambda: frame_done(obj))
            return False

    def frame_done(window) -> None:
        stamps["shown"] = time.time()
        attach(window)

    paint_filter = FirstPaint()
    QTimer.singleShot(int(timeout_s * 1000), lambda: finish("timeout"))

    # The filter goes on the main window itself, as in bare mode: a filter on the whole
    # application would run Python for every event of the start-up and slow the app down by
    # ~20 ms that a bare window does not pay. (Importing the window's module here, before run()
    # would, moves that time but does not change it.)
    from ip2p_desktop import main_window

    plain_show = main_window.MainWindow.show

    def show_watched(window) -> None:
        window.installEventFilter(paint_filter)
        plain_show(window)

    main_window.MainWindow.show = show_watched

    from ip2p_desktop.app import run

    argv = ["--model", model] if model else []
    try:
        code = run(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    stamps["exit_code"] = code
    _emit(stamps)
    return 0


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = sys.argv[1:]
    if not args or args[0] not in ("bare", "app"):
        print(__doc__)
        return 2
    if args[0] == "bare":
        return bare()

    def option(name: str) -> str | None:
        return args[args.index(name) + 1] if name in args else None

    return app_mode(option("--model"), option("--edit"), float(option("--timeout") or 300))


if __name__ == "__main__":
    sys.exit(main())
