"""Edit sessions: the edit tree, autosave to disk, project files, crash recovery and replay.

Never imports Qt. Images of a session live on disk (its folder under the app-data location),
not in memory; see :class:`EditSession`.
"""

from __future__ import annotations

from .project import PROJECT_SUFFIX
from .recovery import RecoverableSession, discard_session, list_recoverable_sessions, remove_empty_sessions
from .replay import load_chain, replay_chain
from .session import EditSession
from .store import default_sessions_root
from .tree import ROOT_ID, EditNode, EditTree

__all__ = [
    "EditSession",
    "EditNode",
    "EditTree",
    "ROOT_ID",
    "PROJECT_SUFFIX",
    "RecoverableSession",
    "list_recoverable_sessions",
    "discard_session",
    "remove_empty_sessions",
    "replay_chain",
    "load_chain",
    "default_sessions_root",
]
