"""Working size: what the model sees, and the way back to the photo's aspect ratio."""

from __future__ import annotations

import pytest
from PIL import Image

from ip2p_core.errors import InvalidParameterError
from ip2p_core.resolution import aspect_size, to_working, working_result_at_aspect, working_size


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((6000, 4000), 512, (512, 320)),  # 341.3 -> 320
        ((4000, 6000), 512, (320, 512)),  # portrait
        ((4000, 4000), 512, (512, 512)),
        ((1920, 1080), 512, (512, 256)),  # 288 -> 256 (nearest multiple)
        ((1920, 1080), 768, (768, 448)),  # 432 -> 448
        ((300, 200), 512, (512, 320)),  # small photos are scaled up to the model's size
        ((1, 1), 512, (512, 512)),
        ((4000, 16), 512, (512, 64)),  # slivers keep a 64 px short side (stretched, not refused)
        ((16000, 300), 512, (512, 64)),
        ((16, 4000), 512, (64, 512)),
        ((6000, 4000), 500, (512, 320)),  # the long side is rounded to a multiple of 64 too
        ((6000, 4000), 64, (64, 64)),
    ],
)
def test_working_size_scales_long_side_and_rounds_to_64(size, long_side, expected):
    assert working_size(*size, long_side) == expected


def test_working_size_sides_are_multiples_of_64_and_aspect_is_close():
    for w, h in [(4032, 3024), (3000, 2000), (5472, 3648), (1080, 1920), (2448, 3264), (7000, 1000)]:
        ww, wh = working_size(w, h, 512)
        assert ww % 64 == 0 and wh % 64 == 0
        assert max(ww, wh) == 512
        # Rounding to 64 px stretches by at most half a 64 px step on the short side.
        assert abs(ww / wh - w / h) / (w / h) < 32 / min(ww, wh) + 1e-9


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-5, 5)])
def test_working_size_rejects_empty_images(size):
    with pytest.raises(InvalidParameterError, match="at least 1x1"):
        working_size(*size)


@pytest.mark.parametrize("long_side", [0, 32, 100000])
def test_working_size_rejects_absurd_resolution(long_side):
    with pytest.raises(InvalidParameterError, match="Working resolution"):
        working_size(100, 100, long_side)


def test_to_working_resizes_without_cropping():
    # Left third red, rest blue: after resizing the red part must still be a third of the width.
    image = Image.new("RGB", (1500, 1000), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 500, 1000))
    small = to_working(image, 512)
    assert small.size == (512, 320) and small.mode == "RGB"
    row = [small.getpixel((x, 160))[0] > 127 for x in range(512)]
    assert abs(sum(row) - 512 / 3) <= 2
    # The corners survive: nothing was cut away.
    assert small.getpixel((0, 0))[0] > 200 and small.getpixel((511, 319))[2] > 200


def test_to_working_converts_to_rgb():
    assert to_working(Image.new("L", (100, 80), 128), 256).mode == "RGB"
    assert to_working(Image.new("RGBA", (100, 80)), 256).mode == "RGB"


def test_working_result_at_aspect_restores_the_photo_aspect_ratio():
    result = Image.new("RGB", (512, 320), (10, 20, 30))
    out = working_result_at_aspect(result, (6000, 4000), 512)
    assert out.size == (512, 341)
    assert working_result_at_aspect(Image.new("RGB", (64, 512)), (300, 16000), 512).size == (10, 512)
    assert working_result_at_aspect(Image.new("RGB", (512, 512)), (1, 1), 512).size == (512, 512)
    assert aspect_size((4000, 16), 512) == (512, 2)
