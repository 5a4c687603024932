"""Settings, logging without a console, dialogs, the model screen and the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from ip2p_core.params import EditParams
from ip2p_desktop.settings import MAX_RECENT_FILES, AppSettings


def test_settings_round_trip_and_limits(tmp_path: Path) -> None:
    path = str(tmp_path / "s.ini")
    settings = AppSettings(QSettings(path, QSettings.Format.IniFormat))
    for i in range(MAX_RECENT_FILES + 3):
        settings.add_recent_file(f"/photos/{i}.jpg")
    settings.add_recent_file("/photos/2.jpg")
    settings.add_recent_instruction("make it winter")
    settings.add_recent_instruction("  ")
    settings.set_last_params(EditParams("x", steps=33, scheduler="ddim", seed=5))
    settings.model_source = "/models/ip2p"
    settings.sync()

    again = AppSettings(QSettings(path, QSettings.Format.IniFormat))
    files = again.recent_files()
    assert len(files) == MAX_RECENT_FILES and files[0] == "/photos/2.jpg" and files.count("/photos/2.jpg") == 1
    assert again.recent_instructions() == ["make it winter"]
    params = again.last_params()
    assert (params.steps, params.scheduler, params.seed) == (33, "ddim", 5)
    assert again.model_source == "/models/ip2p"


def test_damaged_settings_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    path.write_text("[params]\nlast={not json\n[files]\nrecent=[1, 2\n", encoding="utf-8")
    settings = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert settings.last_params().steps == 20
    assert settings.recent_files() == []


def test_default_settings_live_in_the_isolated_profile(isolated_profile: Path) -> None:
    settings = AppSettings()
    settings.model_source = "x"
    settings.sync()
    assert str(isolated_profile) in QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                              "IP2P", "ip2p-desktop").fileName()


def test_progress_bars_cannot_crash_without_a_console(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tqdm import tqdm

    from ip2p_desktop.logging_setup import LOG_FILE_NAME, setup_logging

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        log_path = setup_logging(tmp_path / "logs")
        assert sys.stderr is not None and sys.stdout is not None
        for _ in tqdm(range(3), desc="weights"):
            pass
        print("hello from a windowed app")
        logging.getLogger("x").warning("something to remember")
        for handler in root.handlers:
            handler.flush()
        text = (tmp_path / "logs" / LOG_FILE_NAME).read_text(encoding="utf-8")
        assert log_path == tmp_path / "logs" / LOG_FILE_NAME
        assert "something to remember" in text and "hello from a windowed app" in text
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()


def test_shortcuts_dialog_lists_the_real_shortcuts(window) -> None:
    rows = dict(window.shortcuts_dialog().rows())
    assert "Ctrl+Return" in rows["Apply Instruction"]
    assert rows["Cancel Edit"] == "Esc"
    assert "Ctrl+Z" in rows["Undo"]
    assert "Ctrl+Shift+Z" in rows["Redo"] and "Ctrl+Y" in rows["Redo"]
    assert rows["Show before while held"] == "\\"
    assert "Ctrl+V" in rows["Paste Photo"]
    assert rows["Quit"] == "Ctrl+Q"
    for name in ("Open Photo", "Export Result", "Re-run with New Seed", "Copy Chain Settings", "Zoom In",
                 "Fit to Window", "Split Before/After", "Side by Side", "Save Project"):
        assert rows.get(name), f"{name} has no shortcut"


def test_about_mentions_versions(window) -> None:
    from ip2p_desktop.dialogs import about_text

    text = about_text(None)
    assert "torch" in text and "diffusers" in text and "Qt" in text and "Device" in text


def test_model_screen_offline_and_local_choice(qtbot, tiny_model_dir: Path, tmp_path: Path) -> None:
    from ip2p_desktop.model_screen import ModelDialog

    dialog = ModelDialog(repo_id="timbrooks/instruct-pix2pix")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Cannot reach" in dialog.size_label.text(), timeout=10_000)
    assert "local folder" in dialog.size_label.text()
    assert not dialog.download_button.isEnabled()

    assert not dialog.use_local(str(tmp_path))  # an empty folder is not a model
    assert "model_index.json" in dialog.status.text()
    assert dialog.use_local(str(tiny_model_dir))
    assert dialog.chosen == str(Path(tiny_model_dir).resolve())


def test_model_screen_choice_is_remembered(qtbot, make_window, tiny_model_dir: Path, monkeypatch) -> None:
    from ip2p_desktop import model_screen

    window = make_window(model_source="")

    def fake_exec(dialog: model_screen.ModelDialog) -> int:
        dialog.use_local(str(tiny_model_dir))
        return 1

    monkeypatch.setattr(model_screen.ModelDialog, "exec", fake_exec)
    monkeypatch.setattr(model_screen.ModelDialog, "__init__", _quiet_init(model_screen.ModelDialog.__init__))
    with qtbot.waitSignal(window.controller.modelReady, timeout=60_000):
        window.choose_model_action.trigger()
    assert window.settings.model_source == str(Path(tiny_model_dir).resolve())
    assert window.device_label.text() == "CPU · fp32"
    assert window.model_label.text().startswith("Model:")
    qtbot.waitUntil(lambda: window.memory_label.text().startswith("RAM"), timeout=10_000)


def _quiet_init(init):
    def wrapper(self, *args, **kwargs):
        kwargs["check_hub"] = False
        init(self, *args, **kwargs)

    return wrapper


def test_apply_without_model_offers_the_model_screen(qtbot, make_window, dialogs, monkeypatch) -> None:
    from ip2p_desktop import model_screen

    from .helpers import open_photo, small_params

    window = make_window(model_source="")
    open_photo(qtbot, window)
    shown = []
    monkeypatch.setattr(model_screen.ModelDialog, "exec", lambda dialog: shown.append(dialog) or 0)
    monkeypatch.setattr(model_screen.ModelDialog, "__init__", _quiet_init(model_screen.ModelDialog.__init__))
    small_params(window.controls, "make it winter")
    window.apply_instruction()
    assert shown and not window.controller.busy
    assert "No model" in window.message_label.text()
    assert window.document.session.n_edits == 0


def test_command_line(monkeypatch) -> None:
    from ip2p_desktop.app import build_parser

    args = build_parser().parse_args(["photo.jpg", "--model", "/m"])
    assert args.image == "photo.jpg" and args.model == "/m"
    assert build_parser().parse_args(["--self-test"]).self_test


def test_self_test_flag_dispatches(monkeypatch) -> None:
    import types

    from ip2p_desktop.__main__ import main

    import importlib.util

    fake = types.ModuleType("ip2p_desktop.selftest")
    fake.__spec__ = importlib.util.spec_from_loader("ip2p_desktop.selftest", loader=None)
    fake.main = lambda: 7
    monkeypatch.setitem(sys.modules, "ip2p_desktop.selftest", fake)
    import ip2p_desktop

    monkeypatch.setattr(ip2p_desktop, "selftest", fake, raising=False)
    assert main(["--self-test"]) == 7
