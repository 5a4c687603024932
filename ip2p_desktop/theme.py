"""The dark, neutral look photo editors use: grey surfaces so colours on the canvas are judged
against neutral surroundings, one accent colour for actions and selection."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE = "Fusion"  # the same widgets on every platform, so the dark palette below fits them

ACCENT = "#3d8bfd"
WINDOW = "#2b2b2d"
BASE = "#1f1f21"
CANVAS = "#181819"
TEXT = "#e6e6e6"
MUTED = "#9a9a9f"
BORDER = "#3c3c40"

STYLESHEET = f"""
QWidget {{ font-size: 10pt; }}
QMainWindow::separator {{ background: {BORDER}; width: 1px; height: 1px; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{
    background: {WINDOW}; padding: 6px 8px; border-bottom: 1px solid {BORDER}; color: {MUTED};
}}
QToolBar {{ background: {WINDOW}; border: none; border-bottom: 1px solid {BORDER}; padding: 3px; spacing: 2px; }}
QToolBar QToolButton {{ padding: 4px 8px; border-radius: 4px; color: {TEXT}; }}
QToolBar QToolButton:hover {{ background: #3a3a3e; }}
QToolBar QToolButton:checked {{ background: #34445c; color: white; }}
QToolBar::separator {{ background: {BORDER}; width: 1px; margin: 4px 6px; }}
QStatusBar {{ background: {WINDOW}; border-top: 1px solid {BORDER}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 6px; }}
QStatusBar::item {{ border: none; }}
QGroupBox {{
    border: 1px solid {BORDER}; border-radius: 6px; margin-top: 12px; padding: 12px 8px 8px 8px;
}}
QGroupBox::title {{
    subcontrol-origin: margin; subcontrol-position: top left; left: 10px; top: 0px; padding: 0 4px;
    color: {MUTED}; font-weight: 600;
}}
QPlainTextEdit, QLineEdit {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; padding: 3px 5px;
    selection-background-color: {ACCENT};
}}
QPlainTextEdit:focus, QLineEdit:focus {{ border-color: {ACCENT}; }}
QLineEdit:disabled {{ color: #8a8a90; background: #252528; }}
QToolButton::menu-indicator {{ image: none; width: 0; }}
QToolButton {{ padding: 3px 8px; border-radius: 4px; }}
QToolButton:hover {{ background: #3a3a3e; }}
QPushButton {{
    background: #3a3a3e; border: 1px solid #48484d; border-radius: 4px; padding: 5px 12px; color: {TEXT};
}}
QPushButton:hover {{ background: #444449; }}
QPushButton:pressed {{ background: #2f2f33; }}
QPushButton:disabled {{ color: #6d6d72; background: #333336; border-color: #3a3a3e; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:hover {{ background: #5a9cfd; }}
QPushButton#primary:disabled {{ background: #2e4a72; border-color: #2e4a72; color: #9fb4d4; }}
QProgressBar {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; text-align: center; color: {TEXT};
    min-height: 16px;
}}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QTreeView, QListView {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; outline: none;
    alternate-background-color: #232326;
}}
QTreeView::item {{ padding: 3px 2px; }}
QTreeView::item:selected, QListView::item:selected {{ background: #34445c; color: white; }}
QTreeView::item:hover:!selected {{ background: #2a2a2e; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#heading {{ font-weight: 600; font-size: 11pt; }}
QToolTip {{ background: #3a3a3e; color: {TEXT}; border: 1px solid {BORDER}; }}
QMenu {{ background: {WINDOW}; border: 1px solid {BORDER}; }}
QMenu::item:selected {{ background: #34445c; }}
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: "#232326",
        QPalette.ColorRole.ToolTipBase: "#3a3a3e",
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#3a3a3e",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: "#7a7a80",
        QPalette.ColorRole.Mid: BORDER,
        QPalette.ColorRole.Dark: "#1a1a1c",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6d6d72"))
    return palette


def style_arguments() -> list[str]:
    """Command-line arguments that make a new QApplication start in :data:`STYLE`.

    Then :func:`apply_theme` can leave the style alone: ``app.setStyle()`` hands the style object
    to Python, and PySide building its type (a few dozen enums) costs ~4 ms of start-up.
    """
    return ["-style", STYLE]


def apply_theme(app: QApplication, *, set_style: bool = True) -> None:
    """Dark palette and style sheet; ``set_style=False`` when the app was made with :func:`style_arguments`."""
    if set_style:
        app.setStyle(STYLE)
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
