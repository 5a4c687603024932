"""First-run model screen: download the standard model, or use a local folder or checkpoint file.

The hub size check and the download run on a QThread (``HubThread``); the dialog shows the size
before anything is fetched, a progress bar with speed and time left, and a Stop button. Stopping
keeps the files already finished in the Hugging Face cache, so Download resumes from there.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ip2p_core import DEFAULT_MODEL_ID

from .controls import format_duration
from ip2p_core.hub_download import DownloadCancelled, DownloadPlan, cached_snapshot, download_model, format_bytes, plan_download


class HubThread(QThread):
    """Runs the size check (``mode="plan"``) or the download (``mode="download"``).

    Byte counts may be reported from the hub client's own transfer threads, which Qt did not
    create, so they are only stored here (under a lock) and the dialog polls them with a timer.
    """

    planned = Signal(object)  # DownloadPlan
    downloaded = Signal(str)  # local snapshot folder
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, repo_id: str, mode: str, plan: DownloadPlan | None = None) -> None:
        super().__init__()
        self.repo_id, self.mode, self.plan = repo_id, mode, plan
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress: tuple[int, int] | None = None

    def stop(self) -> None:
        self._stop.set()

    def progress(self) -> tuple[int, int] | None:
        """The latest (bytes done, bytes total), or None before the first report."""
        with self._lock:
            return self._progress

    def _record(self, done: int, total: int) -> None:
        with self._lock:
            self._progress = (int(done), int(total))

    def run(self) -> None:
        try:
            if self.mode == "plan":
                self.planned.emit(plan_download(self.repo_id))
                return
            folder = download_model(self.repo_id, self._record, self._stop, plan=self.plan)
            self.downloaded.emit(str(folder))
        except DownloadCancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - shown to the user as one sentence
            self.failed.emit(str(exc) or type(exc).__name__)


def _card(title: str, text: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("card")
    frame.setStyleSheet("QFrame#card { border: 1px solid #3c3c40; border-radius: 6px; }")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(12, 10, 12, 10)
    heading = QLabel(title)
    heading.setObjectName("heading")
    body = QLabel(text)
    body.setWordWrap(True)
    body.setObjectName("muted")
    layout.addWidget(heading)
    layout.addWidget(body)
    return frame, layout


def validate_local_model(path: str) -> str | None:
    """A message saying why ``path`` is not a usable model, or None when it looks fine."""
    p = Path(path)
    if p.is_dir():
        if not (p / "model_index.json").is_file():
            return f"{p} is not a diffusers model folder (it has no model_index.json); choose the folder that contains unet, vae and text_encoder."
        return None
    if p.is_file():
        if p.suffix.lower() not in (".safetensors", ".ckpt"):
            return f"{p.name} is not a checkpoint file; choose a .safetensors or .ckpt file."
        return None
    return f"Nothing found at {p}; check the path."


class ModelDialog(QDialog):
    """Ask where the model comes from. ``chosen`` holds the hub id, folder or file picked."""

    def __init__(self, current: str = "", repo_id: str = DEFAULT_MODEL_ID, parent: QWidget | None = None,
                 check_hub: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up the editing model")
        self.setMinimumWidth(560)
        self.repo_id = repo_id
        self.chosen = ""
        self._plan: DownloadPlan | None = None
        self._thread: HubThread | None = None
        self._speed_mark: tuple[float, int] | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(200)
        self._poll.timeout.connect(self._poll_progress)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        intro = QLabel(
            "IP2P edits photos with the InstructPix2Pix model, which runs on this computer — nothing is "
            "uploaded. Choose where the model comes from; you can change it later in Model → Choose Model…."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if current:
            note = QLabel(f"Current model: {current}")
            note.setObjectName("muted")
            note.setWordWrap(True)
            layout.addWidget(note)

        card, box = _card(
            "Download the standard model",
            f"{repo_id} from the Hugging Face hub, kept in the standard Hugging Face cache. "
            "A graphics card with 6 GB or more makes edits take seconds; on a CPU each edit takes minutes.",
        )
        self.size_label = QLabel("Checking the download size…")
        box.addWidget(self.size_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setVisible(False)
        box.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("muted")
        box.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the download; finished files are kept and Download resumes from them")
        self.stop_button.setVisible(False)
        self.stop_button.clicked.connect(self.stop_download)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.start_download)
        row.addWidget(self.stop_button)
        row.addWidget(self.download_button)
        box.addLayout(row)
        layout.addWidget(card)

        card, box = _card(
            "Use a model folder on this computer",
            "A diffusers-format folder (with model_index.json, unet, vae, text_encoder, tokenizer), "
            "for example copied from another computer.",
        )
        folder_button = QPushButton("Choose folder…")
        folder_button.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(folder_button)
        box.addLayout(row)
        layout.addWidget(card)

        card, box = _card(
            "Use a single checkpoint file",
            "An InstructPix2Pix .safetensors (or .ckpt) file such as instruct-pix2pix-00-22000; it is converted when loaded.",
        )
        file_button = QPushButton("Choose file…")
        file_button.clicked.connect(self.choose_file)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(file_button)
        box.addLayout(row)
        layout.addWidget(card)

        bottom = QHBoxLayout()
        later = QPushButton("Continue without a model")
        later.setToolTip("You can still open, compare and save photos; editing needs a model")
        later.clicked.connect(self.reject)
        bottom.addStretch(1)
        bottom.addWidget(later)
        layout.addLayout(bottom)

        if cached_snapshot(repo_id) is not None:
            self.size_label.setText("Already downloaded — ready to use.")
            self.download_button.setText("Use it")
            self.download_button.setEnabled(True)
            self._plan = DownloadPlan(repo_id=repo_id)
        elif check_hub:
            self._start_thread(HubThread(repo_id, "plan"))

    # --- hub --------------------------------------------------------------------------------------
    def _start_thread(self, thread: HubThread) -> None:
        self._thread = thread
        thread.planned.connect(self._on_planned)
        thread.downloaded.connect(self._on_downloaded)
        thread.failed.connect(self._on_failed)
        thread.cancelled.connect(self._on_cancelled)
        thread.start()

    @Slot(object)
    def _on_planned(self, plan: DownloadPlan) -> None:
        self._plan = plan
        if plan.remaining_bytes <= 0:
            self.size_label.setText(f"Already downloaded ({format_bytes(plan.total_bytes)}) — ready to use.")
            self.download_button.setText("Use it")
        elif plan.cached_bytes:
            self.size_label.setText(
                f"{format_bytes(plan.remaining_bytes)} left to download of {format_bytes(plan.total_bytes)} "
                f"({len(plan.files)} files; finished files are kept)."
            )
            self.download_button.setText("Resume download")
        else:
            self.size_label.setText(f"Download size: {format_bytes(plan.total_bytes)} in {len(plan.files)} files.")
        self.download_button.setEnabled(True)

    @Slot()
    def start_download(self) -> None:
        if self._plan is None:
            return
        if self._plan.files and self._plan.remaining_bytes <= 0 or not self._plan.files:
            self._finish(self.repo_id)
            return
        self.download_button.setEnabled(False)
        self.stop_button.setVisible(True)
        self.stop_button.setEnabled(True)
        self.progress.setVisible(True)
        self.status.setText("Starting…")
        self._speed_mark = (time.monotonic(), self._plan.cached_bytes)
        self._start_thread(HubThread(self.repo_id, "download", self._plan))
        self._poll.start()

    @Slot()
    def stop_download(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping…")

    @Slot()
    def _poll_progress(self) -> None:
        thread = self._thread
        report = thread.progress() if thread is not None else None
        if report is not None:
            self._on_progress(*report)

    def _on_progress(self, done: int, total: int) -> None:
        fraction = done / total if total else 0.0
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{format_bytes(done)} of {format_bytes(total)}")
        if self._speed_mark is not None:
            started, start_bytes = self._speed_mark
            elapsed = time.monotonic() - started
            speed = (done - start_bytes) / elapsed if elapsed > 0.5 else 0.0
            if speed > 0:
                self.status.setText(f"{format_bytes(int(speed))}/s · {format_duration((total - done) / speed)} left")

    @Slot(str)
    def _on_downloaded(self, folder: str) -> None:
        self._poll.stop()
        self._poll_progress()
        self.status.setText(f"Downloaded to {folder}")
        self._finish(self.repo_id)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._poll.stop()
        self._poll_progress()
        self.size_label.setText(message)
        self.status.setText("")
        self.progress.setVisible(False)
        self.stop_button.setVisible(False)
        self.download_button.setEnabled(self._plan is not None)

    @Slot()
    def _on_cancelled(self) -> None:
        self._poll.stop()
        self._poll_progress()
        self.status.setText("Stopped. Finished files are kept; Download resumes from them.")
        self.stop_button.setVisible(False)
        self.download_button.setText("Resume download")
        self.download_button.setEnabled(True)

    # --- local --------------------------------------------------------------------------------------
    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        if folder:
            self.use_local(folder)

    @Slot()
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint file", "", "Checkpoints (*.safetensors *.ckpt);;All files (*)"
        )
        if path:
            self.use_local(path)

    def use_local(self, path: str) -> bool:
        problem = validate_local_model(path)
        if problem:
            self.status.setText(problem)
            return False
        self._finish(str(Path(path).resolve()))
        return True

    def _finish(self, source: str) -> None:
        self.chosen = source
        self.accept()

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        # Never leave a hub thread running behind a closed dialog.
        thread = self._thread
        if thread is not None and thread.isRunning():
            thread.stop()
            thread.wait()
        super().done(result)

