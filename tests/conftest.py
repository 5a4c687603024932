"""Suite-wide set-up: offline hub, headless Qt, a tiny model folder shared by all tests."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT / ".." / "shared").resolve()
PHOTOS = SHARED / "images" / "photos"
ODD = SHARED / "images" / "odd"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random-weight InstructPix2Pix model in the diffusers folder layout."""
    from ip2p_core.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    """One engine on the tiny model, loaded through the real folder loader (CPU, fp32)."""
    from ip2p_core.engine import EditEngine

    return EditEngine.load(str(tiny_model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    return PHOTOS


@pytest.fixture(scope="session")
def odd_dir() -> Path:
    return ODD
