"""The window comes first: what start-up must not load, and work that waits for the first frame."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QObject

from .conftest import REPO_ROOT

# Loaded later (model worker, file threads, dialogs) or not at all; each one costs start-up time.
NOT_AT_START = (
    "torch",
    "diffusers",
    "transformers",
    "huggingface_hub",
    "PIL",
    "ip2p_core.session",  # the recovery scan imports it on a pool thread after the first paint
    "logging.handlers",  # pulls socket, pickle and queue; the log rotates once at start instead
    "secrets",  # random seeds come from os.urandom
    "platform",  # only the About box needs the Python version
)


def test_importing_the_app_loads_nothing_heavy(tmp_path: Path) -> None:
    profile = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "CACHE", "STATE")}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(REPO_ROOT), **profile)
    code = (
        "import json, sys\n"
        "import ip2p_desktop.app, ip2p_desktop.logging_setup, ip2p_desktop.main_window\n"
        f"print(json.dumps([name for name in {NOT_AT_START!r} if name in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_plain_start_means_the_parser_defaults() -> None:
    from ip2p_desktop.app import build_parser, parse_arguments

    assert vars(parse_arguments([])) == vars(build_parser().parse_args([]))
    assert parse_arguments(["photo.jpg", "--model", "/m"]).image == "photo.jpg"


def test_a_large_log_is_set_aside_at_start(tmp_path: Path) -> None:
    from ip2p_desktop.logging_setup import LOG_FILE_NAME, setup_logging

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / LOG_FILE_NAME).write_bytes(b"x" * 2_100_000)
    (folder / f"{LOG_FILE_NAME}.1").write_text("older run\n", encoding="utf-8")
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        assert setup_logging(folder) == folder / LOG_FILE_NAME
        logging.getLogger("x").warning("a new run")
        for handler in root.handlers:
            handler.flush()
        assert (folder / LOG_FILE_NAME).read_text(encoding="utf-8").strip().endswith("a new run")
        assert (folder / LOG_FILE_NAME).stat().st_size < 1000
        assert (folder / f"{LOG_FILE_NAME}.1").stat().st_size == 2_100_000
        assert (folder / f"{LOG_FILE_NAME}.2").read_text(encoding="utf-8") == "older run\n"
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()


class _PaintRecorder(QObject):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self._events = events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self._events.append("paint")
        return False


def test_recovery_is_offered_after_the_first_frame_with_the_scan_off_the_ui_thread(
        qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    import ip2p_core.session as sessions
    from ip2p_desktop.dialogs import RecoveryDialog

    from .test_session_features import _abandoned_session

    folder = _abandoned_session(tmp_path / "sessions")
    events: list[str] = []
    scan_threads: list[bool] = []
    real_scan = sessions.list_recoverable_sessions

    def scan(root: Path | None = None) -> list:
        events.append("scan")
        scan_threads.append(threading.current_thread() is threading.main_thread())
        return real_scan(root)

    def decide_later(dialog: RecoveryDialog) -> int:
        events.append("dialog")
        assert threading.current_thread() is threading.main_thread()
        assert dialog.list.count() == 1 and "chelsea.png" in dialog.list.item(0).text()
        return 0

    monkeypatch.setattr(sessions, "list_recoverable_sessions", scan)
    monkeypatch.setattr(RecoveryDialog, "exec", decide_later)
    window = make_window(first_run_checks=True)
    recorder = _PaintRecorder(events)
    window.installEventFilter(recorder)
    window.start()
    assert events == [], "start() itself must not scan or ask anything"
    qtbot.waitUntil(lambda: "dialog" in events, timeout=20_000)
    window.removeEventFilter(recorder)

    first_scan = events.index("scan")
    assert "paint" in events[:first_scan], "the window paints before the recovery scan starts"
    assert scan_threads == [False], "the scan runs on a pool thread, not the UI thread"
    assert events.index("dialog") > first_scan
    assert folder.exists(), "'Decide later' keeps the session for next time"
    assert window.document is None


def test_start_up_work_still_runs_when_no_paint_comes(qtbot) -> None:
    from PySide6.QtWidgets import QWidget

    from ip2p_desktop.first_frame import after_first_paint

    widget = QWidget()  # never shown, so never painted (like a window started minimized)
    qtbot.addWidget(widget)
    calls: list[str] = []
    after_first_paint(widget, lambda: calls.append("ran"), fallback_ms=50)
    qtbot.waitUntil(lambda: calls == ["ran"], timeout=5_000)
    qtbot.wait(100)
    assert calls == ["ran"]
