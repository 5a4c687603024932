"""The photographer's main path, end to end with the tiny model: open, edit twice, undo, redo,
branch, save, and reopen what was saved."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from ip2p_core.imageio import load_image

from .helpers import apply_and_wait, open_photo, small_params, wait_idle


def test_open_edit_undo_redo_branch_save_reopen(qtbot, window, make_window, dialogs, tmp_path: Path) -> None:
    open_photo(qtbot, window)
    session = window.document.session
    root = session.root_id
    assert window.history.node_ids() == [root]

    first = apply_and_wait(qtbot, window, "make it winter", seed=11)
    second = apply_and_wait(qtbot, window, "add snow", seed=12)
    assert second.parent_id == first.id, "the second instruction edits the first result (a chain)"
    assert session.cursor == second.id
    assert window.history.node_ids() == [root, first.id, second.id]
    assert window.undo_action.isEnabled() and not window.redo_action.isEnabled()

    window.undo_action.trigger()
    assert session.cursor == first.id
    assert window.redo_action.isEnabled()
    window.redo_action.trigger()
    assert session.cursor == second.id

    # Branch: go back to the first state and apply something else there.
    window.show_node(first.id)
    assert session.cursor == first.id
    branch = apply_and_wait(qtbot, window, "turn the car red", seed=13)
    assert branch.parent_id == first.id
    assert {c.id for c in session.children(first.id)} == {second.id, branch.id}, "nothing was discarded"

    # Both branches are in the panel: the old line continues, the new one is nested under its start.
    assert set(window.history.node_ids()) == {root, first.id, second.id, branch.id}
    branch_item = window.history.item_for(branch.id)
    assert branch_item.parent() is window.history.item_for(first.id)
    assert window.history.item_for(second.id).parent() is None

    # Both branches are reachable by clicking their history entries.
    for node_id in (second.id, branch.id, root):
        item = window.history.item_for(node_id)
        window.history.tree.itemClicked.emit(item, 0)
        assert session.cursor == node_id
    wait_idle(qtbot, window)

    # Export the second state: the PNG carries its two-step chain.
    window.show_node(second.id)
    out = tmp_path / "out" / "winter.png"
    out.parent.mkdir()
    with qtbot.waitSignal(window.exported, timeout=20_000):
        window.export_result(out)
    reopened = load_image(out)
    steps = reopened.provenance.chain
    assert [s.instruction for s in steps] == ["make it winter", "add snow"]
    assert [s.seed for s in steps] == [11, 12]
    assert steps[-1].steps == 2 and steps[-1].sampler == "euler_a"

    # Save the project, then open it in a fresh window: the whole tree comes back.
    project = tmp_path / "out" / "cat.ip2p"
    with qtbot.waitSignal(window.projectSaved, timeout=20_000):
        window.save_project_to(project)
    assert not window.document.has_unsaved_edits
    other = make_window()
    with qtbot.waitSignal(other.documentChanged, timeout=20_000):
        other.open_path(project)
    again = other.document.session
    assert {n.params.instruction for n in again.nodes() if n.params} == {"make it winter", "add snow", "turn the car red"}
    assert again.cursor == second.id
    assert [p.instruction for p in again.chain(branch.id)] == ["make it winter", "turn the car red"]
    assert len(other.history.node_ids()) == 4
    assert dialogs.kinds().count("critical") == 0


def test_second_apply_while_busy_is_queued_and_chains(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    session = window.document.session
    small_params(window.controls, "make it winter", steps=12)
    window.apply_instruction()
    small_params(window.controls, "add snow", steps=2)
    window.apply_instruction()
    assert window.controller.busy
    assert [job.params.instruction for job in window.controller.queued_jobs()] == ["add snow"]
    assert window.controls.queue_list.isVisibleTo(window.controls) and window.controls.queue_list.count() == 1
    assert window.controls.apply_button.text() == "Queue"
    qtbot.waitUntil(lambda: session.n_edits == 2, timeout=60_000)
    wait_idle(qtbot, window)
    last = session.node(session.cursor)
    assert last.params.instruction == "add snow"
    assert session.node(last.parent_id).params.instruction == "make it winter"
    assert not window.controls.queue_list.isVisibleTo(window.controls)


def test_rerun_with_new_seed_makes_a_sibling(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    session = window.document.session
    first = apply_and_wait(qtbot, window, "make it winter", seed=5)
    with qtbot.waitSignal(window.historyChanged, timeout=60_000):
        window.history.rerunRequested.emit(first.id)
    rerun = session.node(session.cursor)
    assert rerun.parent_id == first.parent_id == session.root_id
    assert rerun.params.instruction == "make it winter" and rerun.params.seed != 5
    assert rerun.params.replace(seed=5) == first.params


def test_ctrl_enter_applies_and_chain_settings_are_copyable(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    small_params(window.controls, "make it winter", seed=77)
    window.activateWindow()
    window.controls.instruction.setFocus()
    with qtbot.waitSignal(window.historyChanged, timeout=60_000):
        qtbot.keyClick(window.controls.instruction, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.controls.instruction.toPlainText() == "make it winter", "Ctrl+Enter applies, it does not add a line"
    assert "seed 77" in window.history.chain_view.toPlainText()
    window.copy_chain_action.trigger()
    copied = QGuiApplication.clipboard().text()
    assert "1. make it winter" in copied and '"seed":77' in copied
    assert "make it winter" in window.settings.recent_instructions()


def test_parameters_reset_to_defaults(window) -> None:
    controls = window.controls
    small_params(controls, "x", steps=3)
    controls.scheduler.setCurrentIndex(controls.scheduler.findData("ddim"))
    controls.reset_button.click()
    params = controls.params()
    assert (params.steps, params.text_guidance, params.image_guidance, params.scheduler, params.resolution) == (
        20, 7.5, 1.5, "euler_a", 512,
    )
    assert params.seed is None and controls.seed_random.isChecked()


def test_view_modes_and_compare_original(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    apply_and_wait(qtbot, window, "make it winter")
    wait_idle(qtbot, window)
    window.split_action.trigger()
    assert window.canvas.mode() == "split"
    window.side_action.trigger()
    assert window.canvas.mode() == "side_by_side"
    window.compare_original_action.setChecked(True)
    assert window.compare_combo.currentIndex() == 1
    assert window.settings.compare_original
    window.single_action.trigger()
    assert window.canvas.mode() == "single" and window.settings.view_mode == "single"


def test_empty_canvas_hint_goes_away_when_a_photo_opens(qtbot, window, dialogs) -> None:
    assert "Open a photo" in window.canvas.overlay_text()
    open_photo(qtbot, window)
    assert window.canvas.overlay_text() == "", "the empty-canvas hint stayed on top of the photo"
