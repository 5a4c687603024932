"""The canvas's chrome: compare-mode layout, divider handle, labels, hint text, checkerboard.

Kept apart from the canvas widget so the widget reads as "what to show where" and this module
as "how it looks".
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen,
                           QPixmap, QPolygonF)

SINGLE = "single"
SPLIT = "split"
SIDE_BY_SIDE = "side_by_side"
MODES = (SINGLE, SPLIT, SIDE_BY_SIDE)

DEFAULT_BACKGROUND = QColor(0x2B, 0x2B, 0x2B)
GUTTER_COLOR = QColor(0x1A, 0x1A, 0x1A)
GUTTER_PX = 2
# How close (logical px) the pointer must be to grab the split divider.
DIVIDER_GRAB_PX = 8
HANDLE_RADIUS = 13
LABEL_MARGIN = 10


def side_by_side_panes(rect: QRectF) -> tuple[QRectF, QRectF]:
    """Two equal panes with a thin gutter between them."""
    pane_w = max((rect.width() - GUTTER_PX) / 2, 1.0)
    left = QRectF(rect.left(), rect.top(), pane_w, rect.height())
    right = QRectF(rect.right() - pane_w, rect.top(), pane_w, rect.height())
    return left, right


def checkerboard_brush(square: int = 8) -> QBrush:
    """Mid greys: transparency reads clearly without glaring next to the dark surround."""
    tile = QPixmap(square * 2, square * 2)
    tile.fill(QColor(0x99, 0x99, 0x99))
    painter = QPainter(tile)
    light = QColor(0xC4, 0xC4, 0xC4)
    painter.fillRect(0, 0, square, square, light)
    painter.fillRect(square, square, square, square, light)
    painter.end()
    return QBrush(tile)


def paint_divider(painter: QPainter, x: float, span: QRectF) -> None:
    """A white line over `span` with a dark edge (visible on light and dark photos) and a grip."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(QPen(QColor(0, 0, 0, 110), 4))
    painter.drawLine(QPointF(x, span.top()), QPointF(x, span.bottom()))
    painter.setPen(QPen(QColor(250, 250, 250), 2))
    painter.drawLine(QPointF(x, span.top()), QPointF(x, span.bottom()))

    center = QPointF(x, span.center().y())
    painter.setPen(QPen(QColor(0, 0, 0, 90), 1.5))
    painter.setBrush(QColor(250, 250, 250))
    painter.drawEllipse(center, HANDLE_RADIUS, HANDLE_RADIUS)
    # Two small arrows say "drag me sideways".
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0x3A, 0x3A, 0x3A))
    a, h, gap = 5.0, 4.5, 2.5
    painter.drawPolygon(QPolygonF([center + QPointF(-gap, -h), center + QPointF(-gap - a, 0),
                                   center + QPointF(-gap, h)]))
    painter.drawPolygon(QPolygonF([center + QPointF(gap, -h), center + QPointF(gap + a, 0),
                                   center + QPointF(gap, h)]))
    painter.restore()


def scaled_font(base: QFont, factor: float) -> QFont:
    """`base` enlarged by `factor`, whether it was specified in points or in pixels."""
    font = QFont(base)
    if base.pointSizeF() > 0:
        font.setPointSizeF(base.pointSizeF() * factor)
    elif base.pixelSize() > 0:
        font.setPixelSize(max(1, round(base.pixelSize() * factor)))
    return font


def label_font(base: QFont) -> QFont:
    font = QFont(base)
    font.setWeight(QFont.Weight.DemiBold)
    return font


def label_rect(font: QFont, text: str, anchor: QPointF, align: Qt.AlignmentFlag) -> QRectF:
    """The pill a label occupies; `anchor` is its top-left, top-right or top-centre."""
    metrics = QFontMetricsF(font)
    width = metrics.horizontalAdvance(text) + 16
    height = metrics.height() + 6
    if align & Qt.AlignmentFlag.AlignRight:
        left = anchor.x() - width
    elif align & Qt.AlignmentFlag.AlignHCenter:
        left = anchor.x() - width / 2
    else:
        left = anchor.x()
    return QRectF(left, anchor.y(), width, height)


def paint_label(painter: QPainter, font: QFont, text: str, rect: QRectF) -> None:
    """White text on a translucent dark pill, readable over any photo."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    path = QPainterPath()
    path.addRoundedRect(rect, 4, 4)
    painter.fillPath(path, QColor(0, 0, 0, 160))
    painter.setFont(font)
    painter.setPen(QColor(0xF2, 0xF2, 0xF2))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def paint_hint(painter: QPainter, font: QFont, rect: QRectF, text: str) -> None:
    """Centred, muted guidance for an empty canvas (may span several lines)."""
    painter.save()
    painter.setFont(scaled_font(font, 1.25))
    painter.setPen(QColor(0x9A, 0x9A, 0x9F))
    inner = rect.adjusted(24, 24, -24, -24)
    painter.drawText(inner, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.restore()
