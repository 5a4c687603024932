"""The app's remembered choices (model, recent files and instructions, parameters, view options).

A thin typed layer over QSettings in INI format: lists and parameter sets are stored as JSON
strings, because QSettings turns a one-element list into a plain string on some back-ends.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ip2p_core.params import EditParams

from . import APP_ID, ORG_NAME

MAX_RECENT_FILES = 10
MAX_RECENT_INSTRUCTIONS = 25


def default_qsettings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG_NAME, APP_ID)


class AppSettings:
    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else default_qsettings()

    # --- plain values -----------------------------------------------------------------------
    def _get_json(self, key: str, default: Any) -> Any:
        raw = self._store.value(key)
        if raw is None:
            return default
        try:
            return json.loads(str(raw))
        except (TypeError, ValueError):
            return default

    def _set_json(self, key: str, value: Any) -> None:
        self._store.setValue(key, json.dumps(value, ensure_ascii=False))

    def _get_bool(self, key: str, default: bool) -> bool:
        raw = self._store.value(key)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in ("1", "true", "yes", "on")

    def sync(self) -> None:
        self._store.sync()

    # --- model --------------------------------------------------------------------------------
    @property
    def model_source(self) -> str:
        """Hub id, folder or checkpoint file chosen by the user; empty when never chosen."""
        return str(self._store.value("model/source", "") or "")

    @model_source.setter
    def model_source(self, value: str) -> None:
        self._store.setValue("model/source", value or "")

    # --- recent lists -------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return [str(p) for p in self._get_json("files/recent", []) if isinstance(p, str)]

    def add_recent_file(self, path: str) -> list[str]:
        files = [path] + [p for p in self.recent_files() if p != path]
        self._set_json("files/recent", files[:MAX_RECENT_FILES])
        return self.recent_files()

    def clear_recent_files(self) -> None:
        self._set_json("files/recent", [])

    def recent_instructions(self) -> list[str]:
        return [str(t) for t in self._get_json("instructions/recent", []) if isinstance(t, str)]

    def add_recent_instruction(self, text: str) -> list[str]:
        text = text.strip()
        if not text:
            return self.recent_instructions()
        items = [text] + [t for t in self.recent_instructions() if t != text]
        self._set_json("instructions/recent", items[:MAX_RECENT_INSTRUCTIONS])
        return self.recent_instructions()

    @property
    def last_folder(self) -> str:
        return str(self._store.value("files/last_folder", "") or "")

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._store.setValue("files/last_folder", value)

    # --- parameters -----------------------------------------------------------------------------
    def last_params(self) -> EditParams:
        """The parameters last used (without instruction); defaults when none or unreadable."""
        data = self._get_json("params/last", {})
        try:
            return EditParams.from_dict({**(data if isinstance(data, dict) else {}), "instruction": "-"}).validate()
        except Exception:  # noqa: BLE001 - a damaged settings file must never stop the app
            return EditParams(instruction="-")

    def set_last_params(self, params: EditParams) -> None:
        data = params.to_dict()
        data.pop("instruction", None)
        self._set_json("params/last", data)

    @property
    def random_seed(self) -> bool:
        return self._get_bool("params/random_seed", True)

    @random_seed.setter
    def random_seed(self, value: bool) -> None:
        self._store.setValue("params/random_seed", bool(value))

    # --- view ---------------------------------------------------------------------------------
    @property
    def compare_original(self) -> bool:
        return self._get_bool("view/compare_original", False)

    @compare_original.setter
    def compare_original(self, value: bool) -> None:
        self._store.setValue("view/compare_original", bool(value))

    @property
    def view_mode(self) -> str:
        mode = str(self._store.value("view/mode", "single") or "single")
        return mode if mode in ("single", "split", "side_by_side") else "single"

    @view_mode.setter
    def view_mode(self, value: str) -> None:
        self._store.setValue("view/mode", value)

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self._store.value("window/geometry")
        state = self._store.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
        self._store.setValue("window/state", state)
