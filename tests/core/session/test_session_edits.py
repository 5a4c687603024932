"""EditSession with synthetic results: durable edits, images on disk, tree operations, closing."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from PIL import Image

from ip2p_core.errors import ImageSaveError
from ip2p_core.metadata import read_provenance
from ip2p_core.params import EditParams
from ip2p_core.session import EditSession, list_recoverable_sessions
from ip2p_core.session import store as store_module

from .conftest import noise_image, pixels


def manifest_of(session: EditSession) -> dict:
    return json.loads((session.folder / "manifest.json").read_text("utf-8"))


@pytest.fixture
def session(sessions_root):
    s = EditSession.create(noise_image(0), source_path=Path("/photos/beach.jpg"), root=sessions_root)
    yield s
    s.close()


def test_create_stores_the_original_losslessly(sessions_root):
    original = noise_image(5, (120, 80), "RGBA")
    s = EditSession.create(original, root=sessions_root)
    try:
        assert s.folder.parent == sessions_root
        assert pixels(s.image(s.root_id)) == pixels(original)
        assert s.cursor == s.root_id and not s.can_undo() and not s.dirty
        assert s.nodes()[0].params is None
    finally:
        s.close()


def test_add_result_is_on_disk_before_it_returns(session, make_result):
    result = make_result(1, "make it winter")
    node = session.add_result(session.root_id, result, weights_hash="f00d")
    # Everything a restart needs is already in the folder: manifest entry and image file.
    recorded = {n["id"]: n for n in manifest_of(session)["nodes"]}
    assert recorded[node.id]["params"]["instruction"] == "make it winter"
    assert recorded[node.id]["weights_hash"] == "f00d"
    assert manifest_of(session)["cursor"] == node.id
    with Image.open(session.folder / node.image_file) as stored:
        assert pixels(stored.convert("RGB")) == pixels(result.image)
    assert session.cursor == node.id and session.dirty


def test_node_keeps_every_parameter_and_timing(session, make_result):
    result = make_result(7, "add snow", scheduler="ddim", text_guidance=5.5, image_guidance=1.2, negative="blur")
    node = session.add_result(session.root_id, result, weights_hash="abc123")
    assert node.params == result.params
    assert node.model_id == "tiny-test-model" and node.weights_hash == "abc123"
    assert node.timings == {"denoise": 0.25, "total": 0.5}
    assert (node.width, node.height) == (96, 64) and (node.working_width, node.working_height) == (64, 64)
    assert node.created > 0 and node.parent_id == session.root_id


def test_images_come_back_from_disk_bit_exact(session, make_result):
    results = [make_result(i) for i in range(1, 4)]
    parent = session.root_id
    ids = []
    for result in results:
        parent = session.add_result(parent, result).id
        ids.append(parent)
    for node_id, result in zip(ids, results):
        assert pixels(session.image(node_id)) == pixels(result.image)
    assert pixels(session.image(session.root_id)) == pixels(noise_image(0))


def test_thumbnails_are_small_and_cached_on_disk(sessions_root, make_result):
    s = EditSession.create(noise_image(0, (1200, 800)), root=sessions_root)
    try:
        node = s.add_result(s.root_id, make_result(1, size=(1200, 800)))
        thumb = s.thumbnail(node.id)
        assert max(thumb.size) == 256 and thumb.size == (256, 171)
        assert (s.folder / node.thumb_file).is_file()
        assert max(s.thumbnail(s.root_id).size) == 256
    finally:
        s.close()


def test_node_png_carries_its_chain(session, make_result):
    a = session.add_result(session.root_id, make_result(1, "make it winter"), weights_hash="abcdef")
    b = session.add_result(a.id, make_result(2, "add snow"))
    provenance = read_provenance(session.folder / b.image_file)
    assert [step.to_params() for step in provenance.chain] == session.chain(b.id)
    assert provenance.chain[0].weights_hash == "abcdef"
    assert session.provenance(b.id).to_dict() == provenance.to_dict()


def test_undo_redo_branch_and_delete_through_the_session(session, make_result):
    a = session.add_result(session.root_id, make_result(1, "a"))
    b = session.add_result(a.id, make_result(2, "b"))
    assert session.undo() == a.id
    c = session.add_result(a.id, make_result(3, "c"))  # a branch; "b" stays
    assert [n.id for n in session.children(a.id)] == [b.id, c.id]
    assert session.chain(c.id) == [EditParams("a", seed=1, steps=3, resolution=64), EditParams("c", seed=3, steps=3, resolution=64)]
    session.undo()
    assert session.redo() == c.id
    session.move_to(b.id)
    assert manifest_of(session)["cursor"] == b.id  # cursor moves are persisted too
    session.delete_branch(b.id)
    assert session.cursor == a.id
    assert not (session.folder / b.image_file).exists() and not (session.folder / b.thumb_file).exists()
    assert b.id not in {n["id"] for n in manifest_of(session)["nodes"]}
    with pytest.raises(ValueError):
        session.delete_branch(session.root_id)


def test_adding_to_a_deleted_parent_fails_cleanly(session, make_result):
    a = session.add_result(session.root_id, make_result(1))
    session.delete_branch(a.id)
    with pytest.raises(KeyError):
        session.add_result(a.id, make_result(2))
    assert list((session.folder / "nodes").iterdir()) == []


def test_full_disk_during_an_edit_leaves_the_session_unchanged(session, make_result, monkeypatch):
    a = session.add_result(session.root_id, make_result(1))
    before = manifest_of(session)
    real_write = store_module.SessionStore.write_manifest

    def disk_full(self, data):
        raise ImageSaveError("Not enough disk space to save the session's history; free some space.")

    monkeypatch.setattr(store_module.SessionStore, "write_manifest", disk_full)
    with pytest.raises(ImageSaveError, match="disk space"):
        session.add_result(a.id, make_result(2))
    monkeypatch.setattr(store_module.SessionStore, "write_manifest", real_write)
    assert [n.id for n in session.nodes()] == [session.root_id, a.id]
    assert session.cursor == a.id
    assert sorted(p.name for p in (session.folder / "nodes").iterdir()) == [f"{a.id}.png"]
    before.pop("modified")
    after = manifest_of(session)
    after.pop("modified")
    assert after == before


def test_full_disk_while_writing_the_image(session, make_result, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", no_space)
    with pytest.raises(ImageSaveError, match="disk space"):
        session.add_result(session.root_id, make_result(1))
    monkeypatch.undo()
    assert len(session.nodes()) == 1 and session.cursor == session.root_id
    assert [p for p in session.folder.rglob("*") if p.is_file() and ".tmp" in p.name] == []


def test_close_deletes_the_autosave_and_keep_autosave_keeps_it(sessions_root, make_result):
    s = EditSession.create(noise_image(0), root=sessions_root)
    s.add_result(s.root_id, make_result(1))
    assert list_recoverable_sessions(sessions_root) == []  # live: not offered
    s.close(keep_autosave=True)
    assert [r.folder for r in list_recoverable_sessions(sessions_root)] == [s.folder]

    t = EditSession.recover(s.folder)
    t.close()
    assert not s.folder.exists()
    assert list_recoverable_sessions(sessions_root) == []


def test_default_root_is_the_platform_app_data_folder(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda name, *a, **k: str(tmp_path / "appdata" / name))
    s = EditSession.create(noise_image(0))
    try:
        assert s.folder.parent == tmp_path / "appdata" / "ip2p-desktop" / "sessions"
    finally:
        s.close()


def test_edits_from_a_worker_thread_while_the_ui_moves_the_cursor(session, make_result):
    import threading

    added: list[str] = []

    def worker() -> None:
        parent = session.root_id
        for i in range(1, 6):
            parent = session.add_result(parent, make_result(i, f"step {i}")).id
            added.append(parent)

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():  # the UI thread clicking around the history meanwhile
        session.undo()
        session.redo()
    thread.join()
    assert [n.id for n in session.nodes()][1:] == added
    on_disk = manifest_of(session)
    assert [n["id"] for n in on_disk["nodes"]][1:] == added and on_disk["cursor"] == session.cursor
