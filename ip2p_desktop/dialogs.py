"""Small dialogs: errors, unsaved-work prompt, keyboard shortcuts, about, session recovery.

Message boxes go through QMessageBox's static functions on purpose: they are the single point
tests patch so nothing blocks in an offscreen run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from . import APP_NAME, __version__

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """Tell the user what went wrong in one sentence; the app carries on."""
    QMessageBox.critical(parent, title, message)


def show_warning(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.warning(parent, title, message)


def ask_save_changes(parent: QWidget | None, what: str) -> str:
    """Save / Discard / Cancel for unsaved results. Returns SAVE, DISCARD or CANCEL."""
    answer = QMessageBox.question(
        parent,
        "Unsaved edits",
        f"{what} has edits that are not saved in a project.\n\nSave them before closing?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )
    if answer == QMessageBox.StandardButton.Save:
        return SAVE
    if answer == QMessageBox.StandardButton.Discard:
        return DISCARD
    return CANCEL


def ask_yes_no(parent: QWidget | None, title: str, text: str, default_yes: bool = True) -> bool:
    default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
    answer = QMessageBox.question(
        parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, default
    )
    return answer == QMessageBox.StandardButton.Yes


def shortcut_text(action: QAction) -> str:
    keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
    return "  or  ".join(keys)


class ShortcutsDialog(QDialog):
    """Lists every shortcut, read from the window's actions so the list is never out of date."""

    def __init__(self, sections: Sequence[tuple[str, Sequence[QAction | tuple[str, str]]]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 620)
        layout = QVBoxLayout(self)
        self.table = QTreeWidget()
        self.table.setColumnCount(2)
        self.table.setHeaderLabels(["Action", "Keys"])
        self.table.setRootIsDecorated(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(False)
        for title, entries in sections:
            head = QTreeWidgetItem([title, ""])
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFirstColumnSpanned(True)
            self.table.addTopLevelItem(head)
            for entry in entries:
                if isinstance(entry, QAction):
                    name, keys = entry.text().replace("&", "").rstrip(".…"), shortcut_text(entry)
                else:
                    name, keys = entry
                if keys:
                    self.table.addTopLevelItem(QTreeWidgetItem([f"    {name}", keys]))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        return [
            (self.table.topLevelItem(i).text(0).strip(), self.table.topLevelItem(i).text(1))
            for i in range(self.table.topLevelItemCount())
        ]


def _package_version(name: str) -> str:
    """The installed version from package metadata: no need to import (and load) the package."""
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_text(engine_info: Any = None) -> str:
    """Versions and device, without importing torch unless the model already did."""
    lines = [
        f"<b>{APP_NAME}</b> {__version__}",
        "Edit photos by describing the change. InstructPix2Pix runs on this computer; "
        "nothing is uploaded.",
        "",
        f"torch {_package_version('torch')} · diffusers {_package_version('diffusers')} · "
        f"transformers {_package_version('transformers')}",
        f"Qt {qVersion()} · PySide6 {pyside_version} · Python {sys.version.split()[0]}",
    ]
    if engine_info is not None:
        lines.append(
            f"Device: {engine_info.device.upper()} ({engine_info.device_name}), {engine_info.dtype} · "
            f"model {engine_info.model_id}"
        )
    elif "torch" in sys.modules:
        torch = sys.modules["torch"]
        cuda = torch.cuda.is_available()
        lines.append(f"Device: {'CUDA (' + torch.cuda.get_device_name(0) + ')' if cuda else 'CPU'} — model not loaded yet")
    else:
        lines.append("Device: chosen when the model loads (CUDA, Apple MPS or CPU)")
    return "<br>".join(lines)


class AboutDialog(QDialog):
    def __init__(self, engine_info: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        layout = QVBoxLayout(self)
        self.label = QLabel(about_text(engine_info))
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setMinimumWidth(440)
        layout.addWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class RecoveryDialog(QDialog):
    """Offers sessions left behind by a crash: restore one, discard them, or decide later."""

    RESTORE, DISCARD, LATER = 1, 2, 0

    def __init__(self, sessions: Sequence[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore unsaved work?")
        self.resize(560, 340)
        self.choice = self.LATER
        self._sessions = list(sessions)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "IP2P Desktop closed unexpectedly last time. These edit sessions were saved "
            "automatically and can be restored:"
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for info in self._sessions:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.last_modified)) if info.last_modified else "?"
            name = info.source_name or "untitled photo"
            edits = f"{info.n_edits} edit{'s' if info.n_edits != 1 else ''}"
            saved = "" if info.unsaved_changes else " · all saved in " + str(info.project_path.name if info.project_path else "")
            item = QListWidgetItem(f"{name} — {edits}, last change {when}{saved}")
            item.setToolTip(str(info.folder))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self._finish(self.RESTORE))
        layout.addWidget(self.list)
        buttons = QHBoxLayout()
        discard = QPushButton("Discard all")
        discard.setToolTip("Delete these autosaved sessions")
        later = QPushButton("Decide later")
        restore = QPushButton("Restore selected")
        restore.setObjectName("primary")
        restore.setDefault(True)
        discard.clicked.connect(lambda: self._finish(self.DISCARD))
        later.clicked.connect(lambda: self._finish(self.LATER))
        restore.clicked.connect(lambda: self._finish(self.RESTORE))
        buttons.addWidget(discard)
        buttons.addStretch(1)
        buttons.addWidget(later)
        buttons.addWidget(restore)
        layout.addLayout(buttons)

    def selected(self) -> Any:
        row = self.list.currentRow()
        return self._sessions[row] if 0 <= row < len(self._sessions) else None

    def _finish(self, choice: int) -> None:
        self.choice = choice
        self.accept()
