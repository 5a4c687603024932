"""The edit panel: instruction box with Apply/Cancel, run progress, the edit queue and parameters.

The panel only collects and shows values; the main window decides what Apply does. Parameters
come out as an :class:`~ip2p_core.params.EditParams` and go back in from one (e.g. when the
user reuses the settings of a history entry or of an opened image's chain).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRegularExpression, QSize, Qt, Signal, Slot
from PySide6.QtGui import QFontMetrics, QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ip2p_core.params import MAX_RESOLUTION, MAX_SEED, MIN_RESOLUTION, SCHEDULER_NAMES, EditParams, random_seed

from .jobs import EditJob

SCHEDULER_LABELS = {
    "euler_a": "Euler ancestral",
    "euler": "Euler",
    "dpmpp_2m": "DPM++ 2M",
    "ddim": "DDIM",
    "lms": "LMS",
    "pndm": "PNDM",
    "unipc": "UniPC",
}
DEFAULTS = EditParams(instruction="-")


def format_duration(seconds: float) -> str:
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


SCHEDULER_SHORT = {"euler_a": "Euler a", "dpmpp_2m": "DPM++ 2M"}


def describe_params(params: EditParams, seed: int | None = None, lines: int = 1) -> str:
    """The settings of an edit as shown in history and tooltips: one line, or two (guidance, then
    sampler/size/seed) where space is narrow."""
    seed = params.seed if seed is None else seed
    guidance = [f"{params.steps} steps", f"text {params.text_guidance:g}", f"image {params.image_guidance:g}"]
    rest = [
        SCHEDULER_SHORT.get(params.scheduler, SCHEDULER_LABELS.get(params.scheduler, params.scheduler)),
        f"{params.resolution} px",
        f"seed {seed}" if seed is not None else "random seed",
    ]
    if lines == 2:
        return " · ".join(guidance) + "\n" + " · ".join(rest)
    return " · ".join(guidance + rest)


class InstructionEdit(QPlainTextEdit):
    """A short multi-line text box; Ctrl+Enter applies (handled by the window's Apply action)."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Describe the change, e.g. “make it winter” or “turn the car red”")
        self.setTabChangesFocus(True)
        metrics = QFontMetrics(self.font())
        self.setFixedHeight(metrics.lineSpacing() * 3 + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        # Ctrl/Cmd+Enter applies even when the window shortcut does not reach us (e.g. in a dialog).
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ControlsPanel(QWidget):
    applyRequested = Signal()
    cancelRequested = Signal()
    removeQueuedRequested = Signal(int)  # job id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("controlsPanel")
        self._recent: list[str] = []
        self._last_seed: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(8)

        # --- instruction -----------------------------------------------------------------------
        header = QHBoxLayout()
        title = QLabel("Instruction")
        title.setObjectName("heading")
        header.addWidget(title)
        header.addStretch(1)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent ▾")
        self.recent_button.setToolTip("Re-use an instruction you applied before")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_button.setMenu(QMenu(self.recent_button))
        header.addWidget(self.recent_button)
        layout.addLayout(header)

        self.instruction = InstructionEdit()
        self.instruction.submitted.connect(self.applyRequested)
        layout.addWidget(self.instruction)

        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Apply the instruction to the photo shown (Ctrl+Enter)")
        self.apply_button.clicked.connect(self.applyRequested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running edit (Esc); the history stays as it was")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons.addWidget(self.apply_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)

        # --- run feedback ------------------------------------------------------------------------
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Idle")
        layout.addWidget(self.progress)
        self.progress_detail = QLabel(" ")
        self.progress_detail.setObjectName("muted")
        self.progress_detail.setWordWrap(True)
        layout.addWidget(self.progress_detail)

        self.queue_label = QLabel("Queued")
        self.queue_label.setObjectName("muted")
        self.queue_list = QListWidget()
        self.queue_list.setToolTip("Instructions waiting to run, in order. Double-click one to remove it.")
        self.queue_list.itemDoubleClicked.connect(self._on_queue_double_click)
        layout.addWidget(self.queue_label)
        layout.addWidget(self.queue_list)
        self.set_queue([])

        # --- parameters -------------------------------------------------------------------------
        group = QGroupBox("Parameters")
        form = QFormLayout(group)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(7)

        self.steps = QSpinBox()
        self.steps.setRange(1, 150)
        self.steps.setToolTip("Denoising steps: more is slower and usually a little cleaner")
        form.addRow("Steps", self.steps)

        self.text_guidance = QDoubleSpinBox()
        self.text_guidance.setRange(0.0, 30.0)
        self.text_guidance.setSingleStep(0.5)
        self.text_guidance.setDecimals(1)
        self.text_guidance.setToolTip("How strongly to follow the instruction")
        form.addRow("Text guidance", self.text_guidance)

        self.image_guidance = QDoubleSpinBox()
        self.image_guidance.setRange(0.0, 10.0)
        self.image_guidance.setSingleStep(0.1)
        self.image_guidance.setDecimals(2)
        self.image_guidance.setToolTip("How closely to keep the original photo (higher = more faithful)")
        form.addRow("Image guidance", self.image_guidance)

        seed_row = QHBoxLayout()
        seed_row.setSpacing(6)
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,10}")))
        self.seed.setToolTip(f"Same seed + same settings = same result (0 – {MAX_SEED})")
        self.seed_random = QCheckBox("New random seed for each edit")
        self.seed_random.setToolTip("Draw a new seed for every edit")
        self.seed_random.toggled.connect(self._on_random_toggled)
        self.dice = QPushButton("New")
        self.dice.setToolTip("Pick a new random seed now (Ctrl+D)")
        self.dice.clicked.connect(self.randomize_seed)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        form.addRow("Seed", seed_row)
        form.addRow("", self.seed_random)

        self.resolution = QSpinBox()
        self.resolution.setRange(MIN_RESOLUTION, MAX_RESOLUTION)
        self.resolution.setSingleStep(64)
        self.resolution.setSuffix(" px")
        self.resolution.setToolTip("Long side the model works at; the result is carried back to the photo's full size")
        form.addRow("Working size", self.resolution)

        self.scheduler = QComboBox()
        for name in SCHEDULER_NAMES:
            self.scheduler.addItem(SCHEDULER_LABELS.get(name, name), name)
        self.scheduler.setToolTip("Sampler used for denoising")
        form.addRow("Scheduler", self.scheduler)

        self.negative = QLineEdit()
        self.negative.setPlaceholderText("optional, e.g. “blurry”")
        self.negative.setToolTip("Things the edit should avoid")
        form.addRow("Avoid", self.negative)

        self.output_size = QComboBox()
        self.output_size.addItem("Full photo size", "original")
        self.output_size.addItem("Working size only", "working")
        self.output_size.setToolTip("Size of the result image")
        form.addRow("Result size", self.output_size)

        self.color_match = QCheckBox("Keep the photo's colours")
        self.color_match.setToolTip(
            "Remove a colour cast the model adds, matching the result's colours to the photo. "
            "Off by default: it also undoes subtle colour edits such as \u201cmake it warmer\u201d."
        )
        form.addRow("Colours", self.color_match)

        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset_to_defaults)
        reset_row.addWidget(self.reset_button)
        form.addRow(reset_row)
        layout.addWidget(group)
        layout.addStretch(1)

        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.set_params(DEFAULTS, random=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 640)

    # --- parameters ---------------------------------------------------------------------------
    def params(self) -> EditParams:
        """The current values (seed None when "Random" is on). Not validated."""
        seed: int | None = None
        if not self.seed_random.isChecked():
            text = self.seed.text().strip()
            seed = min(int(text), MAX_SEED) if text else None
        return EditParams(
            instruction=self.instruction.toPlainText().strip(),
            steps=self.steps.value(),
            text_guidance=round(self.text_guidance.value(), 2),
            image_guidance=round(self.image_guidance.value(), 2),
            seed=seed,
            scheduler=str(self.scheduler.currentData()),
            resolution=self.resolution.value(),
            negative=self.negative.text().strip(),
            output_size=str(self.output_size.currentData()),  # type: ignore[arg-type]
            color_match=1.0 if self.color_match.isChecked() else 0.0,
        )

    def set_params(self, params: EditParams, *, random: bool | None = None, instruction: bool = False) -> None:
        """Show ``params``; ``random`` sets the Random-seed box (default: on when seed is None)."""
        self.steps.setValue(int(params.steps))
        self.text_guidance.setValue(float(params.text_guidance))
        self.image_guidance.setValue(float(params.image_guidance))
        self.resolution.setValue(int(params.resolution))
        index = self.scheduler.findData(params.scheduler)
        self.scheduler.setCurrentIndex(max(index, 0))
        self.negative.setText(params.negative)
        self.output_size.setCurrentIndex(max(self.output_size.findData(params.output_size), 0))
        self.color_match.setChecked(params.color_match > 0)
        if params.seed is not None:
            self.seed.setText(str(params.seed))
        use_random = params.seed is None if random is None else random
        self.seed_random.setChecked(use_random)
        self._on_random_toggled(use_random)
        if instruction:
            self.instruction.setPlainText(params.instruction)

    @Slot()
    def reset_to_defaults(self) -> None:
        self.set_params(DEFAULTS, random=True)

    @Slot()
    def randomize_seed(self) -> None:
        self.seed_random.setChecked(False)
        self.seed.setText(str(random_seed()))

    def show_used_seed(self, seed: int) -> None:
        """After a random-seed edit, show the seed that was drawn so it can be kept."""
        self._last_seed = seed
        if self.seed_random.isChecked():
            self.seed.setText(str(seed))

    @Slot(bool)
    def _on_random_toggled(self, checked: bool) -> None:
        self.seed.setEnabled(not checked)
        self.seed.setPlaceholderText("drawn for each edit" if checked else "type a number")
        if not checked and not self.seed.text().strip():
            self.seed.setText(str(self._last_seed if self._last_seed is not None else random_seed()))

    # --- recent instructions -------------------------------------------------------------------
    def set_recent_instructions(self, items: list[str]) -> None:
        self._recent = list(items)
        menu = self.recent_button.menu()
        menu.clear()
        for text in self._recent:
            label = text if len(text) <= 60 else text[:57] + "…"
            action = menu.addAction(label)
            action.setToolTip(text)
            action.triggered.connect(lambda _=False, t=text: self.use_instruction(t))
        self.recent_button.setEnabled(bool(self._recent))

    def use_instruction(self, text: str) -> None:
        self.instruction.setPlainText(text)
        self.instruction.setFocus()
        cursor = self.instruction.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.instruction.setTextCursor(cursor)

    # --- run feedback -------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        # Apply stays enabled: a second Apply queues behind the running edit.
        self.apply_button.setText("Queue" if running else "Apply")
        self.apply_button.setToolTip(
            "Add the instruction to the queue; it runs on the result of the current edit (Ctrl+Enter)"
            if running
            else "Apply the instruction to the photo shown (Ctrl+Enter)"
        )

    def show_busy(self, text: str, detail: str = "") -> None:
        """An activity without a known length (model loading before the first report, saving)."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.progress_detail.setText(detail or " ")

    def show_fraction(self, text: str, fraction: float, detail: str = "") -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(text)
        self.progress_detail.setText(detail or " ")

    def show_step(self, step: int, total: int, elapsed_s: float, eta_s: float, label: str = "") -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step} / {total} · {format_duration(eta_s)} left")
        detail = f"{label} — {format_duration(elapsed_s)} so far" if label else f"{format_duration(elapsed_s)} so far"
        self.progress_detail.setText(detail)

    def show_idle(self, text: str = "Idle", detail: str = "") -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(text)
        self.progress_detail.setText(detail or " ")

    def set_queue(self, jobs: list[EditJob]) -> None:
        self.queue_list.clear()
        rows = max(1, min(len(jobs), 4))
        row_height = self.queue_list.fontMetrics().height() + 8
        self.queue_list.setFixedHeight(rows * row_height + 2 * self.queue_list.frameWidth() + 4)
        for position, job in enumerate(jobs, start=1):
            item = QListWidgetItem(f"{position}. {job.label}")
            item.setData(Qt.ItemDataRole.UserRole, job.job_id)
            item.setToolTip(f"{job.params.instruction}\nDouble-click to remove it from the queue.")
            self.queue_list.addItem(item)
        visible = bool(jobs)
        self.queue_label.setText(f"Queued ({len(jobs)})")
        self.queue_label.setVisible(visible)
        self.queue_list.setVisible(visible)

    @Slot(QListWidgetItem)
    def _on_queue_double_click(self, item: QListWidgetItem) -> None:
        self.removeQueuedRequested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
