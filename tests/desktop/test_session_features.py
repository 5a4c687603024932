"""Recovery of abandoned sessions, compare-by-holding, branch deletion, clipboard, title, start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from .conftest import PHOTO, REPO_ROOT
from .helpers import apply_and_wait, open_photo, wait_idle


def _abandoned_session(root: Path, instruction: str = "make it winter") -> Path:
    """A session with one edit whose app 'crashed' (autosave kept, lock released)."""
    from ip2p_core.imageio import load_image
    from ip2p_core.params import EditParams, EditResult
    from ip2p_core.session import EditSession

    original = load_image(PHOTO).rgb
    session = EditSession.create(original, source_path=PHOTO, root=root)
    params = EditParams(instruction, seed=1, resolution=64, steps=2)
    session.add_result(session.root_id, EditResult(original.copy(), original.resize((64, 43)), params, "tiny"))
    folder = session.folder
    session.close(keep_autosave=True)
    return folder


def test_recovery_dialog_restores_an_abandoned_session(qtbot, make_window, tmp_path: Path, dialogs, monkeypatch) -> None:
    from ip2p_desktop.dialogs import RecoveryDialog

    folder = _abandoned_session(tmp_path / "sessions")
    offered = []

    def choose_restore(dialog: RecoveryDialog) -> int:
        offered.append(dialog.list.item(0).text())
        dialog.choice = RecoveryDialog.RESTORE
        return 1

    monkeypatch.setattr(RecoveryDialog, "exec", choose_restore)
    window = make_window(first_run_checks=True)
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.start()
    assert offered and "chelsea.png" in offered[0] and "1 edit" in offered[0]
    session = window.document.session
    assert session.folder == folder
    assert [n.params.instruction for n in session.nodes() if n.params] == ["make it winter"]
    assert len(window.history.node_ids()) == 2


def test_recovery_can_discard(qtbot, make_window, tmp_path: Path, dialogs, monkeypatch) -> None:
    from ip2p_desktop.dialogs import RecoveryDialog

    folder = _abandoned_session(tmp_path / "sessions")

    def choose_discard(dialog: RecoveryDialog) -> int:
        dialog.choice = RecoveryDialog.DISCARD
        return 1

    monkeypatch.setattr(RecoveryDialog, "exec", choose_discard)
    window = make_window(first_run_checks=True)
    window.start()
    qtbot.waitUntil(lambda: not folder.exists(), timeout=10_000)
    assert window.document is None


def test_holding_backslash_flashes_the_before_image(qtbot, window, dialogs, monkeypatch) -> None:
    open_photo(qtbot, window)
    flashes: list[bool] = []
    monkeypatch.setattr(window.canvas, "set_flash_before", flashes.append)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.canvas, timeout=5_000)
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(window.canvas, QKeyEvent(kind, Qt.Key.Key_Backslash, Qt.KeyboardModifier.NoModifier, "\\"))
    assert flashes == [True, False]

    window.controls.instruction.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.controls.instruction, timeout=5_000)
    QApplication.sendEvent(window.controls.instruction,
                           QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Backslash, Qt.KeyboardModifier.NoModifier, "\\"))
    assert flashes == [True, False], "typing a backslash in the instruction box is just typing"
    assert window.controls.instruction.toPlainText() == "\\"

    window.hold_button.pressed.emit()
    window.hold_button.released.emit()
    assert flashes == [True, False, True, False]


def test_delete_branch_asks_and_removes_only_that_branch(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    session = window.document.session
    first = apply_and_wait(qtbot, window, "make it winter")
    second = apply_and_wait(qtbot, window, "add snow")
    window.show_node(first.id)
    branch = apply_and_wait(qtbot, window, "turn the car red")
    dialogs.answers = [QMessageBox.StandardButton.No]
    window.delete_branch(second.id)
    assert second.id in {n.id for n in session.nodes()}
    dialogs.answers = [QMessageBox.StandardButton.Yes]
    window.delete_branch(second.id)
    assert {n.id for n in session.nodes()} == {session.root_id, first.id, branch.id}
    assert set(window.history.node_ids()) == {session.root_id, first.id, branch.id}
    wait_idle(qtbot, window)


def test_copy_result_and_unsaved_marker(qtbot, window, dialogs, tmp_path: Path) -> None:
    open_photo(qtbot, window)
    assert not window.windowTitle().startswith("chelsea.png*")
    apply_and_wait(qtbot, window, "make it winter")
    wait_idle(qtbot, window)
    assert window.windowTitle().startswith("chelsea.png*")
    window.copy_result_action.trigger()
    image = QGuiApplication.clipboard().image()
    assert (image.width(), image.height()) == (451, 300)
    with qtbot.waitSignal(window.projectSaved, timeout=20_000):
        window.save_project_to(tmp_path / "cat.ip2p")
    assert window.windowTitle().startswith("chelsea.png —")


def test_close_with_unsaved_edits_can_be_cancelled(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    apply_and_wait(qtbot, window, "make it winter")
    dialogs.answers = [QMessageBox.StandardButton.Cancel]
    assert not window.close()
    assert window.isVisible() and window.document is not None
    assert "Unsaved" in dialogs.calls[-1][1]


def test_quit_after_show_for_packaging_checks(tmp_path: Path) -> None:
    profile = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "CACHE", "STATE")}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT), **profile)
    proc = subprocess.run([sys.executable, "-m", "ip2p_desktop", "--quit-after-show"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "window shown in" in proc.stdout


def test_quit_after_show_can_wait_for_the_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    """What the packaging smoke test relies on: the window stays up until the engine process has
    loaded the model, then closes at once (well before the limit)."""
    profile = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "CACHE", "STATE")}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT),
               IP2P_QUIT_AFTER_SHOW_MS="90000", **profile)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ip2p_desktop", "--quit-after-show", "--model", str(tiny_model_dir)],
                          env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "window shown and model loaded in" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert took < 60, f"waited {took:.0f} s although the model was ready"
    logs = list((tmp_path / "state").rglob("*.log"))
    assert logs and "loaded in" in logs[0].read_text(encoding="utf-8")


def test_project_reopens_with_its_view(qtbot, make_window, dialogs, tmp_path: Path) -> None:
    """A saved project brings back the tree, the cursor, and how the user was looking at it."""
    first = make_window()
    open_photo(qtbot, first)
    apply_and_wait(qtbot, first, "make it winter")
    wait_idle(qtbot, first)
    first.set_view_mode("split")
    first.canvas.set_divider_position(0.3)
    first.canvas.set_zoom(2.0)
    expected = first.canvas.view_state()
    cursor = first.document.session.cursor
    with qtbot.waitSignal(first.projectSaved, timeout=20_000):
        first.save_project_to(tmp_path / "view.ip2p")
    wait_idle(qtbot, first)

    second = make_window()
    with qtbot.waitSignal(second.documentChanged, timeout=20_000):
        second.open_path(tmp_path / "view.ip2p")
    restored = second.canvas.view_state()
    assert second.document.session.cursor == cursor
    assert restored["mode"] == "split" and abs(restored["divider"] - 0.3) < 1e-9
    assert restored["fit"] is False and abs(restored["zoom"] - expected["zoom"]) < 1e-9
