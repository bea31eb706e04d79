"""A QTextBrowser that never loads anything and never follows a link by itself (DESIGN.md §5, Reading).

The sanitiser already removes every resource reference; this is the second wall. `loadResource` is where
QTextDocument asks for images, style sheets and other documents: it answers nothing, for every URL, and counts
the attempts. The one exception is an image the user asked to load: its bytes were fetched by the engine and
handed over with `show_images`, and only `salus-image:N` names them; nothing is ever fetched from here.
Links are not followed: a click is reported as `link_activated` for the window to confirm, and
hovering reports the real target as `link_hovered` (empty when the pointer leaves the link).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.ui.html_safety import IMAGE_SCHEME

_UNKNOWN = QTextDocument.ResourceType.UnknownResource


class SafeTextBrowser(QTextBrowser):
    link_activated = Signal(QUrl)
    link_hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.blocked_loads = 0
        self._images: dict[str, QImage] = {}
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setSearchPaths([])
        self.anchorClicked.connect(self.link_activated)
        self.highlighted.connect(self._on_self_highlighted)

    def show_images(self, markup: str, images: dict[int, QImage]) -> None:
        """Shows `markup`, answering `salus-image:N` with the image given for N."""
        self._images = {f"{IMAGE_SCHEME}:{number}": image for number, image in images.items()}
        self.setHtml(markup)

    def clear(self) -> None:
        self._images = {}
        super().clear()

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        image = self._images.get(name.toString() if isinstance(name, QUrl) else name)
        if image is not None and type == QTextDocument.ResourceType.ImageResource:
            return image
        self.blocked_loads += 1
        return None

    def doSetSource(self, name: QUrl | str, type: QTextDocument.ResourceType = _UNKNOWN) -> None:
        # Navigation inside the viewer would load the target through loadResource; there is no such navigation.
        return

    def _on_self_highlighted(self, url: QUrl) -> None:
        self.link_hovered.emit(url.toString() if url.isValid() else "")
