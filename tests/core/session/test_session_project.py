"""Project files: save -> open round trip, newer versions, damaged files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from ip2p_core.errors import ProjectFileError
from ip2p_core.metadata import ChainStep, Provenance
from ip2p_core.session import EditSession, load_chain

from .conftest import noise_image, pixels


EXIF = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"


@pytest.fixture
def branched(sessions_root, make_result):
    """root -> a -> b -> c, and a -> x (cursor on b, view set)."""
    prior = Provenance(chain=[ChainStep("make it sunny", seed=5, width=512, height=512, model="m")])
    s = EditSession.create(
        noise_image(0, (96, 64), "RGBA"), source_path=Path("/p/cat.png"), root=sessions_root, exif=EXIF, prior=prior
    )
    a = s.add_result(s.root_id, make_result(1, "make it winter"), weights_hash="w1")
    b = s.add_result(a.id, make_result(2, "add snow", scheduler="ddim"))
    c = s.add_result(b.id, make_result(3, "turn the car red"))
    s.move_to(a.id)
    x = s.add_result(a.id, make_result(4, "make it a painting", negative="blurry"))
    s.move_to(b.id)
    s.set_view({"zoom": 2.5, "compare": "split"})
    ids = {"a": a.id, "b": b.id, "c": c.id, "x": x.id}
    yield s, ids
    s.close()


def open_all(path: Path, root: Path) -> EditSession:
    return EditSession.open_project(path, root=root)


def test_round_trip_keeps_pixels_parameters_tree_cursor_and_view(branched, sessions_root, tmp_path):
    s, ids = branched
    path = tmp_path / "holiday.ip2p"
    s.save_project(path)
    assert not s.dirty and s.project_path == path.resolve()

    t = open_all(path, sessions_root)
    try:
        assert t.folder != s.folder and t.open_warnings == []
        assert [n.id for n in t.nodes()] == [n.id for n in s.nodes()]
        for old, new in zip(s.nodes(), t.nodes()):
            assert new.to_dict() == old.to_dict()
            assert pixels(t.image(new.id)) == pixels(s.image(old.id))
            assert pixels(t.thumbnail(new.id)) == pixels(s.thumbnail(old.id))
        assert t.cursor == ids["b"]
        assert t.view == {"zoom": 2.5, "compare": "split"}
        assert t.source_name == "cat.png"
        assert t.original_exif == EXIF
        provenance = t.provenance(ids["c"])
        assert [step.instruction for step in provenance.chain] == [
            "make it sunny", "make it winter", "add snow", "turn the car red"
        ]
        assert provenance.to_dict() == s.provenance(ids["c"]).to_dict()
        assert [p.instruction for p in t.chain(ids["c"])] == ["make it winter", "add snow", "turn the car red"]
        assert t.project_path == path.resolve() and not t.dirty
        t.move_to(t.root_id)
        assert [t.redo() for _ in range(2)] == [ids["a"], ids["b"]]  # redo memory survives too
    finally:
        t.close()


def test_project_is_one_zip_with_manifest_first(branched, tmp_path):
    s, _ = branched
    path = tmp_path / "p.ip2p"
    s.save_project(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert names[0] == "manifest.json" and "original.png" in names
    assert sum(n.startswith("nodes/") for n in names) == 4 and sum(n.startswith("thumbs/") for n in names) == 5
    assert manifest["format"] == "ip2p-project" and manifest["format_version"] == 1


def test_save_adds_the_extension_and_overwrites_atomically(branched, tmp_path, make_result):
    s, ids = branched
    s.save_project(tmp_path / "work")
    assert (tmp_path / "work.ip2p").is_file()
    s.add_result(ids["c"], make_result(9, "add snow"))
    assert s.dirty
    s.save_project(tmp_path / "work.ip2p")
    assert len(load_chain(tmp_path / "work.ip2p")) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name != "sessions"] == ["work.ip2p"]  # no temp left


def test_autosave_outlives_a_save_and_goes_only_at_close(branched, tmp_path):
    s, _ = branched
    s.save_project(tmp_path / "p.ip2p")
    assert s.folder.is_dir()
    s.close()
    assert not s.folder.exists()


def test_newer_format_version_gives_a_clear_message(branched, sessions_root, tmp_path):
    s, _ = branched
    path = tmp_path / "p.ip2p"
    s.save_project(path)
    rewrite_member(path, "manifest.json", lambda raw: json.dumps(dict(json.loads(raw), format_version=7)).encode())
    before = set(sessions_root.iterdir())
    with pytest.raises(ProjectFileError, match="newer version of IP2P Desktop.*update the app"):
        open_all(path, sessions_root)
    assert set(sessions_root.iterdir()) == before  # nothing half-opened left behind
    with pytest.raises(ProjectFileError, match="newer version"):
        load_chain(path)


def test_not_a_project(sessions_root, tmp_path):
    junk = tmp_path / "junk.ip2p"
    junk.write_bytes(b"this is not a zip file at all" * 100)
    with pytest.raises(ProjectFileError, match="not an IP2P project"):
        open_all(junk, sessions_root)
    other_zip = tmp_path / "other.ip2p"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else", "format_version": 1}))
    with pytest.raises(ProjectFileError, match="not an IP2P project"):
        open_all(other_zip, sessions_root)
    with pytest.raises(ProjectFileError, match="does not exist"):
        open_all(tmp_path / "missing.ip2p", sessions_root)


def test_truncated_project_opens_what_is_intact(branched, sessions_root, tmp_path):
    s, ids = branched
    path = tmp_path / "p.ip2p"
    s.save_project(path)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    # Cut in the middle of the third edit's image: manifest, original, a, b survive.
    cut = infos[f"nodes/{ids['c']}.png"].header_offset + 100
    path.write_bytes(data[:cut])

    t = open_all(path, sessions_root)
    try:
        intact = {t.root_id, ids["a"], ids["b"]}
        assert {n.id for n in t.nodes()} == intact
        for node_id in intact:
            assert pixels(t.image(node_id)) == pixels(s.image(node_id))
        assert t.cursor == ids["b"]
        text = " ".join(t.open_warnings)
        assert "damaged" in text and "turn the car red" in text and "make it a painting" in text
        assert t.dirty  # the repaired version is not what is on disk
    finally:
        t.close()


def test_corrupt_image_of_a_middle_edit_keeps_its_settings(branched, sessions_root, tmp_path):
    s, ids = branched
    path = tmp_path / "p.ip2p"
    s.save_project(path)
    rewrite_member(path, f"nodes/{ids['b']}.png", lambda raw: raw[:200] + bytes(len(raw) - 200))

    t = open_all(path, sessions_root)
    try:
        assert len(t.nodes()) == 5
        assert t.node(ids["b"]).image_missing
        with pytest.raises(ProjectFileError, match="lost"):
            t.image(ids["b"])
        assert t.thumbnail(ids["b"]).size[0] > 0  # a placeholder, not an error
        assert pixels(t.image(ids["c"])) == pixels(s.image(ids["c"]))
        assert t.chain(ids["c"]) == s.chain(ids["c"])
        assert any("add snow" in w and "settings were kept" in w for w in t.open_warnings)
        # The repaired project saves and reopens.
        t.save_project(tmp_path / "repaired.ip2p")
        u = open_all(tmp_path / "repaired.ip2p", sessions_root)
        assert u.node(ids["b"]).image_missing and pixels(u.image(ids["c"])) == pixels(s.image(ids["c"]))
        u.close()
    finally:
        t.close()


def test_damaged_manifest_is_rebuilt_from_the_images(branched, sessions_root, tmp_path):
    s, ids = branched
    path = tmp_path / "p.ip2p"
    s.save_project(path)
    rewrite_member(path, "manifest.json", lambda raw: b"{ not json")

    t = open_all(path, sessions_root)
    try:
        assert {n.id for n in t.nodes()} == {n.id for n in s.nodes()}
        for node in s.nodes():
            assert t.node(node.id).params == node.params
            assert pixels(t.image(node.id)) == pixels(s.image(node.id))
        assert any("rebuilt" in w for w in t.open_warnings)
    finally:
        t.close()


def test_crafted_ids_cannot_write_outside_the_session(sessions_root, tmp_path):
    path = tmp_path / "evil.ip2p"
    evil = {
        "format": "ip2p-project",
        "format_version": 1,
        "cursor": "root",
        "nodes": [
            {"id": "root", "parent_id": None, "params": None, "image_file": "../../../escaped.png"},
            {"id": "../../escaped", "parent_id": "root", "params": {"instruction": "x"}, "image_file": "../../escaped.png"},
        ],
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(evil))
        archive.writestr("original.png", _png_bytes())
        archive.writestr("../../escaped.png", _png_bytes())
    t = open_all(path, sessions_root)
    try:
        assert [n.id for n in t.nodes()] == ["root"]
        assert not list(tmp_path.rglob("escaped.png"))
    finally:
        t.close()


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    noise_image(3).save(buffer, format="PNG")
    return buffer.getvalue()


def rewrite_member(path: Path, member: str, change) -> None:
    """Rewrite one member of a zip in place (same order), as damage or a newer app would."""
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, raw in items:
            if info.filename == member:
                raw = change(raw)
            archive.writestr(info, raw)
