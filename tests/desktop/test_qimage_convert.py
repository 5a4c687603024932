"""PIL <-> QImage conversion: exact pixels, right channel order, no memory shared with a source
that can go away."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage, QPainter

from ip2p_desktop.qimage_convert import pil_to_qimage, qimage_to_pil


def random_image(mode: str, size=(37, 23), seed=0) -> Image.Image:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], channels) if channels > 1 else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_round_trip_is_pixel_exact(mode):
    # An odd width makes Qt pad scanlines (greyscale), which a naive copy would skew.
    original = random_image(mode)
    qimage = pil_to_qimage(original)
    assert (qimage.width(), qimage.height()) == original.size
    back = qimage_to_pil(qimage)
    assert back.mode == mode
    assert np.array_equal(np.asarray(back), np.asarray(original))


def test_rgba_keeps_colour_under_zero_alpha():
    # Straight (not premultiplied) alpha must survive: an invisible pixel keeps its colour.
    original = Image.new("RGBA", (3, 2), (200, 100, 50, 0))
    original.putpixel((1, 1), (10, 20, 30, 128))
    back = qimage_to_pil(pil_to_qimage(original))
    assert back.getpixel((0, 0)) == (200, 100, 50, 0)
    assert back.getpixel((1, 1)) == (10, 20, 30, 128)


def test_channel_order_matches_what_qt_sees():
    rgb = Image.new("RGB", (5, 5), (10, 20, 30))
    rgb.putpixel((4, 4), (250, 0, 5))
    q = pil_to_qimage(rgb)
    assert not q.hasAlphaChannel()
    assert q.pixelColor(0, 0).getRgb() == (10, 20, 30, 255)
    assert q.pixelColor(4, 4).getRgb() == (250, 0, 5, 255)
    # Opaque through and through: Qt's own conversions must not find a zero alpha byte.
    as_argb = q.convertToFormat(QImage.Format.Format_ARGB32)
    assert as_argb.pixelColor(4, 4).getRgb() == (250, 0, 5, 255)
    if q.format() == QImage.Format.Format_RGB32:  # Qt requires 0xffRRGGBB in memory
        raw = np.frombuffer(q.constBits(), dtype=np.uint32)
        assert np.all(raw >> 24 == 0xFF)

    rgba = Image.new("RGBA", (2, 2), (1, 2, 3, 40))
    assert pil_to_qimage(rgba).pixelColor(1, 1).getRgb() == (1, 2, 3, 40)


@pytest.mark.parametrize("qformat", [QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32,
                                     QImage.Format.Format_ARGB32_Premultiplied,
                                     QImage.Format.Format_RGB888, QImage.Format.Format_RGBA8888,
                                     QImage.Format.Format_RGBX8888, QImage.Format.Format_BGR888])
def test_qimage_in_qt_native_formats_converts_with_right_colours(qformat):
    q = QImage(7, 3, qformat)
    q.fill(QColor(12, 34, 56))
    pil = qimage_to_pil(q)
    assert pil.mode == ("RGBA" if q.hasAlphaChannel() else "RGB")
    assert pil.getpixel((6, 2))[:3] == (12, 34, 56)


def test_palette_with_transparency_becomes_rgba(odd_dir):
    source = Image.open(odd_dir / "p_trns_single.png")
    assert source.mode == "P"
    q = pil_to_qimage(source)
    assert q.hasAlphaChannel()
    expected = np.asarray(source.convert("RGBA"))
    assert np.array_equal(np.asarray(qimage_to_pil(q)), expected)


def test_cmyk_becomes_rgb(odd_dir):
    source = Image.open(odd_dir / "pil_sample_cmyk.jpg")
    q = pil_to_qimage(source)
    assert not q.hasAlphaChannel()
    assert np.array_equal(np.asarray(qimage_to_pil(q)), np.asarray(source.convert("RGB")))


def _make_qimage() -> QImage:
    # The PIL image and its bytes go out of scope when this returns.
    return pil_to_qimage(Image.new("RGB", (64, 48), (1, 2, 3)))


def test_qimage_outlives_its_pil_source():
    kept = [QImage(_make_qimage())]  # an implicit copy, as a queued signal would make
    gc.collect()
    # Churn the allocator so freed memory would be reused if the QImage pointed into it.
    junk = [bytes([255]) * (64 * 48 * 3) for _ in range(50)]
    assert kept[0].pixelColor(63, 47).getRgb() == (1, 2, 3, 255)
    assert kept[0].pixelColor(0, 0).getRgb() == (1, 2, 3, 255)
    del junk


def test_painting_the_qimage_leaves_the_pil_image_alone():
    pil = Image.new("RGB", (8, 8), (0, 0, 255))
    q = pil_to_qimage(pil)
    painter = QPainter(q)
    painter.fillRect(0, 0, 8, 8, QColor(255, 0, 0))
    painter.end()
    assert pil.getpixel((3, 3)) == (0, 0, 255)

    back = qimage_to_pil(q)
    q.fill(QColor(0, 255, 0))
    del q
    gc.collect()
    assert back.getpixel((3, 3)) == (255, 0, 0)


def test_null_qimage_is_rejected():
    with pytest.raises(ValueError):
        qimage_to_pil(QImage())


def test_padded_qt_scanlines_are_read_correctly():
    # 37 RGB888 pixels are 111 bytes; Qt stores each row in 112, so stride must be honoured.
    pixels = np.random.default_rng(3).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    q = QImage(pixels.tobytes(), 37, 23, 37 * 3, QImage.Format.Format_RGB888).copy()
    assert q.bytesPerLine() != 37 * 3
    assert np.array_equal(np.asarray(qimage_to_pil(q)), pixels)
