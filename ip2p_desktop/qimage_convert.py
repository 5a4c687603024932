"""PIL.Image <-> QImage without sharing memory that one side could free under the other.

Why the pixels are copied into memory Qt allocates, rather than wrapping `Image.tobytes()`:
a QImage built on a Python buffer is only valid while that buffer lives, every implicit copy
of the QImage (queued signals, QPixmap caches, the clipboard) shares it, and Qt would paint
straight into an immutable `bytes` object. A QImage that owns its pixels has none of these
traps.

Colour images come out in Qt's native 32-bit formats (RGB32 / ARGB32): they are what the
raster painter and QPixmap use directly, so a 24 MP photo is not converted again on display.
PIL's "BGRX"/"BGRA" packings are exactly those formats' byte order on little-endian machines,
so no channel shuffling happens in Python.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

_Format = QImage.Format
_LITTLE_ENDIAN = sys.byteorder == "little"

# QImage format -> (PIL mode, PIL raw packing matching the QImage's bytes).
if _LITTLE_ENDIAN:
    _READABLE = {
        _Format.Format_RGB32: ("RGB", "BGRX"),
        _Format.Format_ARGB32: ("RGBA", "BGRA"),
        _Format.Format_RGB888: ("RGB", "RGB"),
        _Format.Format_RGBA8888: ("RGBA", "RGBA"),
        _Format.Format_Grayscale8: ("L", "L"),
    }
    _WRITE_AS = {"RGB": (_Format.Format_RGB32, "BGRX", 4),
                 "RGBA": (_Format.Format_ARGB32, "BGRA", 4),
                 "L": (_Format.Format_Grayscale8, "L", 1)}
else:  # byte-oriented formats read the same on any machine
    _READABLE = {
        _Format.Format_RGB888: ("RGB", "RGB"),
        _Format.Format_RGBA8888: ("RGBA", "RGBA"),
        _Format.Format_Grayscale8: ("L", "L"),
    }
    _WRITE_AS = {"RGB": (_Format.Format_RGB888, "RGB", 3),
                 "RGBA": (_Format.Format_RGBA8888, "RGBA", 4),
                 "L": (_Format.Format_Grayscale8, "L", 1)}


def pil_to_qimage(image: Image.Image) -> QImage:
    """A QImage that owns a copy of `image`'s pixels.

    RGB, RGBA and L keep their content exactly; other modes become RGBA when they carry
    transparency, else RGB. Alpha stays straight (not premultiplied), so it round-trips.
    """
    if image.mode not in _WRITE_AS:
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    fmt, packing, channels = _WRITE_AS[image.mode]
    width, height = image.size
    qimage = QImage(width, height, fmt)
    if qimage.isNull():
        raise MemoryError(f"Not enough memory to display a {width}x{height} image.")
    data = image.tobytes("raw", packing)
    row = width * channels
    stride = qimage.bytesPerLine()
    dest = np.frombuffer(qimage.bits(), dtype=np.uint8).reshape(height, stride)[:, :row]
    source = np.frombuffer(data, dtype=np.uint8).reshape(height, row)
    if packing == "BGRX":
        # PIL writes 0 into the padding byte; RGB32 must read 0xffRRGGBB. Setting it while
        # copying keeps this a single pass over the pixels.
        np.bitwise_or(source.view(np.uint32), np.uint32(0xFF000000), out=dest.view(np.uint32))
    else:
        dest[...] = source  # row by row where Qt pads scanlines to 4 bytes
    return qimage


def qimage_to_pil(image: QImage) -> Image.Image:
    """A PIL image with its own copy of the pixels: "RGBA" if the QImage has an alpha channel,
    "L" for greyscale, otherwise "RGB"."""
    if image.isNull():
        raise ValueError("Cannot convert an empty QImage.")
    source = image
    if source.format() not in _READABLE:
        if source.format() == _Format.Format_Grayscale16:
            target = _Format.Format_Grayscale8
        elif source.hasAlphaChannel():
            # Also un-premultiplies ARGB32_Premultiplied and friends.
            target = _WRITE_AS["RGBA"][0]
        else:
            target = _WRITE_AS["RGB"][0]
        source = source.convertToFormat(target)
    mode, packing = _READABLE[source.format()]
    # `source` stays referenced for the whole frombytes call, so the view of its bits is valid.
    return Image.frombytes(mode, (source.width(), source.height()), source.constBits(), "raw",
                           packing, source.bytesPerLine(), 1)
