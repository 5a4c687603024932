"""Application start-up: logging, Qt application, theme, main window, command-line image.

Order matters for the "window first" promise: nothing here imports torch, diffusers or
transformers; the engine worker imports them on its own thread after the window is shown.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from . import APP_ID, APP_NAME, ORG_NAME, __version__

log = logging.getLogger(__name__)


# What a start without arguments means; build_parser() takes its defaults from here.
PLAIN_START = {"image": None, "model": None, "self_test": False, "quit_after_show": False}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ip2p", description=f"{APP_NAME}: edit photos by describing the change.")
    parser.set_defaults(**PLAIN_START)
    parser.add_argument("image", nargs="?", help="a photo or .ip2p project to open")
    parser.add_argument("--model", metavar="ID_OR_PATH",
                        help="hub id, diffusers folder or checkpoint file to use for this run")
    parser.add_argument("--self-test", action="store_true", help="run the built-in self-test and exit")
    parser.add_argument("--quit-after-show", action="store_true",
                        help="show the main window, close it and exit (a start-up check for packaging)")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    return parser


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a plain start skips argparse, whose set-up looks for translations on disk
    (a few milliseconds before the window can appear)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        return argparse.Namespace(**PLAIN_START)
    return build_parser().parse_args(argv)


def _quit_after_show(window: Any, started: float) -> None:
    """``--quit-after-show``: close the window once it is up. With ``IP2P_QUIT_AFTER_SHOW_MS`` set
    and a model configured, wait for the model to load (or fail) first, at most that long: the
    packaging smoke test proves that way that the frozen engine process starts."""
    import os
    import time

    from PySide6.QtCore import QTimer

    done = {"closed": False}

    def report_and_close(what: str = "window shown") -> None:
        if done["closed"]:
            return
        done["closed"] = True
        message = f"{APP_NAME} {what} in {(time.perf_counter() - started) * 1000:.0f} ms"
        log.info(message)
        if sys.stdout is not None:
            print(message, flush=True)
        window.close()

    try:
        wait_ms = max(0, int(os.environ.get("IP2P_QUIT_AFTER_SHOW_MS", "0")))
    except ValueError:
        wait_ms = 0
    if wait_ms and window.controller.model_source:
        window.controller.modelReady.connect(lambda *_: report_and_close("window shown and model loaded"))
        window.controller.modelFailed.connect(lambda *_: report_and_close("window shown, model failed"))
    QTimer.singleShot(wait_ms if window.controller.model_source else 0, report_and_close)


def run(argv: list[str] | None = None) -> int:
    import time

    started = time.perf_counter()
    args = parse_arguments(argv)

    from .logging_setup import setup_logging

    log_path = setup_logging()
    log.info("Starting %s %s (log: %s)", APP_NAME, __version__, log_path)

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from ip2p_core.resource_paths import package_resource
    from .first_frame import after_first_paint
    from .theme import apply_theme, style_arguments

    QApplication.setOrganizationName(ORG_NAME)
    QApplication.setApplicationName(APP_ID)
    QApplication.setApplicationDisplayName(APP_NAME)
    QApplication.setApplicationVersion(__version__)
    app = QApplication.instance()
    created = app is None
    if created:
        app = QApplication((sys.argv[:1] or ["ip2p"]) + style_arguments())
    # The one window icon: windows and dialogs without their own use the application's.
    app.setWindowIcon(QIcon(str(package_resource("ip2p_desktop", "ip2p.png"))))
    apply_theme(app, set_style=not created)

    from .main_window import MainWindow

    window = MainWindow(model_source=args.model, first_run_checks=not args.quit_after_show)
    window.show()
    if args.quit_after_show:
        _quit_after_show(window, started)
    if args.image:
        # After the first frame: opening starts a decode thread that would compete with it.
        path = str(Path(args.image).expanduser())
        after_first_paint(window, lambda: window.open_path(path))
    window.start()
    code = app.exec()
    window.shutdown()  # no-op when closeEvent already did it (e.g. quit from the menu)
    return int(code)
