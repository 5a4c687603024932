"""Locate data files shipped inside ``ip2p_core/resources/``, installed or frozen.

PyInstaller bundles collect the package data under the same ``ip2p_core/resources/...`` layout
inside the bundle folder (``sys._MEIPASS``), so one relative path works in both cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = "ip2p_core"
_RESOURCES = "resources"


def _resources_root() -> Path:
    bundle_dir = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle_dir:
        return Path(bundle_dir) / _PACKAGE / _RESOURCES
    return Path(__file__).resolve().parent / _RESOURCES


def resource_path(*parts: str) -> Path:
    """Path of ``ip2p_core/resources/<parts...>``; it is not checked for existence."""
    return _resources_root().joinpath(*parts)
