"""Atomic writes: the destination is either the old file or the complete new one, never half."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from ip2p_core.atomic import atomic_output, atomic_write_bytes, atomic_write_text
from ip2p_core.errors import ImageSaveError, ProjectFileError


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_bytes_creates_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    written = atomic_write_bytes(target, b"hello")
    assert written == target
    assert target.read_bytes() == b"hello"
    assert _entries(tmp_path) == ["out.bin"]


def test_write_text_is_utf8_without_newline_translation(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "winter ❄\nline two\n")
    assert target.read_bytes() == "winter ❄\nline two\n".encode("utf-8")


def test_overwrite_replaces_content_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _entries(tmp_path) == ["out.bin"]


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
def test_new_file_follows_umask_not_private_temp_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "shared.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.bin").stat().st_mode) == 0o644


def test_temp_file_is_in_same_folder_with_requested_suffix(tmp_path: Path) -> None:
    target = tmp_path / "image.png"
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path
        assert temp.suffix == ".png"
        assert temp != target
        temp.write_bytes(b"png")
    with atomic_output(target, suffix=".part") as temp:
        assert temp.suffix == ".part"
        temp.write_bytes(b"png2")
    assert target.read_bytes() == b"png2"
    assert _entries(tmp_path) == ["image.png"]


def test_error_in_block_removes_temp_keeps_old_file_and_propagates(tmp_path: Path) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match="encoder failed"):
        with atomic_output(target) as temp:
            temp.write_bytes(b"half written")
            raise ValueError("encoder failed")
    assert target.read_bytes() == b"previous"
    assert _entries(tmp_path) == ["keep.bin"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "out.png"
    with pytest.raises(ImageSaveError) as info:
        atomic_write_bytes(target, b"x")
    message = str(info.value)
    assert "does not exist" in message and "\n" not in message
    assert not (tmp_path / "no").exists()


def test_file_where_a_folder_is_expected(tmp_path: Path) -> None:
    blocker = tmp_path / "actually_a_file"
    blocker.write_bytes(b"")
    with pytest.raises(ImageSaveError, match="is a file, not a folder"):
        atomic_write_bytes(blocker / "out.png", b"x")


def test_target_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(ImageSaveError, match="folder"):
        atomic_write_bytes(tmp_path / "out.png", b"x")
    assert _entries(tmp_path) == ["out.png"]
    assert (tmp_path / "out.png").is_dir()


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied"), (errno.ENOSPC, "disk space")],
)
def test_failing_rename_keeps_previous_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"previous")

    def refuse(src: str, dst: str) -> None:
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ImageSaveError) as info:
        atomic_write_bytes(target, b"new")
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert target.read_bytes() == b"previous"
    assert _entries(tmp_path) == ["result.png"]


def test_disk_full_during_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"previous")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ImageSaveError, match="Not enough disk space"):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"previous"
    assert _entries(tmp_path) == ["result.png"]


def test_disk_full_while_writing_in_block(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="Not enough disk space"):
        with atomic_output(tmp_path / "x.png") as temp:
            temp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert _entries(tmp_path) == []


def test_read_only_folder_when_creating_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def read_only(path, flags, mode=0o777, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ImageSaveError, match="read-only"):
        atomic_write_bytes(tmp_path / "x.png", b"x")
    assert _entries(tmp_path) == []


def test_error_class_is_chosen_by_caller(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="the project"):
        atomic_write_bytes(tmp_path / "missing" / "p.ip2p", b"{}", error_cls=ProjectFileError, what="the project")


@pytest.mark.skipif(os.name != "posix", reason="directory fsync is POSIX-only")
def test_data_is_flushed_before_rename_and_folder_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("dir-fsync" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file-fsync")
        real_fsync(fd)

    def replace(src, dst):  # type: ignore[no-untyped-def]
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert events == ["file-fsync", "replace", "dir-fsync"]


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
def test_writing_through_a_symlink_updates_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"
