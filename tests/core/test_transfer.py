"""Edits made at working resolution come back at the photo's size with the photo's own detail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ip2p_core.errors import InvalidParameterError
from ip2p_core.resolution import to_working
from ip2p_core.transfer import match_colors, transfer_edit

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "images" / "photos"


def grainy_photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A real photo enlarged to ``size`` plus film grain: detail far finer than any working size.

    Its tones are squeezed into 40..210 so that test edits of a few tens of levels never clip.
    """
    photo = Image.open(PHOTOS / "coffee.png").convert("RGB").resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    pixels = 40.0 + 0.66 * np.asarray(photo, dtype=np.float32)
    pixels += rng.normal(0.0, 8.0, (size[1], size[0], 1)).astype(np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def synthetic(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Smooth gradients plus grain, for shapes no photo has (slivers, panoramas, 1x1)."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = np.stack([60 + 120 * x + 0 * y, 80 + 100 * y + 0 * x, 150 - 60 * x * y], axis=2)
    pixels = base + rng.normal(0.0, 8.0, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def shift_region(image: Image.Image, box: tuple[int, int, int, int], delta: tuple[float, float, float]) -> Image.Image:
    """A working-resolution "edit": add ``delta`` to the colour inside ``box``."""
    pixels = arr(image).copy()
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] += np.array(delta, np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def low_pass(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Block means over factor x factor tiles."""
    h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    return pixels[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))


def high_pass(image: Image.Image) -> np.ndarray:
    luma = image.convert("L")
    return arr(luma) - arr(luma.filter(ImageFilter.BoxBlur(2)))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return grainy_photo((1600, 1200))


# --------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "size",
    [(2000, 1500), (900, 1600), (700, 700), (4000, 16), (16, 4000), (1, 1), (3, 2), (300, 200), (16000, 300)],
    ids=["landscape", "portrait", "square", "sliver", "tall-sliver", "1x1", "3x2", "smaller-than-working", "panorama"],
)
def test_output_has_the_original_size_and_identity_edit_returns_the_original(size):
    original = synthetic(size)
    source = to_working(original, 512)
    edited = shift_region(source, (0, 0, source.width // 2, source.height), (30, -20, 10))
    out = transfer_edit(original, source, edited)
    assert out.size == original.size and out.mode == "RGB"

    same = transfer_edit(original, source, source.copy())
    assert same.size == original.size
    diff = np.abs(arr(same) - arr(original))
    assert diff.max() <= 1.0


def test_identity_edit_is_exact_for_a_photo(photo):
    source = to_working(photo, 512)
    for method in ("guided", "difference"):
        out = transfer_edit(photo, source, source.copy(), method=method)
        assert np.array_equal(np.asarray(out), np.asarray(photo))


def test_near_identity_edit_stays_within_one_level(photo):
    # The model's output is never bit-identical: +-1 level of rounding noise must not show up.
    source = to_working(photo, 512)
    noise = np.random.default_rng(5).integers(-1, 2, (source.height, source.width, 3))
    jittered = Image.fromarray(np.clip(np.asarray(source, dtype=np.int16) + noise, 0, 255).astype(np.uint8))
    for method in ("guided", "difference"):
        diff = np.abs(arr(transfer_edit(photo, source, jittered, method=method)) - arr(photo))
        assert diff.mean() < 0.1 and diff.max() <= 1.0


# --------------------------------------------------------------------------------------- detail and edit


def test_fine_detail_is_kept_and_the_colour_edit_lands_only_in_its_region(photo):
    source = to_working(photo, 512)  # 512x384; one working px is ~3 photo px
    edited = shift_region(source, (64, 64, 256, 256), (40.0, 0.0, -30.0))
    out = transfer_edit(photo, source, edited)

    # The fine detail (grain, texture finer than the working resolution) is the original's.
    assert correlation(high_pass(out), high_pass(photo)) >= 0.95
    # A naive upscale loses it: the test can tell the difference.
    naive = transfer_edit(photo, source, edited, method="upscale")
    assert correlation(high_pass(naive), high_pass(photo)) < 0.5

    # Low frequencies follow the edit: +40 red / -30 blue inside the region, nothing outside.
    change = low_pass(arr(out) - arr(photo), 50)  # 32x24 tiles of 50x50 px
    scale = photo.width / source.width
    inside = change[int(80 * scale / 50) : int(240 * scale / 50), int(80 * scale / 50) : int(240 * scale / 50)]
    assert np.allclose(inside.mean(axis=(0, 1)), [40.0, 0.0, -30.0], atol=3.0)
    outside = np.concatenate([change[:, int(290 * scale / 50) :].reshape(-1, 3), change[int(290 * scale / 50) :, :].reshape(-1, 3)])
    assert np.abs(outside).max() < 2.0


def test_vae_softening_outside_the_edit_is_not_carried_over(photo):
    source = to_working(photo, 512)
    # The model's VAE softens everything a little and shifts noise around; one region is edited.
    softened = arr(source.filter(ImageFilter.GaussianBlur(0.8)))
    softened += np.random.default_rng(1).normal(0.0, 2.5, softened.shape).astype(np.float32)
    model_out = shift_region(Image.fromarray(np.clip(softened + 0.5, 0, 255).astype(np.uint8)), (300, 200, 480, 360), (0, 50, 0))
    out = arr(transfer_edit(photo, source, model_out))
    plain = arr(transfer_edit(photo, source, model_out, change_threshold=0.0))

    scale = photo.width / source.width
    away = (slice(0, int(150 * scale)), slice(0, int(250 * scale)))  # far from the edited region
    err_default = np.abs(out[away] - arr(photo)[away]).mean()
    err_plain = np.abs(plain[away] - arr(photo)[away]).mean()
    assert err_default < 1.5  # the original's own pixels, bar the low-pass of the noise
    assert err_plain > 2 * err_default
    # ...while the edit itself arrives.
    region = (slice(int(230 * scale), int(340 * scale)), slice(int(320 * scale), int(460 * scale)))
    assert (out[region] - arr(photo)[region])[..., 1].mean() > 40


def test_replaced_content_does_not_ghost_the_original_detail(photo):
    source = to_working(photo, 512)
    pixels = arr(source).copy()
    pixels[100:300, 150:350] = (40, 160, 90)  # the model painted a flat green object here
    model_out = Image.fromarray(pixels.astype(np.uint8))
    scale = photo.width / source.width
    inner = (slice(int(130 * scale), int(270 * scale)), slice(int(180 * scale), int(320 * scale)))

    guided = arr(transfer_edit(photo, source, model_out))
    difference = arr(transfer_edit(photo, source, model_out, method="difference"))
    # The plain difference transfer lets the coffee cup's texture show through the new object.
    assert guided[inner].std(axis=(0, 1)).max() < 0.6 * difference[inner].std(axis=(0, 1)).max()
    assert np.allclose(guided[inner].mean(axis=(0, 1)), (40, 160, 90), atol=4)


def test_edited_region_edge_follows_the_photo_edge():
    # Orange on the left of x = 437 (not on any working-pixel boundary), grey-green on the right.
    w, h = 1200, 900
    rng = np.random.default_rng(3)
    pixels = np.empty((h, w, 3), np.float32)
    pixels[:, :437] = (220, 150, 40)
    pixels[:, 437:] = (90, 110, 100)
    pixels += rng.normal(0.0, 5.0, (h, w, 1)).astype(np.float32)
    original = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    truth = arr(original).copy()
    truth[:, :437] = truth[:, :437, ::-1]  # "make the orange thing blue"
    source = to_working(original, 512)
    edited = arr(source).copy()
    orange = edited[..., 0] > edited[..., 2] + 40
    edited[orange] = edited[orange][:, ::-1]
    model_out = Image.fromarray(np.clip(edited + 0.5, 0, 255).astype(np.uint8))

    band = slice(437 - 12, 437 + 12)  # +-5 working px around the edge
    errors = {}
    for method in ("guided", "difference", "upscale"):
        out = arr(transfer_edit(original, source, model_out, method=method))
        errors[method] = np.abs(out[:, band] - truth[:, band]).mean()
    assert errors["guided"] < 0.6 * errors["difference"]
    assert errors["guided"] < 0.6 * errors["upscale"]


def test_vae_reference_keeps_untouched_areas_exact(photo):
    source = to_working(photo, 512)
    vae = source.filter(ImageFilter.GaussianBlur(0.8))  # stands in for decode(encode(source))
    model_out = shift_region(vae, (0, 0, 128, 128), (0, 0, 60))
    out = arr(transfer_edit(photo, source, model_out, working_reference=vae))
    away = (slice(700, None), slice(700, None))
    assert np.abs(out[away] - arr(photo)[away]).max() <= 1.0
    assert (out[:300, :300] - arr(photo)[:300, :300])[..., 2].mean() > 45


def test_chained_edits_keep_the_detail(photo):
    current = photo
    for step in range(3):
        source = to_working(current, 512)
        current = transfer_edit(current, source, shift_region(source, (0, 0, 512, 384), (5, 5, 5)))
    assert current.size == photo.size
    assert correlation(high_pass(current), high_pass(photo)) >= 0.95
    assert np.allclose((arr(current) - arr(photo)).mean(axis=(0, 1)), 15.0, atol=2.0)


# --------------------------------------------------------------------------------------- colour matching


def test_match_colors_removes_a_global_cast_but_keeps_a_local_edit():
    source = to_working(grainy_photo((1024, 768)), 512)
    edited = shift_region(source, (0, 0, 100, 100), (0, 80, 0))
    cast = Image.fromarray(np.clip(arr(edited) * 1.03 + np.array([8, 0, -6], np.float32) + 0.5, 0, 255).astype(np.uint8))
    matched = arr(match_colors(cast, source))
    away = (slice(150, None), slice(150, None))
    assert np.abs((matched - arr(source))[away].mean(axis=(0, 1))).max() < 1.0
    assert (matched - arr(source))[:100, :100, 1].mean() > 60
    assert np.array_equal(arr(match_colors(cast, source, strength=0.0)), arr(cast))


def test_match_colors_leaves_a_global_edit_alone():
    source = to_working(grainy_photo((1024, 768)), 512)
    inverted = Image.fromarray(255 - np.asarray(source))  # nothing is left unchanged to match against
    assert np.array_equal(np.asarray(match_colors(inverted, source)), np.asarray(inverted))


def test_color_match_knob_in_transfer(photo):
    source = to_working(photo, 512)
    cast = Image.fromarray(np.clip(arr(source) + np.array([10, 0, -10], np.float32), 0, 255).astype(np.uint8))
    off = arr(transfer_edit(photo, source, cast))
    on = arr(transfer_edit(photo, source, cast, color_match=1.0))
    assert np.abs((off - arr(photo)).mean(axis=(0, 1)) - [10, 0, -10]).max() < 1.5  # off: the cast is an edit
    assert np.abs((on - arr(photo)).mean(axis=(0, 1))).max() < 1.5


# --------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magic"}, "Unknown transfer method"),
        ({"change_threshold": -1.0}, "change threshold"),
        ({"color_match": 1.5}, "Colour matching strength"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(kwargs, message):
    original = synthetic((200, 100))
    source = to_working(original, 128)
    with pytest.raises(InvalidParameterError, match=message):
        transfer_edit(original, source, source, **kwargs)


def test_result_of_the_wrong_size_is_refused():
    original = synthetic((200, 100))
    source = to_working(original, 128)
    with pytest.raises(InvalidParameterError, match="must be the same size"):
        transfer_edit(original, source, source.resize((64, 64)))
    with pytest.raises(InvalidParameterError, match="must be the same size"):
        transfer_edit(original, source, source, working_reference=source.resize((64, 64)))
    with pytest.raises(InvalidParameterError, match="must be the same size"):
        match_colors(source, source.resize((64, 64)))
