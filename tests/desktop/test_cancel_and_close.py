"""Cancel leaves the history untouched; closing during an edit joins the worker cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .helpers import apply_and_wait, open_photo, small_params, wait_idle

REPO_ROOT = Path(__file__).resolve().parents[2]


def _start_long_edit(qtbot, window, instruction: str = "add snow") -> None:
    small_params(window.controls, instruction, steps=150)
    with qtbot.waitSignal(window.controller.jobProgress, timeout=60_000):
        window.apply_instruction()


def test_cancel_mid_edit_leaves_history_unchanged(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    first = apply_and_wait(qtbot, window, "make it winter")
    session = window.document.session
    before_nodes = {n.id for n in session.nodes()}
    before_files = sorted(p.name for p in session.folder.rglob("*.png"))

    _start_long_edit(qtbot, window)
    assert window.cancel_action.isEnabled()
    started = time.perf_counter()
    with qtbot.waitSignal(window.controller.jobCancelled, timeout=10_000):
        window.cancel_action.trigger()  # Esc
    took = time.perf_counter() - started
    wait_idle(qtbot, window)

    assert {n.id for n in session.nodes()} == before_nodes
    assert session.cursor == first.id
    assert sorted(p.name for p in session.folder.rglob("*.png")) == before_files, "no partial result on disk"
    assert window.history.node_ids() == [session.root_id, first.id]
    assert window.controls.progress.format() == "Cancelled"
    assert not window.cancel_action.isEnabled()
    assert took < 5.0, f"cancel took {took:.2f} s"
    assert "critical" not in dialogs.kinds()

    # The engine is still usable afterwards.
    second = apply_and_wait(qtbot, window, "add snow")
    assert second.parent_id == first.id


def test_cancel_drops_nothing_else_and_queue_runs_on(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    session = window.document.session
    _start_long_edit(qtbot, window)
    small_params(window.controls, "make it winter", steps=2)
    window.apply_instruction()
    assert len(window.controller.queued_jobs()) == 1
    with qtbot.waitSignal(window.historyChanged, timeout=60_000):
        window.cancel_edit()
    assert [n.params.instruction for n in session.nodes() if n.params] == ["make it winter"]


def test_close_during_edit_cancels_and_joins(qtbot, make_window, dialogs) -> None:
    window = make_window()
    open_photo(qtbot, window)
    _start_long_edit(qtbot, window)
    thread = window.controller._thread
    folder = window.document.session.folder
    started = time.perf_counter()
    assert window.close()
    assert time.perf_counter() - started < 5.0
    assert thread.isFinished()
    assert not folder.exists(), "a session without edits leaves nothing behind"


APP_SCRIPT = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

app = QApplication(sys.argv[:1])
QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
from ip2p_desktop.app import run


def main_window():
    return next(w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow")


def after_show():
    # First event-loop turn after run() showed the window.
    print("HEAVY_AFTER_SHOW", sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules), flush=True)
    window = main_window()

    def on_progress(job, update):
        if update.step == 1:
            print("CLOSING_AT_STEP", update.step, flush=True)
            window.close()

    def start_edit():
        if window.document is None:
            QTimer.singleShot(50, start_edit)
            return
        print("OPENED", window.document.name, flush=True)
        window.controller.jobProgress.connect(on_progress)
        window.controls.instruction.setPlainText("make it winter")
        window.controls.steps.setValue(100)
        window.controls.resolution.setValue(64)
        window.apply_instruction()

    start_edit()


QTimer.singleShot(0, after_show)
code = run(sys.argv[1:])
print("DEVICE", main_window().device_label.text() if QApplication.topLevelWidgets() else "?", flush=True)
sys.exit(code)
"""


def test_app_shows_window_before_torch_opens_command_line_image_and_exits_cleanly_mid_edit(
    tiny_model_dir, tmp_path: Path
) -> None:
    profile = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "CACHE", "STATE")}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT),
               HF_HOME=str(tmp_path / "hf"), **profile)
    photo = (REPO_ROOT / ".." / "shared" / "images" / "photos" / "chelsea.png").resolve()
    proc = subprocess.run(
        [sys.executable, "-c", APP_SCRIPT, str(photo), "--model", str(tiny_model_dir)],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The model loads in the background only after the window is shown.
    assert "HEAVY_AFTER_SHOW []" in proc.stdout, proc.stdout
    assert "OPENED chelsea.png" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "CLOSING_AT_STEP 1" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "DEVICE CPU · fp32" in proc.stdout
    assert "QThread: Destroyed while thread is still running" not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    logs = list(Path(profile["XDG_STATE_HOME"]).rglob("ip2p-desktop.log"))
    assert logs, "the log goes to the platform log folder"
    assert "Engine thread stopped" in logs[0].read_text(encoding="utf-8")


NO_TORCH_SCRIPT = r"""
import sys
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QSettings
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
app = QApplication([])
from ip2p_desktop.main_window import MainWindow
from ip2p_desktop.settings import AppSettings
from ip2p_desktop.dialogs import about_text, AboutDialog
window = MainWindow(AppSettings(), model_source="", first_run_checks=False)
window.show()
app.processEvents()
AboutDialog(None, window)
print("HEAVY", sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules))
window.shutdown()
"""


def test_window_and_about_dialog_need_no_torch(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-c", NO_TORCH_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stdout, proc.stdout
