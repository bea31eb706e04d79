"""A QTextBrowser that never loads anything and never follows a link by itself (DESIGN.md §5, Reading).

The sanitiser already removes every resource reference; this is the second wall. `loadResource` is where
QTextDocument asks for images, style sheets and other documents: it answers nothing, for every URL, and counts
the attempts. Links are not followed: a click is reported as `link_activated` for the window to confirm, and
hovering reports the real target as `link_hovered` (empty when the pointer leaves the link).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

_UNKNOWN = QTextDocument.ResourceType.UnknownResource


class SafeTextBrowser(QTextBrowser):
    link_activated = Signal(QUrl)
    link_hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.blocked_loads = 0
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setSearchPaths([])
        self.anchorClicked.connect(self.link_activated)
        self.highlighted.connect(self._on_self_highlighted)

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        self.blocked_loads += 1
        return None

    def doSetSource(self, name: QUrl | str, type: QTextDocument.ResourceType = _UNKNOWN) -> None:
        # Navigation inside the viewer would load the target through loadResource; there is no such navigation.
        return

    def _on_self_highlighted(self, url: QUrl) -> None:
        self.link_hovered.emit(url.toString() if url.isValid() else "")
