"""Saving a project to a full disk or a read-only folder: a clear message, nothing lost."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ip2p_core.errors import ImageSaveError
from ip2p_core.session import EditSession

from .conftest import noise_image

REPO_ROOT = Path(__file__).resolve().parents[3]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(sessions_root, tmp_path, make_result):
    """A session saved once to target/p.ip2p, then edited again (so there is unsaved work)."""
    s = EditSession.create(noise_image(0), root=sessions_root)
    a = s.add_result(s.root_id, make_result(1))
    target = tmp_path / "target"
    target.mkdir()
    s.save_project(target / "p.ip2p")
    s.add_result(a.id, make_result(2, "add snow"))
    yield s, target / "p.ip2p"
    s.close()


def assert_nothing_lost(s: EditSession, project: Path, before: str, tmp_path: Path) -> None:
    assert digest(project) == before  # the previous project file is untouched...
    assert [p.name for p in project.parent.iterdir()] == ["p.ip2p"]  # ...and no temp file is left
    assert s.folder.is_dir() and s.dirty  # the session (the autosave) is untouched
    assert [n.instruction for n in s.nodes()] == ["", "make it winter", "add snow"]
    for node in s.nodes():
        s.image(node.id)
    s.save_project(tmp_path / "elsewhere.ip2p")  # and can still be saved somewhere else
    assert not s.dirty


def test_disk_full_while_writing(saved, tmp_path, monkeypatch):
    s, project = saved
    before = digest(project)
    real_copy = shutil.copyfileobj

    def fills_the_disk(src, dst, length=0):
        dst.write(src.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", fills_the_disk)  # zipfile copies members with it
    with pytest.raises(ImageSaveError) as caught:
        s.save_project(project)
    monkeypatch.setattr(shutil, "copyfileobj", real_copy)
    message = str(caught.value)
    assert "Not enough disk space" in message and "p.ip2p" in message and "\n" not in message
    assert_nothing_lost(s, project, before, tmp_path)


def test_disk_full_when_flushing(saved, tmp_path, monkeypatch):
    # Network and delayed-allocation filesystems may report a full disk only at fsync.
    s, project = saved
    before = digest(project)

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(ImageSaveError, match="Not enough disk space"):
        s.save_project(project)
    monkeypatch.undo()
    assert_nothing_lost(s, project, before, tmp_path)


def test_permission_denied(saved, tmp_path, monkeypatch):
    # What a read-only folder gives a normal user (root ignores permissions, so it is simulated here).
    s, project = saved
    before = digest(project)
    real_open = os.open

    def denied_in_target(path, flags, *args, **kwargs):
        if Path(path).parent == project.parent and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied_in_target)
    with pytest.raises(ImageSaveError, match="permission denied in .*target") as caught:
        s.save_project(project)
    monkeypatch.undo()
    assert "p.ip2p" in str(caught.value)
    assert_nothing_lost(s, project, before, tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(saved, tmp_path):
    s, project = saved
    before = digest(project)
    project.parent.chmod(0o555)
    try:
        with pytest.raises(ImageSaveError, match="permission denied|read-only") as caught:
            s.save_project(project)
        assert "p.ip2p" in str(caught.value)
    finally:
        project.parent.chmod(0o755)
    assert_nothing_lost(s, project, before, tmp_path)


def _private_mounts_available() -> bool:
    if not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _private_mounts_available(), reason="needs Linux user namespaces (unshare -rm) for a private mount")
@pytest.mark.parametrize("mode", ["full", "read-only"])
def test_real_full_and_read_only_filesystems(tmp_path, mode):
    """The same on real filesystems: a 1 MB tmpfs that fills up, and one remounted read-only."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1")
    run = subprocess.run(
        ["unshare", "-rm", sys.executable, "-m", "tests.core.session.fs_limits_worker", str(mount), str(tmp_path / "sessions"), mode],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    expected = "Not enough disk space" if mode == "full" else "read-only drive"
    assert report["error"] and expected in report["error"] and "p.ip2p" in report["error"]
    assert report["previous_intact"] and report["files_in_target"] == ["p.ip2p"]
    assert report["images_readable"] and report["dirty"] and report["autosave_exists"]
    assert report["elsewhere_nodes"] == report["n_nodes"]
