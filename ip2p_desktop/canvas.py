"""The central image canvas: zoom, pan, and before/after comparison of full-resolution photos.

The widget decides what is shown where; `canvas_view` does the geometry and the fast drawing,
`compare` the look of dividers and labels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import (QColor, QFocusEvent, QFont, QImage, QKeyEvent, QMouseEvent, QPainter,
                           QPaintEvent, QResizeEvent, QWheelEvent)
from PySide6.QtWidgets import QWidget

from ip2p_desktop.canvas_view import (WHEEL_NOTCH_FACTOR, ImagePyramid, ViewTransform, clamp_zoom,
                                      fit_zoom, next_zoom_step)
from ip2p_desktop.compare import (DEFAULT_BACKGROUND, DIVIDER_GRAB_PX, GUTTER_COLOR, HANDLE_RADIUS,
                                  LABEL_MARGIN, MODES, SIDE_BY_SIDE, SINGLE, SPLIT,
                                  checkerboard_brush, label_font, label_rect, paint_divider,
                                  paint_hint, paint_label, side_by_side_panes)

if TYPE_CHECKING:
    from PySide6.QtGui import QBrush

_PAN = "pan"
_DIVIDER = "divider"


class ImageCanvas(QWidget):
    """Shows the current result ("after"), optionally against an earlier state ("before").

    Zoom is in device pixels per image pixel (1.0 == 100 %). The before image is always
    stretched onto the after image's extent so the two line up even if their sizes differ.
    A new after image of a different size fits the window; one of the same size (the next edit
    of the same photo) keeps the zoom and position the user chose. Call `fit_to_window()` to
    force a fit, e.g. after opening another photo of the same size.
    """

    zoomChanged = Signal(float)
    dividerMoved = Signal(float)

    # After this long without zoom/pan the visible part is redrawn with area averaging.
    IDLE_MS = 150
    FIT_MARGIN = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(160, 120)

        self._after: ImagePyramid | None = None
        self._before: ImagePyramid | None = None
        self._preview: ImagePyramid | None = None
        self._mode = SINGLE
        self._view = ViewTransform()
        self._fit_active = True
        self._divider = 0.5
        self._flash_before = False
        self._overlay_text = ""
        self._background = QColor(DEFAULT_BACKGROUND)
        self._checker: QBrush | None = None  # made when a photo with transparency is first drawn

        self._drag: str | None = None
        self._drag_last = QPointF()
        self._space_held = False
        self._interacting = False
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.setInterval(self.IDLE_MS)
        self._idle_timer.timeout.connect(self._on_idle)

    # ----------------------------------------------------------------------------- images
    def set_after(self, image: QImage | ImagePyramid | None) -> None:
        """The current result at full resolution (best a :func:`display_pyramid` made off the UI
        thread); None empties the canvas."""
        old = self._extent()
        self._after = self._pyramid_for(image)
        self._extent_changed(old)

    def set_before(self, image: QImage | ImagePyramid | None) -> None:
        """The state to compare against; drawn over the after image's extent."""
        old = self._extent()
        self._before = self._pyramid_for(image)
        self._extent_changed(old)

    def set_preview(self, image: QImage | None) -> None:
        """A small live preview shown, smoothly enlarged, in place of the after image."""
        old = self._extent()
        valid = image is not None and not image.isNull()
        self._preview = ImagePyramid(image, smooth_upscale=True) if valid else None
        self._extent_changed(old)

    def set_flash_before(self, on: bool) -> None:
        """While on, the before image replaces the after image wherever the after is shown."""
        if self._flash_before != bool(on):
            self._flash_before = bool(on)
            self._refresh_cursor()
            self.update()

    def set_overlay_text(self, text: str) -> None:
        """A centred hint on an empty canvas, or a small banner at the top over an image."""
        if text != self._overlay_text:
            self._overlay_text = text
            self.update()

    def overlay_text(self) -> str:
        return self._overlay_text

    def set_background_color(self, color: QColor) -> None:
        self._background = QColor(color)
        self.update()

    # ----------------------------------------------------------------------------- modes
    def set_mode(self, mode: str) -> None:
        """"single", "split" (divider over one viewport) or "side_by_side" (two locked panes)."""
        if mode not in MODES:
            raise ValueError(f"Unknown canvas mode {mode!r}; expected one of {', '.join(MODES)}.")
        if mode == self._mode:
            return
        self._mode = mode
        self._relayout()
        self._refresh_cursor()
        self.update()

    def mode(self) -> str:
        return self._mode

    def divider_position(self) -> float:
        """Split position as a fraction of the canvas width (0 = left edge)."""
        return self._divider

    def set_divider_position(self, fraction: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction != self._divider:
            self._divider = fraction
            self.dividerMoved.emit(fraction)
            self.update()

    # ----------------------------------------------------------------------------- zoom
    def zoom(self) -> float:
        return self._view.zoom

    def is_fit(self) -> bool:
        """True while the view follows the window size (fit-to-window)."""
        return self._fit_active

    def zoom_in(self) -> None:
        self.set_zoom(next_zoom_step(self._view.zoom, +1))

    def zoom_out(self) -> None:
        self.set_zoom(next_zoom_step(self._view.zoom, -1))

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit_to_window(self) -> None:
        extent = self._extent()
        if extent is None:
            self._fit_active = True
            return
        pane = self._panes()[0]
        margin = self.FIT_MARGIN if min(pane.width(), pane.height()) > 10 * self.FIT_MARGIN else 0
        zoom = fit_zoom(extent, pane.size(), self._dpr(), margin)
        self._apply_view(ViewTransform(zoom, QPointF(extent.width() / 2, extent.height() / 2)),
                         fit_active=True)

    def set_zoom(self, z: float, anchor: QPointF | None = None) -> None:
        """Zoom to `z`, keeping the image point under `anchor` (widget coords) in place;
        without an anchor the centre of the view stays put."""
        z = clamp_zoom(float(z))
        extent = self._extent()
        if extent is None:
            self._apply_view(ViewTransform(z, self._view.center), fit_active=False)
            return
        anchor = QPointF(anchor) if anchor is not None else None
        pane = self._pane_at(anchor) if anchor is not None else self._panes()[0]
        point = anchor if anchor is not None else pane.center()
        dpr = self._dpr()
        view = self._view.zoomed_about(z, point, extent, pane, dpr)
        view = view.clamped(extent, pane, dpr, center_small=z < self._view.zoom)
        self._apply_view(view, fit_active=False)

    def view_state(self) -> dict:
        """Mode, zoom, pan centre and divider, as plain data (saved with a project)."""
        return {
            "mode": self._mode,
            "fit": self._fit_active,
            "zoom": self._view.zoom,
            "center": [self._view.center.x(), self._view.center.y()],
            "divider": self._divider,
        }

    def restore_view_state(self, state: dict) -> None:
        """Put back what :meth:`view_state` returned; unknown or damaged entries are ignored."""
        try:
            if state.get("mode") in ("single", "split", "side_by_side"):
                self.set_mode(state["mode"])
            if "divider" in state:
                self.set_divider_position(float(state["divider"]))
            if state.get("fit", True) or self._extent() is None:
                self.fit_to_window()
                return
            cx, cy = (float(v) for v in state["center"])
            view = ViewTransform(clamp_zoom(float(state["zoom"])), QPointF(cx, cy))
            view = view.clamped(self._extent(), self._panes()[0], self._dpr(), center_small=False)
            self._apply_view(view, fit_active=False)
        except (KeyError, TypeError, ValueError):
            self.fit_to_window()

    def image_point_at(self, pos: QPointF) -> QPointF | None:
        """The image coordinate (after-image pixels) under a widget position, or None."""
        extent = self._extent()
        if extent is None:
            return None
        pos = QPointF(pos)
        return self._view.to_image(pos, extent, self._pane_at(pos), self._dpr())

    # ----------------------------------------------------------------------------- events
    def sizeHint(self) -> QSize:
        return QSize(900, 650)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta or self._extent() is None:
            event.ignore()
            return
        old = self._view.zoom
        new = clamp_zoom(old * WHEEL_NOTCH_FACTOR ** (delta / 120))
        if (old - 1.0) * (new - 1.0) < 0:
            new = 1.0  # passing through 100 % stops there: the zoom photographers check at
        self.set_zoom(new, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._extent() is None or button not in (Qt.MouseButton.LeftButton,
                                                    Qt.MouseButton.MiddleButton):
            super().mousePressEvent(event)
            return
        pos = event.position()
        if button == Qt.MouseButton.LeftButton and self._near_divider(pos):
            self._drag = _DIVIDER
            self._set_divider_from_x(pos.x())
        else:
            self._drag = _PAN
        self._drag_last = pos
        self._refresh_cursor(pos)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == _PAN:
            self._pan_by(pos - self._drag_last)
            self._drag_last = pos
        elif self._drag == _DIVIDER:
            self._set_divider_from_x(pos.x())
        else:
            self._refresh_cursor(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and not (event.buttons() & (Qt.MouseButton.LeftButton
                                                              | Qt.MouseButton.MiddleButton)):
            self._drag = None
        self._refresh_cursor(event.position())
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._extent() is None:
            super().mouseDoubleClickEvent(event)
            return
        pos = event.position()
        if self._near_divider(pos):
            self.set_divider_position(0.5)
        elif self._fit_active:
            self.set_zoom(1.0, pos)
        else:
            self.fit_to_window()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self._refresh_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = False
                self._refresh_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        # The key release would go to another widget; do not stay stuck in pan mode.
        self._space_held = False
        super().focusOutEvent(event)

    # ----------------------------------------------------------------------------- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect())
        painter.fillRect(rect, self._background)
        extent = self._extent()
        if extent is None:
            if self._overlay_text:
                paint_hint(painter, self.font(), rect, self._overlay_text)
            return

        dpr = self._dpr()
        quality = not self._interacting
        after, after_label = self._shown_after()
        font = label_font(self.font())

        if self._mode == SIDE_BY_SIDE:
            left, right = self._panes()
            painter.fillRect(QRectF(left.right(), rect.top(), right.left() - left.right(),
                                    rect.height()), GUTTER_COLOR)
            self._paint_layer(painter, self._before, extent, left, left, dpr, quality)
            self._paint_layer(painter, after, extent, right, right, dpr, quality)
            if self._before is None:
                paint_hint(painter, self.font(), left, "Nothing to compare yet")
            else:
                self._paint_label(painter, font, "Before", self._picture_area(left),
                                  Qt.AlignmentFlag.AlignLeft)
            self._paint_label(painter, font, after_label, self._picture_area(right),
                              Qt.AlignmentFlag.AlignLeft)
        elif self._split_active():
            x = self._divider_x()
            left_clip = QRectF(rect.left(), rect.top(), x - rect.left(), rect.height())
            right_clip = QRectF(x, rect.top(), rect.right() - x, rect.height())
            self._paint_layer(painter, self._before, extent, rect, left_clip, dpr, quality)
            self._paint_layer(painter, after, extent, rect, right_clip, dpr, quality)
            span = self._divider_span()
            paint_divider(painter, x, span)
            # Labels sit in the corners of the picture itself, where the eye already is.
            self._paint_label(painter, font, "Before", _on_image(left_clip, span),
                              Qt.AlignmentFlag.AlignLeft)
            self._paint_label(painter, font, after_label, _on_image(right_clip, span),
                              Qt.AlignmentFlag.AlignRight)
        else:
            self._paint_layer(painter, after, extent, rect, rect, dpr, quality)
            if after_label != "After":
                self._paint_label(painter, font, after_label, self._picture_area(rect),
                                  Qt.AlignmentFlag.AlignLeft)

        if self._overlay_text:
            banner = label_rect(font, self._overlay_text,
                                QPointF(rect.center().x(), rect.top() + LABEL_MARGIN),
                                Qt.AlignmentFlag.AlignHCenter)
            paint_label(painter, font, self._overlay_text, banner)

    def _paint_layer(self, painter: QPainter, layer: ImagePyramid | None, extent: QSizeF,
                     pane: QRectF, clip: QRectF, dpr: float, quality: bool) -> None:
        if layer is None or clip.width() <= 0 or clip.height() <= 0:
            return
        target = self._view.image_rect(extent, pane, dpr)
        painter.save()
        painter.setClipRect(clip)
        if layer.has_alpha():
            if self._checker is None:
                self._checker = checkerboard_brush()
            painter.fillRect(target.intersected(clip), self._checker)
        layer.paint(painter, target, pane, dpr, quality)
        painter.restore()

    def _paint_label(self, painter: QPainter, font: QFont, text: str, area: QRectF,
                     align: Qt.AlignmentFlag) -> None:
        """A corner label inside `area`, left out when the area is too narrow to hold it."""
        if align & Qt.AlignmentFlag.AlignRight:
            anchor = QPointF(area.right() - LABEL_MARGIN, area.top() + LABEL_MARGIN)
        else:
            anchor = QPointF(area.left() + LABEL_MARGIN, area.top() + LABEL_MARGIN)
        pill = label_rect(font, text, anchor, align)
        if pill.left() >= area.left() + 2 and pill.right() <= area.right() - 2:
            paint_label(painter, font, text, pill)

    # ----------------------------------------------------------------------------- internals
    def _pyramid_for(self, image: QImage | ImagePyramid | None) -> ImagePyramid | None:
        if isinstance(image, ImagePyramid):
            return None if image.image.isNull() else image
        if image is None or image.isNull():
            return None
        # Before and after are often the very same picture (nothing applied yet): share the
        # levels instead of building them twice.
        for existing in (self._after, self._before):
            if existing is not None and existing.image.cacheKey() == image.cacheKey():
                return existing
        return ImagePyramid(image)

    def _extent(self) -> QSizeF | None:
        """Size of the image everything is mapped onto (the after image's, normally)."""
        for layer in (self._after, self._before, self._preview):
            if layer is not None:
                return layer.size()
        return None

    def _shown_after(self) -> tuple[ImagePyramid | None, str]:
        if self._flash_before and self._before is not None:
            return self._before, "Before"
        if self._preview is not None:
            return self._preview, "Preview"
        return self._after, "After"

    def _split_active(self) -> bool:
        return self._mode == SPLIT and self._before is not None and not self._flash_before

    def _dpr(self) -> float:
        return self.devicePixelRatioF() or 1.0

    def _panes(self) -> list[QRectF]:
        rect = QRectF(self.rect())
        if self._mode == SIDE_BY_SIDE:
            return list(side_by_side_panes(rect))
        return [rect]

    def _pane_at(self, pos: QPointF) -> QRectF:
        panes = self._panes()
        for pane in panes:
            if pos.x() <= pane.right():
                return pane
        return panes[-1]

    def _divider_x(self) -> float:
        rect = QRectF(self.rect())
        return rect.left() + self._divider * rect.width()

    def _picture_area(self, pane: QRectF) -> QRectF:
        """The part of `pane` the picture covers (or the pane, when it covers none)."""
        extent = self._extent()
        if extent is None:
            return pane
        return _on_image(pane, self._view.image_rect(extent, pane, self._dpr()))

    def _divider_span(self) -> QRectF:
        """The visible part of the picture: the divider runs over its height only."""
        rect = QRectF(self.rect())
        extent = self._extent()
        if extent is None:
            return rect
        shown = self._view.image_rect(extent, rect, self._dpr()).intersected(rect)
        return shown if not shown.isEmpty() else rect

    def _near_divider(self, pos: QPointF) -> bool:
        if not self._split_active() or self._space_held:
            return False
        x = self._divider_x()
        on_line = abs(pos.x() - x) <= DIVIDER_GRAB_PX
        on_handle = math.hypot(pos.x() - x, pos.y() - self._divider_span().center().y()) \
            <= HANDLE_RADIUS + 3
        return on_line or on_handle

    def _set_divider_from_x(self, x: float) -> None:
        width = max(self.width(), 1)
        self.set_divider_position(x / width)

    def _extent_changed(self, old: QSizeF | None) -> None:
        new = self._extent()
        if new is not None and (old is None or old != new):
            self.fit_to_window()
        elif new is not None:
            self._relayout()
        self._refresh_cursor()
        self.update()

    def _relayout(self) -> None:
        """Pane sizes changed (resize, mode switch): refit or keep the image in view."""
        extent = self._extent()
        if extent is None:
            return
        if self._fit_active:
            self.fit_to_window()
            return
        pane = self._panes()[0]
        view = self._view.clamped(extent, pane, self._dpr(), center_small=False)
        self._apply_view(view, fit_active=False)

    def _pan_by(self, delta: QPointF) -> None:
        extent = self._extent()
        if extent is None:
            return
        pane = self._panes()[0]
        dpr = self._dpr()
        shown = extent * self._view.scale(dpr)
        # Along an axis where the whole image is visible there is nothing to pan to; moving it
        # around inside the frame would only make it wobble.
        dx = delta.x() if shown.width() > pane.width() else 0.0
        dy = delta.y() if shown.height() > pane.height() else 0.0
        if dx == 0.0 and dy == 0.0:
            return
        view = self._view.panned(QPointF(dx, dy), dpr)
        view = view.clamped(extent, pane, dpr, center_small=False)
        self._apply_view(view, fit_active=False)

    def _apply_view(self, view: ViewTransform, fit_active: bool) -> None:
        old_zoom = self._view.zoom
        self._view = view
        self._fit_active = fit_active
        self._interacting = True
        self._idle_timer.start()
        self.update()
        if not math.isclose(old_zoom, view.zoom, rel_tol=1e-9, abs_tol=0.0):
            self.zoomChanged.emit(view.zoom)

    def _on_idle(self) -> None:
        self._interacting = False
        self.update()

    def _refresh_cursor(self, pos: QPointF | None = None) -> None:
        if pos is None:
            pos = QPointF(self.mapFromGlobal(self.cursor().pos()))
        if self._drag == _PAN:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._drag == _DIVIDER or self._near_divider(pos):
            shape = Qt.CursorShape.SplitHCursor
        elif self._extent() is not None:
            shape = Qt.CursorShape.OpenHandCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.setCursor(shape)



def _on_image(area: QRectF, picture: QRectF) -> QRectF:
    """The part of `area` covered by the picture, so labels do not float in the margin."""
    overlap = area.intersected(picture)
    return overlap if not overlap.isEmpty() else area
