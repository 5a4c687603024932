"""The main window: canvas in the middle, history on the left, the edit panel on the right.

The window wires widgets to three helpers and holds no heavy logic itself:

* ``EditController`` (edit_controller.py) runs edits on the engine worker thread, one at a time;
* ``BackgroundTasks`` (background.py) decodes, encodes and writes files off the UI thread;
* ``Document`` (document.py) is the photo being edited: an EditSession plus what it came with.

Nothing here imports torch, diffusers or transformers.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QToolButton,
    QWidget,
)

from ip2p_core import DEFAULT_MODEL_ID
from ip2p_core.errors import InvalidParameterError
from ip2p_core.params import EditParams, random_seed

from . import APP_NAME
from .background import BackgroundTasks
from .canvas import ImageCanvas
from .canvas_view import ImagePyramid
from .controls import ControlsPanel, format_duration
from .dialogs import (
    CANCEL,
    SAVE,
    AboutDialog,
    RecoveryDialog,
    ShortcutsDialog,
    ask_save_changes,
    ask_yes_no,
    show_error,
    show_warning,
)
from .document import (
    EXPORT_SUFFIXES,
    Document,
    Opened,
    describe_load_error,
    export_image,
    is_project_path,
    load_state_images,
    open_image_bytes,
    open_image_file,
    open_pil_image,
    open_project_file,
    recover_session,
    save_project,
)
from .edit_controller import EditController
from .first_frame import after_first_paint
from .history_panel import HistoryPanel, chain_text
from .jobs import EditJob, EditOutcome, ProgressUpdate
from .settings import AppSettings
from .worker import EngineLoader

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff *.avif *.tga *.ppm *.pgm)"
PROJECT_FILTER = "IP2P projects (*.ip2p)"
_IMAGE_CACHE_SIZE = 6
_PRELOAD_DELAY_MS = 50
_EMPTY_CANVAS_HINT = "Open a photo (Ctrl+O), drop one here, or paste one (Ctrl+V)"
_PASTE_MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")


def human_bytes(count: int | None) -> str:
    if not count:
        return "–"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}" if unit in ("GB", "TB") else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


class _BeforeKeyFilter(QObject):
    """Lets ``\\`` reach the hold-to-compare handler from widgets that would otherwise swallow it
    (the history tree uses printable keys for type-ahead search).

    Installed on those few widgets only: an application-wide Python event filter would run Python
    for every Qt event and make the UI thread queue for the GIL behind the engine worker.
    """

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        key_event: QKeyEvent = event  # type: ignore[assignment]
        if key_event.key() != Qt.Key.Key_Backslash:
            return False
        if not key_event.isAutoRepeat():
            self._window.flash_before(kind == QEvent.Type.KeyPress)
        return True


class MainWindow(QMainWindow):
    # Emitted when asynchronous work lands; tests and the self-test wait on these.
    documentChanged = Signal()
    historyChanged = Signal()
    displayChanged = Signal(str)  # node id now on the canvas
    exported = Signal(str)
    projectSaved = Signal(str)
    ioFailed = Signal(str)

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        model_source: str | None = None,
        sessions_root: Path | None = None,
        engine_loader: EngineLoader | None = None,
        first_run_checks: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.sessions_root = sessions_root
        self._first_run_checks = first_run_checks
        self._doc: Document | None = None
        # Recently shown states, ready for the canvas (ImagePyramid; .image is the QImage).
        self._images: OrderedDict[str, ImagePyramid] = OrderedDict()
        self._display_request = 0
        self._retired: list[Document] = []
        self._imported_chain: list[EditParams] = []
        self._busy_io = 0
        self._closing = False
        self._closed = False

        self.setWindowTitle(APP_NAME)  # the icon is the application's (app.py sets it once)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowNestedDocks)

        self.tasks = BackgroundTasks(self)
        self.controller = EditController(self._prepare_job, loader=engine_loader, parent=self)

        self.canvas = ImageCanvas()
        self.canvas.setAcceptDrops(False)  # drops are handled by the window
        self.setCentralWidget(self.canvas)

        self.controls = ControlsPanel()
        self.controls.set_params(self.settings.last_params(), random=self.settings.random_seed)
        self.controls.set_recent_instructions(self.settings.recent_instructions())
        self.edit_dock = self._dock("Edit", self.controls, Qt.DockWidgetArea.RightDockWidgetArea, "editDock")

        self.history = HistoryPanel()
        self.history_dock = self._dock("History", self.history, Qt.DockWidgetArea.LeftDockWidgetArea, "historyDock")

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        # Holding "\\" flashes the before image: key events the focused widget does not use
        # (canvas, buttons) reach keyPressEvent below; text boxes keep it, since it is typing.
        self._before_filter = _BeforeKeyFilter(self)
        self.history.tree.installEventFilter(self._before_filter)

        self.resize(1440, 900)
        self.resizeDocks([self.history_dock, self.edit_dock], [310, 370], Qt.Orientation.Horizontal)
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.set_view_mode(self.settings.view_mode)
        self.compare_original_action.setChecked(self.settings.compare_original)

        source = model_source if model_source is not None else self.settings.model_source
        # Loaded in the background once the window is on screen (see showEvent), never before.
        self.controller.set_model_source(source)
        self._preload_pending = bool(source)
        self._update_model_labels()
        self._refresh_all()

    # ================================================================== construction
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot: Any = None, shortcuts: Any = (), tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcuts, (str, QKeySequence, QKeySequence.StandardKey)):
            shortcuts = [shortcuts]
        keys: list[QKeySequence] = []
        for item in shortcuts:
            if isinstance(item, QKeySequence.StandardKey):
                keys.extend(QKeySequence.keyBindings(item))
            else:
                keys.append(QKeySequence(item))
        if keys:
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when menus are hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open Photo…", self.open_dialog, "Ctrl+O", "Open a photo to edit")
        self.paste_action = a("&Paste Photo", self.paste_from_clipboard, ["Ctrl+V", "Shift+Ins"],
                              "Open the image on the clipboard (when the instruction box is not focused)")
        self.open_project_action = a("Open &Project…", self.open_project_dialog, "Ctrl+Shift+O", "Open a saved .ip2p project")
        self.save_project_action = a("&Save Project", self.save_project_action_triggered, "Ctrl+S",
                                     "Save the photo with its whole edit history")
        self.save_project_as_action = a("Save Project &As…", self.save_project_as, "Ctrl+Shift+S")
        self.export_action = a("&Export Result…", self.export_dialog, "Ctrl+E",
                               "Save the image shown as PNG, JPEG or WebP with its edit settings")
        self.copy_result_action = a("&Copy Result", self.copy_result, "Ctrl+Shift+C", "Copy the image shown to the clipboard")
        self.quit_action = a("&Quit", self.close, "Ctrl+Q")

        self.apply_action = a("&Apply Instruction", self.apply_instruction, ["Ctrl+Return", "Ctrl+Enter"],
                              "Apply the instruction to the photo shown (queues it when an edit is running)")
        self.cancel_action = a("&Cancel Edit", self.cancel_edit, "Esc", "Stop the running edit; history stays unchanged")
        self.undo_action = a("&Undo", self.undo, "Ctrl+Z", "Show the previous state")
        self.redo_action = a("&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Show the next state again")
        self.rerun_action = a("Re-run with &New Seed", self.rerun_current, "Ctrl+R",
                              "Run the shown state's instruction again from the same starting point, with another seed")
        self.copy_chain_action = a("Copy Chain &Settings", self.copy_current_chain, "Ctrl+Alt+C",
                                   "Copy the instructions and settings that lead to the shown state")
        self.reuse_action = a("&Use Settings of Shown State", self.reuse_current_settings, "Ctrl+Shift+U",
                              "Put the shown state's instruction and settings into the edit panel")
        self.apply_imported_action = a("Apply &Imported Chain", self.apply_imported_chain, "Ctrl+Shift+R",
                                       "Run the instructions that came with an opened image on the photo shown")
        self.new_seed_action = a("New Random Seed", self.controls.randomize_seed, "Ctrl+D")
        self.reset_params_action = a("Reset Parameters", self.controls.reset_to_defaults, "Ctrl+Shift+D")
        self.focus_instruction_action = a("Type Instruction", self.focus_instruction, "Ctrl+L")
        self.delete_branch_action = a("Delete Shown Branch…", self.delete_current_branch, "Ctrl+Shift+Del")

        self.mode_group = QActionGroup(self)
        self.single_action = a("&Single View", lambda: self.set_view_mode("single"), "Ctrl+Alt+1", checkable=True)
        self.split_action = a("S&plit Before/After", lambda: self.set_view_mode("split"), "Ctrl+Alt+2", checkable=True)
        self.side_action = a("Side &by Side", lambda: self.set_view_mode("side_by_side"), "Ctrl+Alt+3", checkable=True)
        for action in (self.single_action, self.split_action, self.side_action):
            self.mode_group.addAction(action)
        self.compare_original_action = a("Compare with &Original Photo", None, "Ctrl+Alt+O",
                                         "Before = the original photo instead of the state the edit started from",
                                         checkable=True)
        self.compare_original_action.toggled.connect(self._on_compare_original_toggled)
        self.zoom_in_action = a("Zoom &In", self.canvas.zoom_in, ["Ctrl+=", "Ctrl++"])
        self.zoom_out_action = a("Zoom &Out", self.canvas.zoom_out, "Ctrl+-")
        self.fit_action = a("&Fit to Window", self.canvas.fit_to_window, "Ctrl+0")
        self.actual_size_action = a("&Actual Size (100 %)", self.canvas.actual_size, "Ctrl+1")

        self.choose_model_action = a("&Choose Model…", self.choose_model, "Ctrl+M")
        self.load_model_action = a("&Load Model Now", self.load_model_now, "Ctrl+Shift+M")
        self.shortcuts_action = a("&Keyboard Shortcuts", self.show_shortcuts, ["F1", "Ctrl+/"])
        self.log_folder_action = a("Open &Log Folder", self.open_log_folder)
        self.about_action = a("&About IP2P Desktop", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.paste_action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_project_action)
        file_menu.addAction(self.save_project_action)
        file_menu.addAction(self.save_project_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.copy_result_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._rebuild_recent_menu()

        edit_menu = bar.addMenu("&Edit")
        for action in (self.apply_action, self.cancel_action, None, self.undo_action, self.redo_action, None,
                       self.rerun_action, self.reuse_action, self.copy_chain_action, self.apply_imported_action,
                       self.delete_branch_action, None, self.focus_instruction_action, self.new_seed_action,
                       self.reset_params_action):
            edit_menu.addSeparator() if action is None else edit_menu.addAction(action)

        view_menu = bar.addMenu("&View")
        for action in (self.single_action, self.split_action, self.side_action, None, self.compare_original_action,
                       None, self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action, None):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        view_menu.addAction(self.history_dock.toggleViewAction())
        view_menu.addAction(self.edit_dock.toggleViewAction())

        model_menu = bar.addMenu("&Model")
        model_menu.addAction(self.choose_model_action)
        model_menu.addAction(self.load_model_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.log_folder_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(16, 16))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action, label in ((self.open_action, "Open"), (self.save_project_action, "Save"), (self.export_action, "Export")):
            button = self._toolbar_button(action, label)
            bar.addWidget(button)
        bar.addSeparator()
        bar.addWidget(self._toolbar_button(self.undo_action, "Undo"))
        bar.addWidget(self._toolbar_button(self.redo_action, "Redo"))
        bar.addSeparator()
        bar.addWidget(self._toolbar_button(self.zoom_out_action, "−"))
        self.zoom_label = QLabel("–")
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar.addWidget(self.zoom_label)
        bar.addWidget(self._toolbar_button(self.zoom_in_action, "+"))
        bar.addWidget(self._toolbar_button(self.fit_action, "Fit"))
        bar.addWidget(self._toolbar_button(self.actual_size_action, "100%"))
        bar.addSeparator()
        for action, label in ((self.single_action, "Single"), (self.split_action, "Split"), (self.side_action, "Side by side")):
            bar.addWidget(self._toolbar_button(action, label))
        bar.addSeparator()
        bar.addWidget(QLabel(" Before: "))
        self.compare_combo = QComboBox()
        self.compare_combo.addItem("Previous state")
        self.compare_combo.addItem("Original photo")
        self.compare_combo.setToolTip("What “before” shows in split, side-by-side and hold-to-compare")
        self.compare_combo.currentIndexChanged.connect(lambda i: self.compare_original_action.setChecked(i == 1))
        bar.addWidget(self.compare_combo)
        self.hold_button = QToolButton()
        self.hold_button.setText("Hold to compare")
        self.hold_button.setToolTip("Press and hold (or hold the \\ key) to see the before image")
        self.hold_button.pressed.connect(lambda: self.flash_before(True))
        self.hold_button.released.connect(lambda: self.flash_before(False))
        bar.addWidget(self.hold_button)

    def _toolbar_button(self, action: QAction, label: str) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setText(label)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        tip = action.toolTip() or action.text().replace("&", "")
        button.setToolTip(f"{tip} ({keys})" if keys else tip)
        # setDefaultAction copies the action's text on every change; keep the short label.
        action.changed.connect(lambda b=button, t=label: b.setText(t))
        return button

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setSizeGripEnabled(False)
        self.message_label = QLabel("")
        status.addWidget(self.message_label, 1)
        self.model_label = QLabel("")
        self.device_label = QLabel("")
        self.memory_label = QLabel("")
        for label in (self.model_label, self.device_label, self.memory_label):
            status.addPermanentWidget(label)

    def _connect(self) -> None:
        c = self.controller
        c.modelLoading.connect(self._on_model_loading)
        c.modelProgress.connect(self._on_model_progress)
        c.modelReady.connect(self._on_model_ready)
        c.modelFailed.connect(self._on_model_failed)
        c.modelUnloaded.connect(self._on_model_unloaded)
        c.memoryUsage.connect(self._on_memory)
        c.queueChanged.connect(self._on_queue_changed)
        c.busyChanged.connect(self._on_busy_changed)
        c.jobStarted.connect(self._on_job_started)
        c.jobProgress.connect(self._on_job_progress)
        c.jobFinished.connect(self._on_job_finished)
        c.jobFailed.connect(self._on_job_failed)
        c.jobCancelled.connect(self._on_job_cancelled)

        self.controls.applyRequested.connect(self.apply_instruction)
        self.controls.cancelRequested.connect(self.cancel_edit)
        self.controls.removeQueuedRequested.connect(self.controller.remove_queued)

        self.history.nodeActivated.connect(self.show_node)
        self.history.rerunRequested.connect(self.rerun)
        self.history.reuseSettingsRequested.connect(self.reuse_settings)
        self.history.copyChainRequested.connect(self.copy_chain)
        self.history.deleteBranchRequested.connect(self.delete_branch)

        self.canvas.zoomChanged.connect(self._on_zoom_changed)

    # ================================================================== start-up
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._preload_pending:
            self._preload_pending = False
            # The worker starts importing torch a little after the first frame is on screen.
            after_first_paint(self, lambda: QTimer.singleShot(_PRELOAD_DELAY_MS, self, self._preload_model))

    @Slot()
    def _preload_model(self) -> None:
        if not self._closing and self.controller.model_source and self.controller.model_info is None:
            self.controller.set_model_source(self.controller.model_source, load_now=True)

    def start(self) -> None:
        """Once the window's first frame is on screen: offer recovery, then make sure a model is set up."""
        if not self._first_run_checks:
            return
        # Not queued straight away: a queued call runs before the first paint and would delay it.
        after_first_paint(self, self._first_run)

    @Slot()
    def _first_run(self) -> None:
        root = self.sessions_root

        def scan() -> list[Any]:
            # Reads every session folder and imports ip2p_core.session: a pool thread's job.
            from ip2p_core.session import list_recoverable_sessions

            return list_recoverable_sessions(root)

        def scanned(found: list[Any]) -> None:
            self._offer_recovery(found)
            # After the recovery answer, so the model screen never opens on top of that dialog.
            if not self._closing and not self.controller.model_source:
                self.tasks.run(_default_model_if_cached, done=self._on_default_model_checked)

        def scan_failed(exc: BaseException) -> None:
            # Recovery is a courtesy; never block start-up on it.
            log.error("Listing recoverable sessions failed", exc_info=exc)
            scanned([])

        self.tasks.run(scan, done=scanned, failed=scan_failed)

    def _on_default_model_checked(self, folder: Any) -> None:
        if self._closing or self.controller.model_source:
            return
        if folder:
            self.settings.model_source = DEFAULT_MODEL_ID
            self.controller.set_model_source(DEFAULT_MODEL_ID, load_now=True)
            self._update_model_labels()
        else:
            self.choose_model()

    def _offer_recovery(self, found: list[Any]) -> None:
        """Ask what to do with sessions a crash left behind (``found``: RecoverableSession list)."""
        if not found or self._closing:
            return
        dialog = RecoveryDialog(found, self)
        dialog.exec()
        if dialog.choice == RecoveryDialog.RESTORE and dialog.selected() is not None:
            self.recover(dialog.selected().folder)
        elif dialog.choice == RecoveryDialog.DISCARD:
            from ip2p_core.session import discard_session

            for info in found:
                try:
                    discard_session(info.folder)
                except Exception as exc:  # noqa: BLE001
                    show_warning(self, "Could not discard", describe_load_error(exc, str(info.folder)))

    # ================================================================== opening
    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open Photo", self.settings.last_folder, f"{IMAGE_FILTER};;{PROJECT_FILTER};;All files (*)"
        )
        if path:
            self.open_path(path)

    @Slot()
    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Project", self.settings.last_folder, PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a photo or an ``.ip2p`` project (in the background); errors go to a dialog."""
        path = Path(path)
        if not self._may_replace_document():
            return
        self.settings.last_folder = str(path.parent)
        if is_project_path(path):
            self._run_open(open_project_file, path, self.sessions_root, what=path.name, recent=str(path))
        else:
            self._run_open(open_image_file, path, self.sessions_root, what=path.name, recent=str(path))

    def recover(self, folder: str | Path) -> None:
        self._run_open(recover_session, folder, what="the recovered session")

    def open_image_data(self, data: bytes, name: str) -> None:
        if self._may_replace_document():
            self._run_open(open_image_bytes, data, name, self.sessions_root, what=name)

    def _run_open(self, fn: Any, *args: Any, what: str, recent: str | None = None) -> None:
        self._begin_io(f"Opening {what}…")

        def done(opened: Opened) -> None:
            self._end_io()
            if self._closing:
                opened.document.session.close()
                return
            if recent:
                self.settings.add_recent_file(recent)
                self._rebuild_recent_menu()
            self._install_document(opened)

        def failed(exc: BaseException) -> None:
            self._end_io()
            log.info("Opening %s failed: %r", what, exc)
            message = describe_load_error(exc, what)
            self.ioFailed.emit(message)
            self._set_message(message)
            show_error(self, "Cannot open", message)

        self.tasks.run(fn, *args, done=done, failed=failed)

    @Slot()
    def paste_from_clipboard(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        if mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    self.open_path(url.toLocalFile())
                    return
        for kind in _PASTE_MIME_TYPES:
            if mime.hasFormat(kind):
                data = bytes(mime.data(kind).data())
                if data:
                    self.open_image_data(data, "pasted image")
                    return
        if mime.hasImage():
            image = QGuiApplication.clipboard().image()
            if not image.isNull():
                from .qimage_convert import qimage_to_pil

                if self._may_replace_document():
                    self._run_open(open_pil_image, qimage_to_pil(image), "pasted image", self.sessions_root,
                                   what="the pasted image")
                return
        self._set_message("The clipboard holds no image to paste.")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())) or mime.hasImage() or any(
            mime.hasFormat(k) for k in _PASTE_MIME_TYPES
        ):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile():
                event.acceptProposedAction()
                self.open_path(url.toLocalFile())
                return
        for kind in _PASTE_MIME_TYPES:
            if mime.hasFormat(kind):
                event.acceptProposedAction()
                self.open_image_data(bytes(mime.data(kind).data()), "dropped image")
                return
        event.ignore()

    def _may_replace_document(self) -> bool:
        """Ask before the current photo's unsaved edits are closed; stop edits that belong to it."""
        doc = self._doc
        if doc is None:
            return True
        if doc.has_unsaved_edits:
            answer = ask_save_changes(self, doc.name)
            if answer == CANCEL:
                return False
            if answer == SAVE and not self._save_project_blocking(doc):
                return False
        return True

    def _install_document(self, opened: Opened) -> None:
        old = self._doc
        if old is not None:
            self._retire(old)
        doc = opened.document
        self._doc = doc
        self._images.clear()
        self._imported_chain = []
        root = doc.session.root_id
        cursor = doc.session.cursor
        self._images[cursor] = opened.display
        self.history.set_session(doc.session)
        self.canvas.set_preview(None)
        self.canvas.set_after(opened.display)
        self.canvas.set_before(None)
        self.canvas.fit_to_window()
        self._show_state(cursor)
        saved_view = getattr(doc.session, "view", None)
        if saved_view:
            if saved_view.get("mode") in ("single", "split", "side_by_side"):
                self.set_view_mode(saved_view["mode"])
            self.canvas.restore_view_state(saved_view)
        if doc.warnings:
            show_warning(self, "Opened with problems", "\n".join(doc.warnings))
        self._set_message(f"Opened {doc.name} ({opened.display.image.width()} × {opened.display.image.height()})")
        self._refresh_all()
        self.documentChanged.emit()
        if doc.prior is not None and getattr(doc.prior, "chain", None) and cursor == root:
            self._offer_chain_reuse(doc)

    def _offer_chain_reuse(self, doc: Document) -> None:
        chain = [step.to_params() for step in doc.prior.chain]
        listing = "\n".join(f"  {i}. {p.instruction}" for i, p in list(enumerate(chain, start=1))[:8])
        more = f"\n  … and {len(chain) - 8} more" if len(chain) > 8 else ""
        if ask_yes_no(
            self,
            "Reuse these settings?",
            f"{doc.name} was made with {len(chain)} instruction{'s' if len(chain) != 1 else ''}:\n{listing}{more}\n\n"
            "Load its instruction and settings into the edit panel? "
            "(Edit → Apply Imported Chain runs the whole chain on a photo.)",
        ):
            self._imported_chain = chain
            self.controls.set_params(chain[-1], random=False, instruction=True)
            self._set_message(f"Loaded the settings of {doc.name}; Ctrl+Enter applies them.")
        self._refresh_actions()

    def _retire(self, doc: Document) -> None:
        """Close a document that is being replaced, once no edit uses its session any more."""
        self.controller.clear_queue()
        current = self.controller.current_job
        if current is not None and current.session is doc.session:
            current.cancel.cancel()
            self._retired.append(doc)
            return
        self._close_document(doc)

    def _close_document(self, doc: Document) -> None:
        try:
            doc.session.close()
        except Exception:  # noqa: BLE001 - closing must not stop opening the next photo
            log.exception("Closing the session failed")

    # ================================================================== editing
    @Slot()
    def apply_instruction(self) -> None:
        if self._doc is None:
            self._set_message("Open a photo first (Ctrl+O), drop one on the window or paste one (Ctrl+V).")
            return
        params = self.controls.params()
        try:
            params.validate()
        except InvalidParameterError as exc:
            show_error(self, "Check the settings", str(exc))
            self.controls.instruction.setFocus()
            return
        if not self._ensure_model():
            return
        self._submit(EditJob(params=params))
        self.settings.add_recent_instruction(params.instruction)
        self.controls.set_recent_instructions(self.settings.recent_instructions())
        self.settings.set_last_params(params)
        self.settings.random_seed = self.controls.seed_random.isChecked()

    def _submit(self, job: EditJob) -> None:
        self.controller.submit(job)
        self._refresh_actions()

    def _ensure_model(self) -> bool:
        if self.controller.model_source:
            return True
        self.choose_model()
        return bool(self.controller.model_source)

    @Slot()
    def cancel_edit(self) -> None:
        if self.controller.cancel_current():
            self.controls.show_busy("Cancelling…")
            self._set_message("Cancelling…")

    @Slot()
    def rerun_current(self) -> None:
        if self._doc is not None:
            self.rerun(self._doc.session.cursor)

    @Slot(str)
    def rerun(self, node_id: str) -> None:
        """Same instruction and settings from the same starting state, with a new seed."""
        if self._doc is None:
            return
        node = self._doc.session.node(node_id)
        if node.params is None:
            self._set_message("The original photo has no instruction to re-run; pick an edit in the history.")
            return
        if not self._ensure_model():
            return
        params = node.params.replace(seed=random_seed())
        self._submit(EditJob(params=params, parent_id=node.parent_id, kind="rerun"))

    @Slot()
    def apply_imported_chain(self) -> None:
        if self._doc is None or not self._imported_chain or not self._ensure_model():
            return
        for params in self._imported_chain:
            self._submit(EditJob(params=params))

    def _prepare_job(self, job: EditJob) -> str | None:
        doc = self._doc
        if doc is None:
            return "There is no photo to edit; open one first."
        if job.session is not None and job.session is not doc.session:
            return "The photo changed before this instruction could run; apply it again."
        job.session = doc.session
        if job.parent_id is None:
            job.parent_id = doc.session.cursor
        try:
            doc.session.node(job.parent_id)
        except KeyError:
            return "The state this instruction was meant for has been deleted; apply it again."
        return None

    @Slot(object)
    def _on_job_started(self, job: EditJob) -> None:
        self.controls.set_running(True)
        if self.controller.model_info is None:
            self.controls.show_busy("Loading the model…", "The first edit loads the model; later edits start at once.")
        else:
            self.controls.show_busy("Starting…", job.label)
        self.canvas.set_overlay_text(f"Editing: {job.label}")
        self._set_message(f"Editing: {job.label}")
        self._refresh_actions()

    @Slot(object, object)
    def _on_job_progress(self, job: EditJob, update: ProgressUpdate) -> None:
        self.controls.show_step(update.step, update.total, update.elapsed_s, update.eta_s, job.label)
        if update.preview is not None:
            self.canvas.set_preview(update.preview)
        self.canvas.set_overlay_text(f"Editing: {job.label} — step {update.step} of {update.total}")

    @Slot(object, object)
    def _on_job_finished(self, job: EditJob, outcome: EditOutcome) -> None:
        self.canvas.set_preview(None)
        self.canvas.set_overlay_text("")
        doc = self._doc
        if doc is None or job.session is not doc.session:
            self._after_retired_job(job)
            return
        node = outcome.node
        self._cache_image(node.id, outcome.display)
        self.history.refresh()
        self._show_state(node.id)
        seed = outcome.result.params.seed
        if seed is not None:
            self.controls.show_used_seed(int(seed))
        total = (outcome.result.timings or {}).get("total")
        took = f" in {format_duration(total)}" if total else ""
        self.controls.show_idle("Done", f"{job.label}{took} · seed {seed}")
        self._set_message(f"Applied “{job.label}”{took} (seed {seed}).")
        self._refresh_all()
        self.historyChanged.emit()

    @Slot(object, str)
    def _on_job_failed(self, job: EditJob, message: str) -> None:
        self.canvas.set_preview(None)
        self.canvas.set_overlay_text("")
        if self._after_retired_job(job) or self._closing:
            return
        dropped = len(self.controller.queued_jobs())
        self.controller.clear_queue()
        self.controls.show_idle("Failed", message)
        self._set_message(message)
        if dropped:
            message += f"\n\n{dropped} queued instruction{'s were' if dropped != 1 else ' was'} not run."
        show_error(self, "The edit failed", message)
        self._refresh_all()

    @Slot(object)
    def _on_job_cancelled(self, job: EditJob) -> None:
        self.canvas.set_preview(None)
        self.canvas.set_overlay_text("")
        if self._after_retired_job(job) or self._closing:
            return
        self.controls.show_idle("Cancelled", "The history is unchanged.")
        self._set_message(f"Cancelled “{job.label}”; the history is unchanged.")
        self._refresh_all()

    def _after_retired_job(self, job: EditJob) -> bool:
        """Close sessions that were replaced while this job ran. True if the job was theirs."""
        theirs = False
        for doc in list(self._retired):
            if job.session is doc.session:
                theirs = True
            if self.controller.current_job is None or self.controller.current_job.session is not doc.session:
                self._retired.remove(doc)
                self._close_document(doc)
        return theirs

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self.controls.set_running(busy)
        self._refresh_actions()

    @Slot()
    def _on_queue_changed(self) -> None:
        self.controls.set_queue(self.controller.queued_jobs())

    # ================================================================== history navigation
    @Slot()
    def undo(self) -> None:
        if self._doc is not None and self._doc.session.undo() is not None:
            self._show_state(self._doc.session.cursor)
            self._refresh_all()

    @Slot()
    def redo(self) -> None:
        if self._doc is not None and self._doc.session.redo() is not None:
            self._show_state(self._doc.session.cursor)
            self._refresh_all()

    @Slot(str)
    def show_node(self, node_id: str) -> None:
        if self._doc is None:
            return
        if node_id != self._doc.session.cursor:
            self._doc.session.move_to(node_id)
        self._show_state(node_id)
        self._refresh_all()

    @Slot(str)
    def delete_branch(self, node_id: str) -> None:
        doc = self._doc
        if doc is None:
            return
        node = doc.session.node(node_id)
        if node.params is None:
            return
        doomed = _descendant_ids(doc.session, node_id)
        if not ask_yes_no(
            self, "Delete branch?",
            f"Delete “{node.params.instruction}” and the {len(doomed) - 1} state(s) made from it? This cannot be undone.",
            default_yes=False,
        ):
            return
        current = self.controller.current_job
        if current is not None and current.session is doc.session and current.parent_id in doomed:
            show_error(self, "Cannot delete now", "An edit is running on this branch; cancel it first (Esc).")
            return
        try:
            doc.session.delete_branch(node_id)
        except Exception as exc:  # noqa: BLE001
            show_error(self, "Cannot delete", describe_load_error(exc, "the branch"))
            return
        for gone in [k for k in self._images if k not in {n.id for n in doc.session.nodes()}]:
            self._images.pop(gone, None)
        self.history.refresh()
        self._show_state(doc.session.cursor)
        self._refresh_all()
        self.historyChanged.emit()

    @Slot()
    def delete_current_branch(self) -> None:
        if self._doc is not None:
            self.delete_branch(self._doc.session.cursor)

    def _before_id(self, node_id: str) -> str:
        session = self._doc.session
        if self.compare_original_action.isChecked():
            return session.root_id
        node = session.node(node_id)
        return node.parent_id or node_id

    def _cache_image(self, node_id: str, image: ImagePyramid) -> None:
        self._images[node_id] = image
        self._images.move_to_end(node_id)
        while len(self._images) > _IMAGE_CACHE_SIZE:
            self._images.popitem(last=False)

    def _show_state(self, node_id: str) -> None:
        """Put ``node_id`` (after) and its comparison state (before) on the canvas.

        Images come from a small cache; missing ones are decoded on a background thread, and
        only the newest request is displayed when several overlap (fast undo/redo).
        """
        doc = self._doc
        if doc is None:
            return
        if self.history.item_for(node_id) is None:
            self.history.refresh()
        else:
            self.history.mark_current()
        before_id = self._before_id(node_id)
        after = self._images.get(node_id)
        before = after if before_id == node_id else self._images.get(before_id)
        self._display_request += 1
        request = self._display_request
        if after is not None and before is not None:
            self._display(node_id, after, before)
            return
        if after is not None:
            self.canvas.set_after(after)
        self._set_message("Loading…")
        load_before = before is None and before_id != node_id

        def done(loaded: tuple[str, ImagePyramid, str | None, ImagePyramid | None]) -> None:
            _, after_img, _, before_img = loaded
            self._cache_image(node_id, after_img)
            if load_before and before_img is not None:
                self._cache_image(before_id, before_img)
            shown_before = before_img if load_before else (before if before is not None else after_img)
            if request == self._display_request and self._doc is doc:
                self._display(node_id, after_img, shown_before)
                self._set_message("")

        def failed(exc: BaseException) -> None:
            if request == self._display_request:
                message = describe_load_error(exc, "this state")
                self._set_message(message)
                show_error(self, "Cannot show this state", message)

        self.tasks.run(load_state_images, doc.session, node_id, before_id if load_before else None,
                       done=done, failed=failed)

    def _display(self, node_id: str, after: ImagePyramid, before: ImagePyramid | None) -> None:
        self.canvas.set_after(after)
        self.canvas.set_before(before)
        self.displayChanged.emit(node_id)

    # ================================================================== view
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Backslash:
            if not event.isAutoRepeat():
                self.flash_before(True)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Backslash:
            if not event.isAutoRepeat():
                self.flash_before(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def set_view_mode(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        {"single": self.single_action, "split": self.split_action, "side_by_side": self.side_action}[mode].setChecked(True)
        self.settings.view_mode = mode

    def flash_before(self, on: bool) -> None:
        self.canvas.set_flash_before(on)

    @Slot(bool)
    def _on_compare_original_toggled(self, checked: bool) -> None:
        self.settings.compare_original = checked
        self.compare_combo.blockSignals(True)
        self.compare_combo.setCurrentIndex(1 if checked else 0)
        self.compare_combo.blockSignals(False)
        if self._doc is not None:
            self._show_state(self._doc.session.cursor)

    @Slot(float)
    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    @Slot()
    def focus_instruction(self) -> None:
        self.edit_dock.show()
        self.controls.instruction.setFocus()
        self.controls.instruction.selectAll()

    # ================================================================== saving and copying
    @Slot()
    def export_dialog(self) -> None:
        doc = self._doc
        if doc is None:
            return
        stem = Path(doc.name).stem or "photo"
        suffix = "-edited" if doc.session.cursor != doc.session.root_id else "-copy"
        folder = Path(self.settings.last_folder) if self.settings.last_folder else Path.home()
        suggestion = str(folder / f"{stem}{suffix}.png")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export Result", suggestion, "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;WebP image (*.webp)"
        )
        if not path:
            return
        if Path(path).suffix.lower() not in EXPORT_SUFFIXES:
            path += {"JPEG": ".jpg", "WebP": ".webp"}.get(chosen.split(" ")[0], ".png")
        self.export_result(path)

    def export_result(self, path: str | Path) -> None:
        doc = self._doc
        if doc is None:
            return
        self._begin_io(f"Saving {Path(path).name}…")
        node_id = doc.session.cursor

        def done(written: Path) -> None:
            self._end_io()
            self.settings.last_folder = str(Path(written).parent)
            self._set_message(f"Saved {written}")
            self.exported.emit(str(written))

        def failed(exc: BaseException) -> None:
            self._end_io()
            message = describe_load_error(exc, Path(path).name) if not isinstance(exc, OSError) else str(exc)
            self.ioFailed.emit(message)
            show_error(self, "Cannot save", message)

        self.tasks.run(export_image, doc, node_id, path, done=done, failed=failed)

    @Slot()
    def save_project_action_triggered(self) -> None:
        doc = self._doc
        if doc is None:
            return
        if doc.session.project_path is None:
            self.save_project_as()
        else:
            self.save_project_to(doc.session.project_path)

    @Slot()
    def save_project_as(self) -> None:
        path = self._ask_project_path()
        if path:
            self.save_project_to(path)

    def _ask_project_path(self) -> str:
        doc = self._doc
        if doc is None:
            return ""
        folder = Path(self.settings.last_folder) if self.settings.last_folder else Path.home()
        suggestion = str(doc.session.project_path or folder / f"{Path(doc.name).stem or 'photo'}.ip2p")
        path, _ = QFileDialog.getSaveFileName(self, "Save Project", suggestion, PROJECT_FILTER)
        return path

    def save_project_to(self, path: str | Path) -> None:
        doc = self._doc
        if doc is None:
            return
        self._begin_io(f"Saving project {Path(path).name}…")

        def done(written: Path) -> None:
            self._end_io()
            self.settings.add_recent_file(str(written))
            self._rebuild_recent_menu()
            self._set_message(f"Project saved: {written}")
            self._refresh_all()
            self.projectSaved.emit(str(written))

        def failed(exc: BaseException) -> None:
            self._end_io()
            message = describe_load_error(exc, Path(path).name)
            self.ioFailed.emit(message)
            show_error(self, "Cannot save the project", message)

        doc.session.set_view(self.canvas.view_state())
        self.tasks.run(save_project, doc, path, done=done, failed=failed)

    def _save_project_blocking(self, doc: Document) -> bool:
        """Save before closing or replacing the photo. False when the user backs out or it fails."""
        path = doc.session.project_path or self._ask_project_path()
        if not path:
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            doc.session.set_view(self.canvas.view_state())
            save_project(doc, path)
        except Exception as exc:  # noqa: BLE001
            QApplication.restoreOverrideCursor()
            show_error(self, "Cannot save the project", describe_load_error(exc, Path(path).name))
            return False
        QApplication.restoreOverrideCursor()
        return True

    @Slot()
    def copy_result(self) -> None:
        if self._doc is None:
            return
        shown = self._images.get(self._doc.session.cursor)
        if shown is None:
            self._set_message("The image is still loading; try again in a moment.")
            return
        QGuiApplication.clipboard().setImage(shown.image)
        self._set_message("Copied the image shown to the clipboard.")

    @Slot()
    def copy_current_chain(self) -> None:
        if self._doc is not None:
            self.copy_chain(self._doc.session.cursor)

    @Slot(str)
    def copy_chain(self, node_id: str) -> None:
        doc = self._doc
        if doc is None:
            return
        steps = doc.session.chain(node_id)
        text = chain_text(steps)
        if steps:
            text += "\n\n" + doc.provenance(node_id).to_json()
        QGuiApplication.clipboard().setText(text)
        self._set_message(f"Copied the settings of {len(steps)} edit{'s' if len(steps) != 1 else ''}.")

    @Slot()
    def reuse_current_settings(self) -> None:
        if self._doc is not None:
            self.reuse_settings(self._doc.session.cursor)

    @Slot(str)
    def reuse_settings(self, node_id: str) -> None:
        if self._doc is None:
            return
        node = self._doc.session.node(node_id)
        if node.params is not None:
            self.controls.set_params(node.params, random=False, instruction=True)
            self._set_message("Settings loaded into the edit panel.")

    # ================================================================== model
    @Slot()
    def choose_model(self) -> None:
        from .model_screen import ModelDialog

        dialog = ModelDialog(self.controller.model_source, parent=self)
        if dialog.exec() and dialog.chosen:
            self.settings.model_source = dialog.chosen
            self.controller.set_model_source(dialog.chosen, load_now=True)
        elif not self.controller.model_source:
            self._set_message("No model set up: you can open, compare and save photos; Model → Choose Model… to edit.")
        self._update_model_labels()

    @Slot()
    def load_model_now(self) -> None:
        if self._ensure_model():
            self.controller.set_model_source(self.controller.model_source, load_now=True)

    @Slot(str)
    def _on_model_loading(self, source: str) -> None:
        self.model_label.setText(f"Loading {_short_model_name(source)}…")
        if not self.controller.busy:
            self.controls.show_busy("Loading the model…")
        self._set_message(f"Loading the model {source}…")

    @Slot(str, float)
    def _on_model_progress(self, stage: str, fraction: float) -> None:
        if self.controller.busy or self.controller.model_loading:
            self.controls.show_fraction(f"Loading the model: {stage}", fraction)

    @Slot(object)
    def _on_model_ready(self, info: Any) -> None:
        self._update_model_labels()
        if not self.controller.busy:
            self.controls.show_idle("Ready", "Model loaded.")
        self._set_message("Model ready.")

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self._update_model_labels(failed=True)
        if not self.controller.busy:
            self.controls.show_idle("No model", message)
        self._set_message(message)

    @Slot(str)
    def _on_model_unloaded(self, why: str) -> None:
        # The edit's failure dialog has said what happened; the labels must not claim a model.
        self._update_model_labels()
        self.memory_label.setText("")  # the figures counted the engine that is gone
        self._set_message("The model is not loaded any more; it loads again with the next edit.")

    @Slot(object)
    def _on_memory(self, usage: dict) -> None:
        parts = [f"RAM {human_bytes(usage.get('ram_rss'))}"]
        if usage.get("vram_used") is not None:
            parts.append(f"VRAM {human_bytes(usage.get('vram_used'))}")
        self.memory_label.setText(" · ".join(parts))

    def _update_model_labels(self, failed: bool = False) -> None:
        info = self.controller.model_info
        source = self.controller.model_source
        if info is not None:
            self.model_label.setText(f"Model: {_short_model_name(info.model_id)}")
            self.model_label.setToolTip(f"{info.model_id}\nweights {str(info.weights_hash)[:10]}")
            self.device_label.setText(f"{info.device.upper()} · {info.dtype}")
            self.device_label.setToolTip(info.device_name)
        elif source:
            self.model_label.setText(f"Model: {_short_model_name(source)}" + (" (not loaded)" if failed else " (loads on first edit)" if not self.controller.model_loading else " (loading)"))
            self.model_label.setToolTip(source)
            self.device_label.setText("")
        else:
            self.model_label.setText("No model — Model → Choose Model…")
            self.device_label.setText("")

    # ================================================================== help
    @Slot()
    def show_shortcuts(self) -> None:
        self.shortcuts_dialog().exec()

    def shortcuts_dialog(self) -> ShortcutsDialog:
        sections = [
            ("Files", [self.open_action, self.paste_action, self.open_project_action, self.save_project_action,
                       self.save_project_as_action, self.export_action, self.copy_result_action, self.quit_action]),
            ("Editing", [self.apply_action, self.cancel_action, self.undo_action, self.redo_action, self.rerun_action,
                         self.reuse_action, self.copy_chain_action, self.apply_imported_action, self.delete_branch_action,
                         self.focus_instruction_action, self.new_seed_action, self.reset_params_action]),
            ("View", [self.single_action, self.split_action, self.side_action, self.compare_original_action,
                      ("Show before while held", "\\"), self.zoom_in_action, self.zoom_out_action,
                      ("Zoom at the pointer", "Mouse wheel"), ("Pan", "Drag, or Space + drag"),
                      self.fit_action, self.actual_size_action]),
            ("Model and help", [self.choose_model_action, self.load_model_action, self.shortcuts_action]),
        ]
        return ShortcutsDialog(sections, self)

    @Slot()
    def show_about(self) -> None:
        AboutDialog(self.controller.model_info, self).exec()

    @Slot()
    def open_log_folder(self) -> None:
        from .logging_setup import log_folder

        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # ================================================================== state display
    def _begin_io(self, text: str) -> None:
        self._busy_io += 1
        self._set_message(text)
        if not self.controller.busy:
            self.controls.show_busy(text)

    def _end_io(self) -> None:
        self._busy_io = max(0, self._busy_io - 1)
        if not self._busy_io and not self.controller.busy and not self.controller.model_loading:
            self.controls.show_idle("Idle" if self.controller.model_info is None else "Ready")

    def _set_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setToolTip(text)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    @Slot()
    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._rebuild_recent_menu()

    def _refresh_all(self) -> None:
        self._refresh_actions()
        self._refresh_title()
        if self._doc is None:
            self.canvas.set_overlay_text(_EMPTY_CANVAS_HINT)
        elif self.canvas.overlay_text() == _EMPTY_CANVAS_HINT:
            self.canvas.set_overlay_text("")  # a photo is open: the hint would sit on it as a banner

    def _refresh_title(self) -> None:
        doc = self._doc
        if doc is None:
            self.setWindowTitle(APP_NAME)
            return
        marker = "*" if doc.has_unsaved_edits else ""
        self.setWindowTitle(f"{doc.name}{marker} — {APP_NAME}")

    def _refresh_actions(self) -> None:
        doc = self._doc
        has_doc = doc is not None
        session = doc.session if doc is not None else None
        on_edit = bool(session is not None and session.node(session.cursor).params is not None)
        for action in (self.save_project_action, self.save_project_as_action, self.export_action,
                       self.copy_result_action, self.copy_chain_action):
            action.setEnabled(has_doc)
        self.undo_action.setEnabled(bool(session is not None and session.can_undo()))
        self.redo_action.setEnabled(bool(session is not None and session.can_redo()))
        self.rerun_action.setEnabled(on_edit)
        self.reuse_action.setEnabled(on_edit)
        self.delete_branch_action.setEnabled(on_edit)
        self.apply_imported_action.setEnabled(has_doc and bool(self._imported_chain))
        self.cancel_action.setEnabled(self.controller.busy)

    # ================================================================== closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self._closed:
            event.accept()
            return
        doc = self._doc
        if doc is not None and doc.has_unsaved_edits:
            answer = ask_save_changes(self, doc.name)
            if answer == CANCEL or (answer == SAVE and not self._save_project_blocking(doc)):
                event.ignore()
                return
        self._closing = True
        self._set_message("Closing…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.shutdown()
        finally:
            QApplication.restoreOverrideCursor()
        event.accept()

    def shutdown(self) -> None:
        """Stop the worker (cancelling a running edit), finish file tasks, close sessions."""
        if self._closed:
            return
        self._closing = True
        self.controller.shutdown()
        self.tasks.wait()
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.settings.set_last_params(self.controls.params())
        self.settings.random_seed = self.controls.seed_random.isChecked()
        self.settings.sync()
        for retired in self._retired:
            self._close_document(retired)
        self._retired.clear()
        if self._doc is not None:
            self._close_document(self._doc)
        self._closed = True

    # ================================================================== for tests and tools
    @property
    def document(self) -> Document | None:
        return self._doc


def _descendant_ids(session: Any, node_id: str) -> set[str]:
    found, stack = {node_id}, [node_id]
    while stack:
        for child in session.children(stack.pop()):
            found.add(child.id)
            stack.append(child.id)
    return found


def _short_model_name(source: str) -> str:
    text = str(source).rstrip("/\\")
    if "/" in text and not Path(text).exists():
        return text  # hub id "owner/name" reads best whole
    return Path(text).name or text


def _default_model_if_cached() -> Any:
    from ip2p_core.hub_download import cached_snapshot

    return cached_snapshot(DEFAULT_MODEL_ID)
