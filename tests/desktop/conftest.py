"""Desktop test set-up: headless Qt, offline hub, an isolated user profile, no blocking dialogs.

The tiny model folder comes from the suite-wide ``tiny_model_dir`` fixture (tests/conftest.py),
written once per session.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = (REPO_ROOT / ".." / "shared").resolve()
PHOTO = SHARED / "images" / "photos" / "chelsea.png"
BROKEN = SHARED / "images" / "odd" / "broken.png"


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point QSettings, platformdirs and the HF cache at a temporary folder for every test."""
    from PySide6.QtCore import QSettings

    home = tmp_path / "profile"
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        folder = home / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    # platformdirs ignores XDG_* on Windows and macOS: patch the functions our code calls too.
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(home / "data"))
    monkeypatch.setattr(platformdirs, "user_log_dir", lambda *a, **k: str(home / "log"))
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(home / "qsettings"))
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(home / "qsettings-native"))
    return home


@dataclass
class DialogRecorder:
    """Stands in for QMessageBox's static functions: records calls, returns scripted answers."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)  # for question(); default: Discard / No

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.calls]

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _, text in self.calls if kind is None or k == kind]


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> DialogRecorder:
    from PySide6.QtWidgets import QMessageBox

    recorder = DialogRecorder()

    def record(kind: str):
        def fake(parent: Any, title: str, text: str, *args: Any, **kwargs: Any) -> Any:
            recorder.calls.append((kind, title, text))
            if kind != "question":
                return QMessageBox.StandardButton.Ok
            if recorder.answers:
                return recorder.answers.pop(0)
            buttons = args[0] if args else kwargs.get("buttons")
            if buttons is not None and buttons & QMessageBox.StandardButton.Discard:
                return QMessageBox.StandardButton.Discard
            return QMessageBox.StandardButton.No

        return staticmethod(fake)

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    return recorder


@pytest.fixture
def app_settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    from ip2p_desktop.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path, tmp_path: Path, app_settings, dialogs):
    """Build main windows wired to the tiny model and temporary folders; shut down afterwards.

    The engine loads on the worker thread (``load_engine_here``) unless a test passes
    ``engine_loader=None``, the app's own default: an engine process per window would add seconds
    of torch start-up to every test, and the UI cannot tell the two apart. The process engine has
    its own tests (test_engine_process_ui.py, tests/core/test_engine_process.py).
    """
    from ip2p_desktop.main_window import MainWindow
    from ip2p_desktop.theme import apply_theme
    from ip2p_desktop.worker import load_engine_here

    apply_theme(qtbot_app())
    windows: list[Any] = []

    def make(model_source: str | None = None, first_run_checks: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("engine_loader", load_engine_here)
        window = MainWindow(
            app_settings,
            model_source=str(tiny_model_dir) if model_source is None else model_source,
            sessions_root=tmp_path / "sessions",
            first_run_checks=first_run_checks,
            **kwargs,
        )
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


@pytest.fixture
def window(make_window):
    return make_window()
