"""Listing, restoring and cleaning up abandoned sessions (without killing processes)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ip2p_core.errors import ProjectFileError
from ip2p_core.session import EditSession, discard_session, list_recoverable_sessions, remove_empty_sessions

from .conftest import noise_image, pixels


def abandoned(root: Path, make_result, n_edits: int = 2, name: str = "photo.jpg") -> tuple[EditSession, list[str]]:
    """A session left behind as a crash would leave it (closed without deleting its folder)."""
    s = EditSession.create(noise_image(0), source_path=Path("/photos") / name, root=root)
    parent = s.root_id
    ids = []
    for i in range(n_edits):
        parent = s.add_result(parent, make_result(i + 1, f"edit {i + 1}")).id
        ids.append(parent)
    s.close(keep_autosave=True)
    return s, ids


def test_listing_describes_each_abandoned_session(sessions_root, make_result):
    old, _ = abandoned(sessions_root, make_result, 2, "old.jpg")
    time.sleep(0.02)
    new, _ = abandoned(sessions_root, make_result, 3, "new.jpg")
    live = EditSession.create(noise_image(1), root=sessions_root)
    live.add_result(live.root_id, make_result(9))
    try:
        found = list_recoverable_sessions(sessions_root)
        assert [(f.folder, f.n_edits, f.source_name) for f in found] == [(new.folder, 3, "new.jpg"), (old.folder, 2, "old.jpg")]
        assert all(f.unsaved_changes and f.project_path is None for f in found)
        assert found[0].last_modified >= found[0].created > 0
    finally:
        live.close()
    assert list_recoverable_sessions(sessions_root / "nowhere") == []


def test_saved_session_is_listed_as_saved(sessions_root, make_result, tmp_path):
    s = EditSession.create(noise_image(0), root=sessions_root)
    s.add_result(s.root_id, make_result(1))
    s.save_project(tmp_path / "done.ip2p")
    s.close(keep_autosave=True)
    (found,) = list_recoverable_sessions(sessions_root)
    assert not found.unsaved_changes and found.project_path == (tmp_path / "done.ip2p").resolve()


def test_stale_lock_of_a_dead_process_does_not_hide_a_session(sessions_root, make_result):
    s, ids = abandoned(sessions_root, make_result)
    (s.folder / "session.lock").write_text(json.dumps({"pid": 999_999_999, "host": "x", "started": 0}))
    assert [f.folder for f in list_recoverable_sessions(sessions_root)] == [s.folder]
    r = EditSession.recover(s.folder)
    assert [n.id for n in r.nodes()][1:] == ids
    r.close()


def test_a_session_cannot_be_recovered_twice_at_once(sessions_root, make_result):
    s, _ = abandoned(sessions_root, make_result)
    first = EditSession.recover(s.folder)
    try:
        assert list_recoverable_sessions(sessions_root) == []
        with pytest.raises(ProjectFileError, match="open in another"):
            EditSession.recover(s.folder)
        with pytest.raises(ProjectFileError, match="open in another"):
            discard_session(s.folder)
    finally:
        first.close()


def test_recovery_removes_leftovers_and_never_resurrects_them(sessions_root, make_result):
    s, ids = abandoned(sessions_root, make_result)
    # An interrupted edit (image written, manifest not) and an interrupted atomic write.
    (s.folder / "nodes" / "nffffffffffff.png").write_bytes((s.folder / "nodes" / f"{ids[0]}.png").read_bytes())
    (s.folder / ".manifest.json.1234abcd.tmp.json").write_text("{")
    r = EditSession.recover(s.folder)
    try:
        assert [n.id for n in r.nodes()][1:] == ids and r.open_warnings == []
        assert not (s.folder / "nodes" / "nffffffffffff.png").exists()
        assert not list(s.folder.glob(".*tmp*"))
    finally:
        r.close()


def test_recovery_checks_every_image_against_its_hash(sessions_root, make_result):
    s, ids = abandoned(sessions_root, make_result, 3)
    damaged = s.folder / "nodes" / f"{ids[2]}.png"
    damaged.write_bytes(damaged.read_bytes()[:-50] + bytes(50))  # e.g. a torn write on power loss
    r = EditSession.recover(s.folder)
    try:
        assert [n.id for n in r.nodes()][1:] == ids[:2]
        assert r.cursor == ids[1]
        assert pixels(r.image(ids[1])) == pixels(make_result(2).image)
        assert any("edit 3" in w for w in r.open_warnings)
    finally:
        r.close()


def test_lost_manifest_is_rebuilt_from_the_node_images(sessions_root, make_result):
    s, ids = abandoned(sessions_root, make_result, 3)
    (s.folder / "manifest.json").unlink()
    assert [f.n_edits for f in list_recoverable_sessions(sessions_root)] == [3]
    r = EditSession.recover(s.folder)
    try:
        assert [n.id for n in r.nodes()][1:] == ids
        assert [p.instruction for p in r.chain(ids[2])] == ["edit 1", "edit 2", "edit 3"]
        assert pixels(r.image(r.root_id)) == pixels(noise_image(0))
        assert any("rebuilt" in w for w in r.open_warnings)
    finally:
        r.close()


def test_session_from_a_newer_app_is_left_alone(sessions_root, make_result):
    s, _ = abandoned(sessions_root, make_result)
    manifest = json.loads((s.folder / "manifest.json").read_text())
    (s.folder / "manifest.json").write_text(json.dumps(dict(manifest, format_version=99)))
    assert list_recoverable_sessions(sessions_root) == []
    with pytest.raises(ProjectFileError, match="newer version"):
        EditSession.recover(s.folder)
    assert remove_empty_sessions(sessions_root) == 0 and s.folder.is_dir()


def test_discard_and_clean_up(sessions_root, make_result):
    kept, _ = abandoned(sessions_root, make_result, 1)
    discarded, _ = abandoned(sessions_root, make_result, 1)
    empty, _ = abandoned(sessions_root, make_result, 0)
    live = EditSession.create(noise_image(3), root=sessions_root)
    try:
        discard_session(discarded.folder)
        assert not discarded.folder.exists()
        old = time.time() - 3600
        for folder in (kept.folder, empty.folder, live.folder):
            os.utime(folder, (old, old))
        assert remove_empty_sessions(sessions_root) == 1
        assert not empty.folder.exists() and kept.folder.is_dir() and live.folder.is_dir()
    finally:
        live.close()
