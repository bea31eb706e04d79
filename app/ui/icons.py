"""Small status icons painted at run time, so the package ships no image files and follows the palette."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

_SIZE = 16
UNREAD = QColor("#2563eb")
FLAG = QColor("#dc2626")
CLIP = QColor("#6b7280")
LOCK = QColor("#059669")


@cache
def status_icon(unread: bool, flagged: bool, attachment: bool, encrypted: bool) -> QIcon:
    """One icon for the status column: a dot for unread, a flag, a paper clip, a padlock; side by side."""
    marks = [m for m, on in (("unread", unread), ("flag", flagged), ("clip", attachment), ("lock", encrypted)) if on]
    pixmap = QPixmap(_SIZE * max(len(marks), 1), _SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for slot, mark in enumerate(marks):
        _PAINTERS[mark](painter, slot * _SIZE)
    painter.end()
    return QIcon(pixmap)


def _dot(painter: QPainter, x: int) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(UNREAD)
    painter.drawEllipse(QRectF(x + 4.5, 4.5, 7, 7))


def _flag(painter: QPainter, x: int) -> None:
    painter.setPen(QPen(FLAG, 1.5))
    painter.drawLine(QPointF(x + 4, 2), QPointF(x + 4, 14))
    painter.setBrush(FLAG)
    painter.drawPolygon(QPolygonF([QPointF(x + 4, 2.5), QPointF(x + 13, 5.5), QPointF(x + 4, 8.5)]))


def _clip(painter: QPainter, x: int) -> None:
    painter.setPen(QPen(CLIP, 1.4))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath(QPointF(x + 10, 5))
    path.lineTo(x + 10, 11.5)
    path.arcTo(QRectF(x + 5, 9, 5, 5), 0, -180)
    path.lineTo(x + 5, 4)
    path.arcTo(QRectF(x + 5, 1.5, 3.5, 4), 180, -180)
    path.lineTo(x + 8.5, 11)
    painter.drawPath(path)


def _lock(painter: QPainter, x: int) -> None:
    painter.setPen(QPen(LOCK, 1.4))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(x + 5, 2.5, 6, 7), 0, 180 * 16)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(LOCK)
    painter.drawRoundedRect(QRectF(x + 3.5, 7, 9, 7), 1.5, 1.5)


_PAINTERS = {"unread": _dot, "flag": _flag, "clip": _clip, "lock": _lock}
