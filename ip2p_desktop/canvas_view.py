"""Where the image sits on the canvas (zoom, pan, fit) and how it is drawn quickly.

Two parts, both free of widget code so they can be reasoned about (and tested) on their own:

* `ViewTransform` maps between image pixels and widget coordinates for one pane.
* `ImagePyramid` draws an image at any zoom without touching the full-resolution pixels on
  every paint: it keeps halved copies (mip levels) and, once the user stops interacting, a
  smoothly scaled copy of just the visible part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QImage, QPainter

ZOOM_MIN = 0.02
ZOOM_MAX = 32.0
# The stops photo editors use for Ctrl+= / Ctrl+-, so 100 % and the simple fractions are
# always reachable exactly.
ZOOM_LADDER = (
    0.02, 0.03, 0.04, 0.05, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0,
)
# Three wheel notches double or halve the zoom: fine enough to aim, quick enough to travel.
WHEEL_NOTCH_FACTOR = 2 ** (1 / 3)


def clamp_zoom(zoom: float) -> float:
    return min(max(zoom, ZOOM_MIN), ZOOM_MAX)


def next_zoom_step(zoom: float, direction: int) -> float:
    """The next ladder stop above (direction > 0) or below the current zoom."""
    tolerance = 1e-3
    if direction > 0:
        return next((z for z in ZOOM_LADDER if z > zoom * (1 + tolerance)), ZOOM_MAX)
    return next((z for z in reversed(ZOOM_LADDER) if z < zoom * (1 - tolerance)), ZOOM_MIN)


def fit_zoom(extent: QSizeF, pane: QSizeF, dpr: float, margin: float) -> float:
    """Zoom at which the whole image fits the pane, leaving `margin` logical px around it."""
    available_w = max(pane.width() - 2 * margin, 1.0)
    available_h = max(pane.height() - 2 * margin, 1.0)
    scale = min(available_w / extent.width(), available_h / extent.height())
    return clamp_zoom(scale * dpr)


@dataclass
class ViewTransform:
    """Zoom and pan shared by every pane.

    `zoom` counts device pixels per image pixel, so 1.0 shows one image pixel on one screen pixel
    even on a HiDPI display. `center` is the image point shown at the middle of each pane.
    """

    zoom: float = 1.0
    center: QPointF = field(default_factory=QPointF)

    def scale(self, dpr: float) -> float:
        """Logical (widget) pixels per image pixel."""
        return self.zoom / dpr

    def image_rect(self, extent: QSizeF, pane: QRectF, dpr: float) -> QRectF:
        """Where the whole image lands in widget coordinates.

        The origin is snapped to the device pixel grid so that at 100 % and above each image
        pixel covers whole screen pixels (crisp), and the grid does not shimmer while panning.
        """
        s = self.scale(dpr)
        origin = pane.center() - self.center * s
        snapped = QPointF(round(origin.x() * dpr) / dpr, round(origin.y() * dpr) / dpr)
        return QRectF(snapped, QSizeF(extent.width() * s, extent.height() * s))

    def to_image(self, point: QPointF, extent: QSizeF, pane: QRectF, dpr: float) -> QPointF:
        rect = self.image_rect(extent, pane, dpr)
        s = self.scale(dpr)
        return QPointF((point.x() - rect.left()) / s, (point.y() - rect.top()) / s)

    def zoomed_about(self, zoom: float, anchor: QPointF, extent: QSizeF, pane: QRectF,
                     dpr: float) -> ViewTransform:
        """New view at `zoom` that keeps the image point under `anchor` where it is."""
        # Unsnapped maths here, so repeated zooming does not accumulate grid-rounding drift.
        offset = anchor - pane.center()
        fixed = self.center + offset / self.scale(dpr)
        return ViewTransform(zoom, fixed - offset / (zoom / dpr))

    def panned(self, delta: QPointF, dpr: float) -> ViewTransform:
        """Move the image by `delta` widget pixels (the image follows the mouse)."""
        s = self.scale(dpr)
        return ViewTransform(self.zoom, self.center - delta / s)

    def clamped(self, extent: QSizeF, pane: QRectF, dpr: float,
                center_small: bool) -> ViewTransform:
        """Keep the image where the user can see it.

        Along an axis where the image is larger than the pane it must cover the pane (no empty
        band to pan into); where it is smaller it must stay wholly inside, and `center_small`
        centres it (used when zooming out, so a shrinking image settles in the middle).
        """
        s = self.scale(dpr)
        cx = _clamp_axis(self.center.x(), extent.width() * s, pane.width(), s, center_small)
        cy = _clamp_axis(self.center.y(), extent.height() * s, pane.height(), s, center_small)
        return ViewTransform(self.zoom, QPointF(cx, cy))


def _clamp_axis(center: float, shown: float, pane: float, s: float, center_small: bool) -> float:
    # Work in "offset of the image's leading edge from the pane's leading edge".
    lead = pane / 2 - center * s
    if shown <= pane:
        lead = (pane - shown) / 2 if center_small else min(max(lead, 0.0), pane - shown)
    else:
        lead = min(max(lead, pane - shown), 0.0)
    return (pane / 2 - lead) / s


@dataclass(frozen=True)
class _TileKey:
    level: int
    region: tuple[int, int, int, int]
    size: tuple[int, int]


class ImagePyramid:
    """One image prepared for fast drawing at any zoom.

    Level 0 is the image in the painter's native pixel format (no per-paint conversion);
    level k is level k-1 halved with area averaging, built on first need. Below 100 % the
    painter samples from the smallest level that still has at least the needed detail, so a
    paint reads roughly one to four source pixels per screen pixel whatever the photo's size.
    When `quality` is asked for, the visible part is additionally resampled with area averaging
    into a tile that is reused until zoom or pan change.

    Halving a 24 MP photo takes 15-60 ms, too long for the UI thread: whoever makes an image on a
    background thread (opening, an edit's result, a history state read from disk) hands the
    canvas a pyramid made with :func:`display_pyramid`, whose levels are already built.
    """

    def __init__(self, image: QImage, *, smooth_upscale: bool = False) -> None:
        self._image = image
        # Previews are tiny and meant to look soft when blown up; real photos are shown with
        # hard pixel edges above 100 % so retouching detail can be judged.
        self._smooth_upscale = smooth_upscale
        self._levels: list[QImage] = []
        self._tile: QImage | None = None
        self._tile_key: _TileKey | None = None

    @property
    def image(self) -> QImage:
        return self._image

    def size(self) -> QSizeF:
        return QSizeF(self._image.size())

    def has_alpha(self) -> bool:
        return self._image.hasAlphaChannel()

    def level(self, k: int) -> QImage:
        while len(self._levels) <= k:
            if not self._levels:
                native = (QImage.Format.Format_ARGB32_Premultiplied if self.has_alpha()
                          else QImage.Format.Format_RGB32)
                self._levels.append(self._image.convertToFormat(native))
                continue
            prev = self._levels[-1]
            half = QSize(max(1, (prev.width() + 1) // 2), max(1, (prev.height() + 1) // 2))
            self._levels.append(prev.scaled(half, Qt.AspectRatioMode.IgnoreAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        return self._levels[k]

    def warm(self) -> "ImagePyramid":
        """Build every level a paint can ask for, now. Only from the thread that owns this object."""
        self.level(self.level_for_scale(0.0))
        return self

    def built_levels(self) -> int:
        return len(self._levels)

    def level_for_scale(self, scale: float) -> int:
        """Smallest level whose resolution is still >= `scale` times the original's."""
        if scale >= 1.0:
            return 0
        # Do not halve past a few pixels; such a level would only add aliasing.
        largest = max(self._image.width(), self._image.height())
        deepest = max(0, int(math.log2(max(largest, 1))) - 2)
        if scale <= 0.0:
            return deepest
        return max(0, min(int(math.floor(-math.log2(scale))), deepest))

    def paint(self, painter: QPainter, target: QRectF, pane: QRectF, dpr: float,
              quality: bool) -> None:
        """Draw the image mapped onto `target` (widget coords), only where `pane` shows it.

        The caller's clip may be narrower than `pane` (split view); the tile is keyed on the
        pane so moving the divider does not throw it away.
        """
        visible = target.intersected(pane)
        if visible.isEmpty() or self._image.isNull():
            return
        scale = max(target.width() * dpr / self._image.width(),
                    target.height() * dpr / self._image.height())
        k = 0 if scale >= 1.0 else self.level_for_scale(scale)
        source = self.level(k)
        region = _source_region(visible, target, source.size())
        region_target = _map_region(region, target, source.size())

        if scale >= 1.0:
            # Hard pixel edges when enlarging, unless this is a soft preview.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._smooth_upscale)
            painter.drawImage(region_target, source, QRectF(region))
            return

        if quality:
            tile_size = QSize(max(1, round(region_target.width() * dpr)),
                              max(1, round(region_target.height() * dpr)))
            key = _TileKey(k, (region.x(), region.y(), region.width(), region.height()),
                           (tile_size.width(), tile_size.height()))
            if key != self._tile_key:
                self._tile = source.copy(region).scaled(
                    tile_size, Qt.AspectRatioMode.IgnoreAspectRatio,
                    Qt.TransformationMode.SmoothTransformation)
                self._tile.setDevicePixelRatio(dpr)
                self._tile_key = key
            # A straight blit at a whole device pixel: no second resampling to soften it.
            top_left = QPointF(round(region_target.left() * dpr) / dpr,
                               round(region_target.top() * dpr) / dpr)
            painter.drawImage(top_left, self._tile)
            return

        # While zooming or panning: bilinear from a level at most 2x too large. Costs about
        # the same as nearest-neighbour here and avoids the worst shimmer.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(region_target, source, QRectF(region))


def _source_region(visible: QRectF, target: QRectF, source: QSize) -> QRect:
    """Whole source pixels (of a level) covering the visible part of `target`."""
    fx = source.width() / target.width()
    fy = source.height() / target.height()
    left = math.floor((visible.left() - target.left()) * fx)
    top = math.floor((visible.top() - target.top()) * fy)
    right = math.ceil((visible.right() - target.left()) * fx)
    bottom = math.ceil((visible.bottom() - target.top()) * fy)
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, source.width()), min(bottom, source.height())
    return QRect(left, top, max(right - left, 1), max(bottom - top, 1))


def _map_region(region: QRect, target: QRectF, source: QSize) -> QRectF:
    """Where a source-pixel region lands in widget coordinates."""
    sx = target.width() / source.width()
    sy = target.height() / source.height()
    return QRectF(target.left() + region.x() * sx, target.top() + region.y() * sy,
                  region.width() * sx, region.height() * sy)


def display_pyramid(image: QImage) -> ImagePyramid:
    """``image`` ready for the canvas, every level built: call it on the thread that made the
    image (the canvas then only draws). QImages are safe to hand between threads."""
    return ImagePyramid(image).warm()
