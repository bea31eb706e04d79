"""How a portal message's state looks in the message list: a small painted icon and a sentence.

The icon is a paper plane whose colour moves from grey (uploaded) through blue (notice delivered), amber
(opened) to green (replied); red is revoked and dark grey expired. Colour is never the only signal: the tool tip
and the accessible text say the state in words.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

from app.store.portal import PortalMark, PortalState

_SIZE = 16
_COLOURS = {
    PortalState.UPLOADED: QColor("#6b7280"),
    PortalState.DELIVERED: QColor("#2563eb"),
    PortalState.OPENED: QColor("#d97706"),
    PortalState.REPLIED: QColor("#059669"),
    PortalState.EXPIRED: QColor("#374151"),
    PortalState.REVOKED: QColor("#dc2626"),
}
_WORDS = {
    PortalState.UPLOADED: "uploaded, notice not yet delivered",
    PortalState.DELIVERED: "notice delivered, not opened yet",
    PortalState.OPENED: "opened",
    PortalState.REPLIED: "replied",
    PortalState.EXPIRED: "expired",
    PortalState.REVOKED: "revoked",
}


@cache
def portal_icon(state: PortalState) -> QIcon:
    pixmap = QPixmap(_SIZE, _SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = _COLOURS[state]
    painter.setPen(QPen(colour, 1.2))
    painter.setBrush(colour)
    painter.drawPolygon(QPolygonF([QPointF(1.5, 7.5), QPointF(14.5, 2), QPointF(9.5, 14), QPointF(7.5, 9.5)]))
    if state in (PortalState.REVOKED, PortalState.EXPIRED):
        painter.setPen(QPen(QColor("#ffffff"), 1.6))
        painter.drawLine(QPointF(3, 13), QPointF(13, 3))
    painter.end()
    return QIcon(pixmap)


def portal_text(mark: PortalMark) -> str:
    text = f"Secure portal message to {mark.recipient}: {_WORDS[mark.state]}"
    return text + " (re-issued since)" if mark.superseded else text
