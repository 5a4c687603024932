"""The history panel: a view over the session's edit tree.

Layout rule: a state's first child continues the line at the same indentation, later children
(branches started by editing an older state) are nested one level deeper under the state they
branch from. So a straight chain reads as a list, and every branch stays visible and reachable;
nothing is hidden or discarded by undo or by editing an older state.

Below the tree, the settings of the chain that leads to the selected state are shown as text and
can be copied.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ip2p_core.params import EditParams

from . import theme
from .controls import describe_params

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStyleOptionViewItem

NODE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
TITLE_ROLE = Qt.ItemDataRole.UserRole + 2
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 3
CURRENT_ROLE = Qt.ItemDataRole.UserRole + 4
THUMB_ROLE = Qt.ItemDataRole.UserRole + 5
BRANCH_ROLE = Qt.ItemDataRole.UserRole + 6

THUMB_HEIGHT = 48
THUMB_WIDTH = THUMB_HEIGHT * 4 // 3
ROW_HEIGHT = THUMB_HEIGHT + 12


def chain_text(steps: list[EditParams]) -> str:
    """The settings of a chain, one numbered line per step, readable and pasteable."""
    if not steps:
        return "Original photo — no edits yet."
    lines = []
    for number, params in enumerate(steps, start=1):
        lines.append(f"{number}. {params.instruction}")
        lines.extend(f"   {line}" for line in describe_params(params, lines=2).split("\n"))
        if params.negative:
            lines.append(f"   avoid: {params.negative}")
    return "\n".join(lines)


class HistoryDelegate(QStyledItemDelegate):
    """Draws a history row: thumbnail, instruction, settings, and a marker for the shown state."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        # Imported here: rows are painted only once there is history, and QStyle's Python type
        # (dozens of enums) would otherwise be built at start-up just for these two flags.
        from PySide6.QtWidgets import QStyle

        painter.save()
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        current = bool(index.data(CURRENT_ROLE))
        if selected:
            painter.fillRect(rect, QColor("#34445c"))
        elif hovered:
            painter.fillRect(rect, QColor("#2a2a2e"))
        if current:
            painter.fillRect(QRect(rect.left(), rect.top() + 4, 3, rect.height() - 8), QColor(theme.ACCENT))

        x = rect.left() + 8
        pixmap = index.data(THUMB_ROLE)
        box = QRect(x, rect.top() + (rect.height() - THUMB_HEIGHT) // 2, THUMB_WIDTH, THUMB_HEIGHT)
        painter.fillRect(box, QColor("#141415"))
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            # Already scaled to the box when cached (see HistoryPanel._thumbnail): paint only copies.
            ratio = pixmap.devicePixelRatio() or 1.0
            w, h = int(pixmap.width() / ratio), int(pixmap.height() / ratio)
            painter.drawPixmap(box.left() + (box.width() - w) // 2, box.top() + (box.height() - h) // 2, pixmap)
        painter.setPen(QPen(QColor(theme.ACCENT if current else "#444448"), 1))
        painter.drawRect(box.adjusted(0, 0, -1, -1))

        text_left = box.right() + 10
        text_width = max(10, rect.right() - text_left - 6)
        title_font = QFont(option.font)
        title_font.setBold(current)
        detail_font = QFont(option.font)
        detail_font.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.85))
        title_metrics = QFontMetrics(title_font)
        detail_metrics = QFontMetrics(detail_font)

        title = str(index.data(TITLE_ROLE) or "")
        detail_lines = str(index.data(DETAIL_ROLE) or "").split("\n")[:2]
        branch = bool(index.data(BRANCH_ROLE))
        total = title_metrics.height() + 3 + detail_metrics.height() * 2
        top = rect.top() + (rect.height() - total) // 2

        title_width = text_width
        if branch:
            # A small badge says "this line branches off the state above", so the indented
            # entry is not read as the next step of the line it sits under.
            badge_font = QFont(detail_font)
            badge_font.setBold(True)
            badge_metrics = QFontMetrics(badge_font)
            badge_text = "BRANCH"
            badge_w = badge_metrics.horizontalAdvance(badge_text) + 8
            badge = QRect(rect.right() - badge_w - 6, top + 1, badge_w, title_metrics.height() - 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#4a3b1f"))
            painter.drawRoundedRect(badge, 3, 3)
            painter.setFont(badge_font)
            painter.setPen(QColor("#f0c674"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, badge_text)
            title_width = max(10, badge.left() - text_left - 6)

        painter.setFont(title_font)
        painter.setPen(QColor("#ffffff" if selected or current else theme.TEXT))
        painter.drawText(
            QRect(text_left, top, title_width, title_metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            title_metrics.elidedText(title, Qt.TextElideMode.ElideRight, title_width),
        )
        painter.setFont(detail_font)
        painter.setPen(QColor("#c0c6d0" if selected else theme.MUTED))
        y = top + title_metrics.height() + 3
        for line in detail_lines:
            painter.drawText(
                QRect(text_left, y, text_width, detail_metrics.height()),
                Qt.AlignmentFlag.AlignLeft,
                detail_metrics.elidedText(line, Qt.TextElideMode.ElideRight, text_width),
            )
            y += detail_metrics.height()
        painter.restore()


class HistoryPanel(QWidget):
    nodeActivated = Signal(str)  # show this state
    rerunRequested = Signal(str)  # same instruction and settings, new seed
    reuseSettingsRequested = Signal(str)  # load the settings into the edit panel
    copyChainRequested = Signal(str)
    deleteBranchRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session: Any = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._thumbs: dict[str, QPixmap] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setIndentation(18)
        self.tree.setUniformRowHeights(True)
        self.tree.setMouseTracking(True)
        self.tree.setItemDelegate(HistoryDelegate(self.tree))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._show_menu)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemActivated.connect(self._on_item_clicked)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

        chain_box = QWidget()
        chain_layout = QVBoxLayout(chain_box)
        chain_layout.setContentsMargins(0, 0, 0, 0)
        chain_layout.setSpacing(4)
        chain_header = QHBoxLayout()
        self.chain_title = QLabel("Settings of this state")
        self.chain_title.setObjectName("muted")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the instructions and settings that lead to this state (Ctrl+Alt+C)")
        self.copy_button.clicked.connect(self._copy_current_chain)
        chain_header.addWidget(self.chain_title, 1)
        chain_header.addWidget(self.copy_button)
        chain_layout.addLayout(chain_header)
        self.chain_view = QPlainTextEdit()
        self.chain_view.setReadOnly(True)
        self.chain_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.chain_view.setMinimumHeight(60)
        chain_layout.addWidget(self.chain_view)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(chain_box)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter)
        self.set_session(None)

    # --- data ---------------------------------------------------------------------------------
    def set_session(self, session: Any) -> None:
        self._session = session
        self._thumbs.clear()
        self.refresh()

    def node_ids(self) -> list[str]:
        """Ids in display order (depth-first as shown)."""
        order: list[str] = []

        def walk(item: QTreeWidgetItem) -> None:
            order.append(str(item.data(0, NODE_ID_ROLE)))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return order

    def item_for(self, node_id: str) -> QTreeWidgetItem | None:
        return self._items.get(node_id)

    def refresh(self) -> None:
        """Rebuild the tree from the session (cheap: thumbnails are cached per state)."""
        self.tree.clear()
        self._items.clear()
        session = self._session
        if session is None:
            self.chain_view.setPlainText("Open a photo to start. Each instruction you apply appears here.")
            self.copy_button.setEnabled(False)
            return
        self._add_line(None, session.root_id)
        self.tree.expandAll()
        self.mark_current()

    def _add_line(self, parent: QTreeWidgetItem | None, node_id: str) -> None:
        """Add ``node_id`` and its first-child line at one level, branches nested under their start."""
        session = self._session
        while node_id is not None:
            item = self._make_item(node_id)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                parent.addChild(item)
            children = session.children(node_id)
            for branch in children[1:]:
                branch_item_count = item.childCount()
                self._add_line(item, branch.id)
                if item.childCount() > branch_item_count:
                    item.child(branch_item_count).setData(0, BRANCH_ROLE, True)
            node_id = children[0].id if children else None

    def _make_item(self, node_id: str) -> QTreeWidgetItem:
        session = self._session
        node = session.node(node_id)
        item = QTreeWidgetItem()
        item.setData(0, NODE_ID_ROLE, node_id)
        if node.params is None:
            name = getattr(session, "source_name", "") or "photo"
            title = "Original photo"
            detail = f"{name}\n{node.width} × {node.height} px" if node.width else name
            tooltip = f"The photo as opened: {name}, {node.width} × {node.height} px"
        else:
            title = node.params.instruction
            detail = describe_params(node.params, lines=2)
            took = node.timings.get("total") if node.timings else None
            when = time.strftime("%H:%M:%S", time.localtime(node.created)) if node.created else ""
            extra = [f"{node.width} × {node.height} px"]
            if took:
                extra.append(f"took {took:.1f} s")
            if when:
                extra.append(f"at {when}")
            if node.model_id:
                extra.append(f"model {node.model_id}")
            tooltip = f"{title}\n{describe_params(node.params)}\n{' · '.join(extra)}"
            if node.image_missing:
                detail = "image lost — re-run to restore\n" + detail
        item.setData(0, TITLE_ROLE, title)
        item.setData(0, DETAIL_ROLE, detail)
        item.setData(0, THUMB_ROLE, self._thumbnail(node_id))
        item.setToolTip(0, tooltip)
        self._items[node_id] = item
        return item

    def _thumbnail(self, node_id: str) -> QPixmap:
        cached = self._thumbs.get(node_id)
        if cached is not None:
            return cached
        pixmap = QPixmap()
        try:
            from .qimage_convert import pil_to_qimage

            ratio = self.devicePixelRatioF()
            image = pil_to_qimage(self._session.thumbnail(node_id)).scaled(
                int(THUMB_WIDTH * ratio), int(THUMB_HEIGHT * ratio),
                Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation,
            )
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(ratio)
        except Exception:  # noqa: BLE001 - a missing thumbnail is drawn as an empty frame
            pass
        self._thumbs[node_id] = pixmap
        return pixmap

    def mark_current(self) -> None:
        session = self._session
        if session is None:
            return
        cursor = session.cursor
        for node_id, item in self._items.items():
            item.setData(0, CURRENT_ROLE, node_id == cursor)
        item = self._items.get(cursor)
        if item is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)
            self.tree.scrollToItem(item)
        self._show_chain(cursor)

    def _show_chain(self, node_id: str) -> None:
        steps = self._session.chain(node_id)
        self.chain_view.setPlainText(chain_text(steps))
        self.chain_title.setText(f"Settings of this state ({len(steps)} edit{'s' if len(steps) != 1 else ''})")
        self.copy_button.setEnabled(True)

    # --- interaction --------------------------------------------------------------------------
    @Slot(QTreeWidgetItem, int)
    def _on_item_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        node_id = item.data(0, NODE_ID_ROLE)
        if node_id:
            self.nodeActivated.emit(str(node_id))

    @Slot()
    def _copy_current_chain(self) -> None:
        if self._session is not None:
            self.copyChainRequested.emit(self._session.cursor)

    def selected_node_id(self) -> str | None:
        item = self.tree.currentItem()
        return str(item.data(0, NODE_ID_ROLE)) if item is not None else None

    @Slot("QPoint")
    def _show_menu(self, pos: Any) -> None:
        item = self.tree.itemAt(pos)
        if item is None or self._session is None:
            return
        node_id = str(item.data(0, NODE_ID_ROLE))
        node = self._session.node(node_id)
        menu = QMenu(self)
        menu.addAction("Show this state", lambda: self.nodeActivated.emit(node_id))
        if node.params is not None:
            menu.addAction("Re-run with new seed", lambda: self.rerunRequested.emit(node_id))
            menu.addAction("Use these settings", lambda: self.reuseSettingsRequested.emit(node_id))
        menu.addAction("Copy chain settings", lambda: self.copyChainRequested.emit(node_id))
        if node.params is not None:
            menu.addSeparator()
            menu.addAction("Delete this branch…", lambda: self.deleteBranchRequested.emit(node_id))
        menu.exec(self.tree.viewport().mapToGlobal(pos))

