"""Steps the desktop tests share: fill the edit panel, open a photo, apply and wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import PHOTO


def small_params(controls, instruction: str, steps: int = 2, seed: int | None = 1) -> None:
    """Fill the edit panel with settings the tiny model runs in a fraction of a second."""
    controls.instruction.setPlainText(instruction)
    controls.steps.setValue(steps)
    controls.resolution.setValue(64)
    if seed is None:
        controls.seed_random.setChecked(True)
    else:
        controls.seed_random.setChecked(False)
        controls.seed.setText(str(seed))


def open_photo(qtbot, window, path: Path = PHOTO) -> None:
    with qtbot.waitSignal(window.documentChanged, timeout=20_000):
        window.open_path(path)


def apply_and_wait(qtbot, window, instruction: str, **kwargs: Any) -> Any:
    small_params(window.controls, instruction, **kwargs)
    with qtbot.waitSignal(window.historyChanged, timeout=60_000):
        window.apply_instruction()
    return window.document.session.node(window.document.session.cursor)


def wait_idle(qtbot, window, timeout: int = 20_000) -> None:
    """Until no edit runs or waits and no file task is pending."""
    qtbot.waitUntil(lambda: not window.controller.busy and not window.controller.queued_jobs()
                    and window.tasks.pending == 0, timeout=timeout)
