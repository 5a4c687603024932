"""packaging/install.sh: install a bundle under a prefix, reinstall, and uninstall without leftovers.

Uses a fake bundle (two shell scripts standing in for the frozen programs), so it runs in a second.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGING = REPO_ROOT / "packaging"
INSTALL = PACKAGING / "install.sh"

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or shutil.which("bash") is None, reason="install.sh is for Linux (bash)"
)


def _fake_bundle(folder: Path) -> Path:
    """A folder laid out like dist/ip2p/, with programs that just say who they are."""
    folder.mkdir(parents=True)
    for name in ("ip2p", "ip2p-edit"):
        program = folder / name
        program.write_text(f"#!/bin/sh\necho {name} \"$@\"\n")
        program.chmod(0o755)
    (folder / "_internal").mkdir()
    (folder / "_internal" / "libexample.so").write_bytes(b"\0" * 16)
    shutil.copy(PACKAGING / "ip2p.desktop", folder / "ip2p.desktop")
    shutil.copy(REPO_ROOT / "ip2p_desktop" / "resources" / "ip2p.png", folder / "ip2p.png")
    shutil.copy(REPO_ROOT / "ip2p_desktop" / "resources" / "ip2p.svg", folder / "ip2p.svg")
    shutil.copy(INSTALL, folder / "install.sh")
    return folder


def _run(*args: str, env_extra: dict[str, str] | None = None, script: Path = INSTALL) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PREFIX", None)
    env.update(env_extra or {})
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=60)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read_string(path.read_text())
    return parser["Desktop Entry"]


def test_install_then_uninstall_leaves_nothing_behind(tmp_path):
    bundle = _fake_bundle(tmp_path / "bundle")
    prefix = tmp_path / "prefix with space"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "someone-elses-tool").write_text("#!/bin/sh\n")  # must survive the uninstall

    done = _run("--bundle", str(bundle), "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr

    lib = prefix / "lib" / "ip2p"
    for name in ("ip2p", "ip2p-edit"):
        link = prefix / "bin" / name
        assert link.is_symlink() and Path(os.readlink(link)) == lib / name
        assert subprocess.run([str(link), "--version"], capture_output=True, text=True).stdout.strip() == f"{name} --version"
    assert (lib / "_internal" / "libexample.so").is_file()
    assert (prefix / "share/icons/hicolor/256x256/apps/ip2p.png").is_file()
    assert (prefix / "share/icons/hicolor/scalable/apps/ip2p.svg").is_file()
    entry = _desktop_entry(prefix / "share/applications/ip2p.desktop")
    # An absolute, quoted path: ~/.local/bin is often missing from a graphical session's PATH.
    assert entry["Exec"].startswith(f'"{lib}/ip2p"')
    assert entry["TryExec"] == f"{lib}/ip2p"
    assert entry["Icon"] == "ip2p"

    done = _run("--uninstall", "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    assert _files_under(prefix) == ["bin/someone-elses-tool"]
    assert bundle.joinpath("ip2p").is_file()  # the source bundle is untouched


def test_install_from_inside_the_bundle_uses_PREFIX_and_reinstall_replaces(tmp_path):
    bundle = _fake_bundle(tmp_path / "ip2p")
    prefix = tmp_path / "home" / ".local"

    first = _run(env_extra={"PREFIX": str(prefix)}, script=bundle / "install.sh")
    assert first.returncode == 0, first.stderr
    installed = set(_files_under(prefix))

    (bundle / "_internal" / "new-in-v2.so").write_bytes(b"v2")
    (bundle / "_internal" / "libexample.so").unlink()
    second = _run(env_extra={"PREFIX": str(prefix)}, script=bundle / "install.sh")
    assert second.returncode == 0, second.stderr
    after = set(_files_under(prefix))
    assert "lib/ip2p/_internal/new-in-v2.so" in after
    assert "lib/ip2p/_internal/libexample.so" not in after  # no stale files from the old version
    assert len(after) == len(installed)
    assert not list((prefix / "lib").glob(".ip2p-installing*"))

    done = _run("--uninstall", env_extra={"PREFIX": str(prefix)}, script=bundle / "install.sh")
    assert done.returncode == 0, done.stderr
    assert _files_under(prefix) == []


def test_uninstall_refuses_a_folder_it_did_not_install(tmp_path):
    prefix = tmp_path / "prefix"
    foreign = prefix / "lib" / "ip2p"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("not ours")

    done = _run("--uninstall", "--prefix", str(prefix))
    assert done.returncode != 0
    assert "not installed by this script" in done.stderr
    assert (foreign / "precious.txt").is_file()


def test_uninstall_keeps_a_link_someone_repointed(tmp_path):
    bundle = _fake_bundle(tmp_path / "bundle")
    prefix = tmp_path / "prefix"
    assert _run("--bundle", str(bundle), "--prefix", str(prefix)).returncode == 0
    link = prefix / "bin" / "ip2p-edit"
    link.unlink()
    link.symlink_to(tmp_path / "elsewhere")

    done = _run("--uninstall", "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert not (prefix / "lib" / "ip2p").exists()


def test_install_without_a_bundle_says_what_to_do(tmp_path):
    done = _run("--bundle", str(tmp_path / "missing"), "--prefix", str(tmp_path / "prefix"))
    assert done.returncode != 0
    assert "does not exist" in done.stderr
    assert not (tmp_path / "prefix").exists()


def test_desktop_entry_is_valid():
    entry = _desktop_entry(PACKAGING / "ip2p.desktop")
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "ip2p"
    assert entry["Icon"] == "ip2p"
    assert entry["Terminal"] == "false"
    validator = shutil.which("desktop-file-validate")
    if validator:
        done = subprocess.run([validator, str(PACKAGING / "ip2p.desktop")], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
