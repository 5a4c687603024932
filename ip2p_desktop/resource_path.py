"""Find files shipped in ``ip2p_desktop/resources`` both from a source checkout and when frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_file(name: str) -> Path:
    here = Path(__file__).resolve().parent / "resources" / name
    if here.exists():
        return here
    # PyInstaller unpacks data next to the executable under sys._MEIPASS.
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        frozen = Path(bundle) / "ip2p_desktop" / "resources" / name
        if frozen.exists():
            return frozen
    return here
