"""User-facing error types.

Every error a person can cause (bad file, missing model, bad flag) is raised as an
:class:`IP2PError` whose message is one plain sentence saying what is wrong and what to do.
The CLI prints that line; the app shows it in a dialog. Anything else is a bug.
"""

from __future__ import annotations


class IP2PError(Exception):
    """Base class: ``str(err)`` is a one-line message fit to show a user."""


class ImageLoadError(IP2PError):
    """An input image could not be read (missing, corrupt, truncated, too large, ...)."""


class ImageSaveError(IP2PError):
    """An output image or project could not be written (disk full, read-only, bad format)."""


class ModelLoadError(IP2PError):
    """The model could not be found, downloaded or loaded."""


class InvalidParameterError(IP2PError):
    """An edit parameter is out of range or unknown."""


class EditCancelled(IP2PError):
    """The edit was cancelled by the user; no partial result exists."""


class OutOfMemoryError(IP2PError):
    """The device ran out of memory even with every memory saver switched on."""


class ProjectFileError(IP2PError):
    """A project file is damaged, or from a newer version of the app."""
