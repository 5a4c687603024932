"""IP2P Desktop: the PySide6 photo editor on top of ``ip2p_core``.

Importing this package must stay cheap (no torch, diffusers or transformers): the main window is
shown before any of them load, and the model loads in the background worker.
"""

from ip2p_core import __version__

APP_NAME = "IP2P Desktop"
ORG_NAME = "IP2P"
APP_ID = "ip2p-desktop"

__all__ = ["APP_NAME", "APP_ID", "ORG_NAME", "__version__"]
