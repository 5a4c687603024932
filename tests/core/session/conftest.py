"""Fixtures for session tests: a private sessions root and synthetic edit results."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from ip2p_core.params import EditParams, EditResult


def noise_image(seed: int, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """Random pixels: any lossy step or mix-up between nodes shows as a pixel difference."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    data = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    return Image.fromarray(data[..., 0] if bands == 1 else data, mode)


def image_digest(image: Image.Image) -> str:
    """A hash of mode, size and pixels: equal digests mean bit-exact images."""
    return hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()


def pixels(image: Image.Image) -> tuple[str, tuple[int, int], bytes]:
    return image.mode, image.size, image.tobytes()


@pytest.fixture
def sessions_root(tmp_path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def make_result() -> Callable[..., EditResult]:
    def make(seed: int, instruction: str = "make it winter", size: tuple[int, int] = (96, 64), **params) -> EditResult:
        return EditResult(
            image=noise_image(seed, size),
            working_image=noise_image(seed + 1000, (64, 64)),
            params=EditParams(instruction, seed=seed, steps=3, resolution=64, **params),
            model_id="tiny-test-model",
            timings={"denoise": 0.25, "total": 0.5},
        )

    return make
