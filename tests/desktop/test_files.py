"""Getting photos in and out: drag and drop, paste, bad files, recent files, chain reuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QMessageBox

from .conftest import BROKEN, PHOTO, SHARED
from .helpers import apply_and_wait, open_photo, wait_idle

ODD = SHARED / "images" / "odd"


def _drop(window, mime: QMimeData) -> bool:
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return True


def test_drop_a_photo_file(qtbot, window, dialogs) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(PHOTO))])
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        assert _drop(window, mime)
    assert window.document.name == "chelsea.png"
    assert window.document.session.node(window.document.session.root_id).width == 451
    assert str(PHOTO) in window.settings.recent_files()
    assert window.recent_menu.actions()[0].text() == "chelsea.png"


def test_drop_of_non_image_data_is_refused(window) -> None:
    mime = QMimeData()
    mime.setText("just words")
    assert not _drop(window, mime)
    assert window.document is None


def test_paste_image_data_and_image_and_file(qtbot, window, dialogs) -> None:
    clipboard = QGuiApplication.clipboard()
    mime = QMimeData()
    mime.setData("image/png", QByteArray(PHOTO.read_bytes()))
    clipboard.setMimeData(mime)
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.paste_action.trigger()
    assert window.document.name == "pasted image"
    assert window.document.source_path is None

    clipboard.setImage(QImage(str(SHARED / "images" / "photos" / "coffee.png")))
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.paste_from_clipboard()
    assert window.document.session.node(window.document.session.root_id).width == 600

    files = QMimeData()
    files.setUrls([QUrl.fromLocalFile(str(PHOTO))])
    clipboard.setMimeData(files)
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.paste_from_clipboard()
    assert window.document.name == "chelsea.png"
    assert "critical" not in dialogs.kinds()


def test_paste_with_nothing_useful_says_so(window, dialogs) -> None:
    QGuiApplication.clipboard().setText("hello")
    window.paste_from_clipboard()
    assert window.document is None
    assert "no image" in window.message_label.text()


def test_broken_image_shows_an_error_and_the_app_carries_on(qtbot, window, dialogs) -> None:
    with qtbot.waitSignal(window.ioFailed, timeout=20_000):
        window.open_path(BROKEN)
    assert dialogs.kinds() == ["critical"]
    message = dialogs.texts("critical")[0]
    assert "broken.png" in message and "Traceback" not in message and "\n" not in message
    assert window.document is None
    open_photo(qtbot, window)  # still works
    assert window.document.name == "chelsea.png"


@pytest.mark.parametrize("name", ["hopper_orientation_6.jpg", "pil_sample_cmyk.jpg", "p_trns_single.png",
                                  "tiff_16bit_RGB_target.png"])
def test_odd_files_open_as_in_the_cli(qtbot, window, dialogs, name: str) -> None:
    from ip2p_core.imageio import load_image

    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.open_path(ODD / name)
    root = window.document.session.node(window.document.session.root_id)
    assert (root.width, root.height) == load_image(ODD / name).size


def test_truncated_and_bomb_files_give_one_sentence(qtbot, window, dialogs) -> None:
    for name in ("truncated_jpeg.jpg", "decompression_bomb.gif"):
        with qtbot.waitSignal(window.ioFailed, timeout=20_000):
            window.open_path(ODD / name)
    assert len(dialogs.texts("critical")) == 2
    assert all(name in text for name, text in zip(("truncated_jpeg.jpg", "decompression_bomb.gif"),
                                                  dialogs.texts("critical")))


def test_export_never_overwrites_the_input(qtbot, window, dialogs, tmp_path: Path) -> None:
    source = tmp_path / "mine.png"
    source.write_bytes(PHOTO.read_bytes())
    open_photo(qtbot, window, source)
    apply_and_wait(qtbot, window, "make it winter")
    with qtbot.waitSignal(window.ioFailed, timeout=20_000):
        window.export_result(source)
    assert source.read_bytes() == PHOTO.read_bytes()
    assert "original" in dialogs.texts("critical")[0].lower()


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_export_jpeg_and_webp_carry_the_chain(qtbot, window, dialogs, tmp_path: Path, suffix: str) -> None:
    from ip2p_core.metadata import read_provenance

    open_photo(qtbot, window)
    apply_and_wait(qtbot, window, "make it winter", seed=3)
    out = tmp_path / f"result{suffix}"
    with qtbot.waitSignal(window.exported, timeout=20_000):
        window.export_result(out)
    assert read_provenance(out).chain[-1].instruction == "make it winter"


def test_opening_a_result_offers_to_reuse_its_settings(qtbot, window, dialogs, tmp_path: Path) -> None:
    open_photo(qtbot, window)
    apply_and_wait(qtbot, window, "make it winter", seed=21, steps=3)
    out = tmp_path / "winter.png"
    with qtbot.waitSignal(window.exported, timeout=20_000):
        window.export_result(out)
    window.controls.instruction.setPlainText("")
    window.controls.reset_to_defaults()

    dialogs.answers = [QMessageBox.StandardButton.Discard, QMessageBox.StandardButton.Yes]
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.open_path(out)
    assert [k for k in dialogs.kinds()] == ["question", "question"], "unsaved-edits prompt, then reuse offer"
    assert "make it winter" in dialogs.texts("question")[1]
    params = window.controls.params()
    assert params.instruction == "make it winter" and params.seed == 21 and params.steps == 3
    assert window.apply_imported_action.isEnabled()

    with qtbot.waitSignal(window.historyChanged, timeout=60_000):
        window.apply_imported_action.trigger()
    wait_idle(qtbot, window)
    session = window.document.session
    assert [p.instruction for p in session.chain(session.cursor)] == ["make it winter"]


def test_replacing_a_photo_with_unsaved_edits_can_be_cancelled(qtbot, window, dialogs) -> None:
    open_photo(qtbot, window)
    apply_and_wait(qtbot, window, "make it winter")
    dialogs.answers = [QMessageBox.StandardButton.Cancel]
    window.open_path(SHARED / "images" / "photos" / "coffee.png")
    assert window.document.name == "chelsea.png"
    assert window.tasks.pending == 0
