"""Locate data files shipped inside the packages' ``resources/`` folders, installed or frozen.

PyInstaller bundles collect package data under the same ``<package>/resources/...`` layout inside
the bundle folder (``sys._MEIPASS``), so one relative path works in both cases. This is the one
resource helper of the project: the app finds its icons through :func:`package_resource` too.
"""

from __future__ import annotations

import sys
from pathlib import Path

_RESOURCES = "resources"


def package_resource(package: str, *parts: str) -> Path:
    """Path of ``<package>/resources/<parts...>`` (not checked for existence)."""
    bundle_dir = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle_dir:
        root = Path(bundle_dir) / package / _RESOURCES
    else:
        root = Path(__file__).resolve().parent.parent / package / _RESOURCES
    return root.joinpath(*parts)


def resource_path(*parts: str) -> Path:
    """Path of ``ip2p_core/resources/<parts...>``; it is not checked for existence."""
    return package_resource("ip2p_core", *parts)
