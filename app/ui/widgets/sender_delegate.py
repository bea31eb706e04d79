"""Paints the From column as the display name followed by the real address in a quieter colour, so the
address is always there (DESIGN.md §5) without drowning the name."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.ui.formatting import split_sender

_GAP = 6


class SenderDelegate(QStyledItemDelegate):
    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        name, address = split_sender(opt.text)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        group = QPalette.ColorGroup.Normal
        main = opt.palette.color(group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        quiet = main if selected else opt.palette.color(group, QPalette.ColorRole.PlaceholderText)
        rect = opt.rect.adjusted(4, 0, -4, 0)
        painter.save()
        painter.setFont(opt.font)
        metrics = painter.fontMetrics()
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        if name:
            shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, rect.width())
            painter.setPen(main)
            painter.drawText(rect, align, shown)
            rect.setLeft(rect.left() + metrics.horizontalAdvance(shown) + _GAP)
        if rect.width() > 0:
            painter.setPen(quiet if name else main)
            text = f"<{address}>" if name else address
            painter.drawText(rect, align, metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width()))
        painter.restore()
