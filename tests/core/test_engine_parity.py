"""The engine reproduces diffusers' reference InstructPix2Pix pipeline on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ip2p_core.engine import EditEngine
from ip2p_core.params import EditParams


@pytest.fixture(scope="module")
def reference_pipeline(tiny_model_dir):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
        tiny_model_dir, safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def photo_128(photos_dir) -> Image.Image:
    return Image.open(photos_dir / "astronaut.png").convert("RGB").resize((128, 128), Image.LANCZOS)


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean() / 255.0)


@pytest.mark.parametrize(
    "text_guidance,image_guidance",
    [(7.5, 1.5), (7.5, 1.0), (3.0, 2.0)],
)
def test_matches_diffusers_pipeline(tiny_engine, reference_pipeline, photo_128, text_guidance, image_guidance):
    params = EditParams("make it winter", steps=4, seed=1234, text_guidance=text_guidance,
                        image_guidance=image_guidance, resolution=128)
    ours = tiny_engine.edit(photo_128, params)
    reference = reference_pipeline(
        "make it winter",
        image=photo_128,
        num_inference_steps=4,
        guidance_scale=text_guidance,
        image_guidance_scale=image_guidance,
        generator=torch.Generator("cpu").manual_seed(1234),
    ).images[0]
    assert ours.image.size == reference.size == (128, 128)
    diff = _mean_abs_diff(ours.image, reference)
    assert diff <= 1 / 255, f"mean abs diff {diff * 255:.4f}/255"
    # Different seeds must give visibly different pictures, or the comparison proves nothing.
    other = tiny_engine.edit(photo_128, params.replace(seed=99))
    assert _mean_abs_diff(other.image, reference) > 2 * diff


def test_image_guidance_one_skips_uncond_branch(tiny_engine, photo_128, monkeypatch):
    calls = []
    unet = tiny_engine.components.unet
    original_forward = unet.forward

    def counting_forward(sample, *args, **kwargs):
        calls.append(sample.shape[0])
        return original_forward(sample, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", counting_forward)
    tiny_engine.edit(photo_128, EditParams("make it winter", steps=2, seed=1, image_guidance=1.0, resolution=128))
    assert calls == [2, 2]
    calls.clear()
    tiny_engine.edit(photo_128, EditParams("make it winter", steps=2, seed=1, resolution=128))
    assert calls == [3, 3]


def test_new_seed_reuses_encoders(tiny_engine, photo_128):
    params = EditParams("turn the car red", steps=2, seed=5, resolution=128)
    tiny_engine.clear_caches()
    first = tiny_engine.edit(photo_128, params)
    again = tiny_engine.edit(photo_128, params.replace(seed=6, text_guidance=5.0))
    assert first.cache_hits == {"instruction": False, "image": False}
    assert again.cache_hits == {"instruction": True, "image": True}
    assert np.abs(np.asarray(first.image, np.int16) - np.asarray(again.image, np.int16)).max() > 0


def test_same_seed_reproduces(tiny_engine, photo_128):
    params = EditParams("add snow", steps=3, seed=42, resolution=128)
    a = tiny_engine.edit(photo_128, params)
    b = tiny_engine.edit(photo_128, params)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.params.seed == 42


def test_random_seed_is_recorded(tiny_engine, photo_128):
    result = tiny_engine.edit(photo_128, EditParams("add snow", steps=1, resolution=128))
    assert isinstance(result.params.seed, int)
    again = tiny_engine.edit(photo_128, result.params)
    assert np.array_equal(np.asarray(result.image), np.asarray(again.image))
