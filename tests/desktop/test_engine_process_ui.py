"""The app's own engine set-up: the model runs in a child process.

The window must behave as with an in-process engine (edits land in the history, cancel works),
survive the engine process dying (one failed edit with a clear message, then a fresh engine), stop
a long edit at once when it closes, and never import torch into the app's own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from ..processes import pid_exited
from .conftest import PHOTO
from .helpers import apply_and_wait, open_photo, small_params, wait_idle

REPO_ROOT = Path(__file__).resolve().parents[2]


def _engine_pid(window) -> int:
    engine = window.controller._worker._engine
    assert engine is not None and engine.pid != os.getpid(), "the engine should run in its own process"
    return engine.pid


def test_edits_run_in_the_engine_process_and_survive_its_death(qtbot, make_window, dialogs) -> None:
    window = make_window(engine_loader=None)
    open_photo(qtbot, window)
    first = apply_and_wait(qtbot, window, "make it winter")
    session = window.document.session
    assert np.asarray(session.image(first.id)).shape == np.asarray(session.image(session.root_id)).shape
    pid = _engine_pid(window)
    assert "RAM" in window.memory_label.text()
    assert "CPU" in window.device_label.text()

    # The engine process dies (a driver crash, the out-of-memory killer): that edit fails with a
    # clear message, nothing is added to the history, and the labels stop claiming a model.
    os.kill(pid, signal.SIGKILL)
    assert pid_exited(pid)
    small_params(window.controls, "add snow")
    with qtbot.waitSignal(window.controller.jobFailed, timeout=30_000):
        window.apply_instruction()
    assert dialogs.kinds() == ["critical"]
    assert "engine process was stopped" in dialogs.texts()[0]
    assert [n.id for n in session.nodes()] == [session.root_id, first.id]
    qtbot.waitUntil(lambda: window.controller.model_info is None, timeout=5_000)
    assert "Model:" in window.model_label.text() and "CPU" not in window.device_label.text()

    # The next edit starts a fresh engine process and works.
    second = apply_and_wait(qtbot, window, "add snow")
    assert second.parent_id == first.id
    assert _engine_pid(window) != pid
    wait_idle(qtbot, window)


def test_closing_during_a_long_edit_stops_the_engine_process_at_once(qtbot, make_window, dialogs) -> None:
    window = make_window(engine_loader=None)
    open_photo(qtbot, window)
    small_params(window.controls, "add snow", steps=500)
    window.controls.resolution.setValue(512)
    updates = []
    window.controller.jobProgress.connect(lambda job, update: updates.append(update))
    window.apply_instruction()
    qtbot.waitUntil(lambda: len(updates) >= 2, timeout=60_000)
    pid = _engine_pid(window)
    started = time.perf_counter()
    window.shutdown()
    took = time.perf_counter() - started
    # Closing must not wait for the edit: the engine process is stopped, not asked to finish.
    step_s = updates[-1].elapsed_s / updates[-1].step
    print(f"closed in {took:.2f} s; one step takes {step_s:.2f} s; the edit had {updates[-1].eta_s:.0f} s to go")
    assert updates[-1].eta_s > 10 * took
    assert took < 3.0, f"closing took {took:.1f} s"
    assert pid_exited(pid)


def test_the_app_process_never_imports_torch(tmp_path, tiny_model_dir) -> None:
    """Load the model and edit through the real window in a fresh process; torch stays out of it."""
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtWidgets import QApplication, QMessageBox
        from PySide6.QtCore import QTimer
        app = QApplication([])
        QMessageBox.critical = staticmethod(lambda *a, **k: print("DIALOG", a[2]) or QMessageBox.StandardButton.Ok)
        from ip2p_desktop.main_window import MainWindow
        window = MainWindow(model_source={str(tiny_model_dir)!r}, sessions_root={str(tmp_path / "sessions")!r},
                            first_run_checks=False)
        window.show()
        state = {{}}

        def edit():
            c = window.controls
            c.instruction.setPlainText("make it winter"); c.steps.setValue(2); c.resolution.setValue(64)
            window.apply_instruction()

        window.documentChanged.connect(lambda: QTimer.singleShot(0, edit) if window.controller.model_info else None)
        window.controller.modelReady.connect(lambda *_: window.open_path({str(PHOTO)!r}))
        window.historyChanged.connect(lambda: (state.setdefault("done", True), app.exit(0)))
        QTimer.singleShot(60_000, lambda: app.exit(3))
        code = app.exec()
        heavy = sorted(name for name in ("torch", "diffusers", "transformers") if name in sys.modules)
        print("EDITED", state.get("done", False), "HEAVY", heavy)
        window.shutdown()
        sys.exit(code)
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "EDITED True HEAVY []" in done.stdout, done.stdout + done.stderr[-2000:]
