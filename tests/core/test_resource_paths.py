"""resource_path finds shipped data both from a source/installed tree and in a frozen bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import ip2p_core
from ip2p_core.resource_paths import resource_path


def test_points_into_the_package_when_not_frozen():
    expected = Path(ip2p_core.__file__).resolve().parent / "resources" / "sd15_ip2p" / "model_index.json"
    assert resource_path("sd15_ip2p", "model_index.json") == expected
    assert expected.is_file()


def test_points_into_the_bundle_when_frozen(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("sd15_ip2p", "tokenizer", "vocab.json") == (
        tmp_path / "ip2p_core" / "resources" / "sd15_ip2p" / "tokenizer" / "vocab.json"
    )


def test_frozen_flag_without_bundle_dir_falls_back_to_the_package(monkeypatch):
    # e.g. other freezers that set sys.frozen but keep files next to the modules
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert resource_path("sd15_ip2p").parent == Path(ip2p_core.__file__).resolve().parent / "resources"


def test_app_icons_are_found_through_the_same_helper(monkeypatch, tmp_path):
    from ip2p_core.resource_paths import package_resource

    assert package_resource("ip2p_desktop", "ip2p.png").is_file()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert package_resource("ip2p_desktop", "ip2p.png") == tmp_path / "ip2p_desktop" / "resources" / "ip2p.png"
