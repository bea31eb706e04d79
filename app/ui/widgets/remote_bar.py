"""The bar above a message body that says what remote content was blocked and offers to load its images.

Rules:
- It says how many remote images were blocked, and separately whether styles that would load something were
  removed (those are never loaded, whatever the user chooses).
- The two offers exist only where policy allows remote content; otherwise the bar says the organisation has
  turned it off. It never fetches anything itself: it emits `load_requested` with the scope the user chose.
- When a sender's images load because of an earlier "always", the bar says so and offers to stop it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QPushButton, QWidget

from app.services.remote_content import RemoteScope
from app.ui.widgets.banner import Banner, BannerKind

LOAD_SHORTCUT = "Ctrl+Shift+M"
ALWAYS_SHORTCUT = "Ctrl+Shift+K"
FORGET_SHORTCUT = "Ctrl+Shift+J"


class RemoteContentBar(Banner):
    load_requested = Signal(object)  # RemoteScope
    forget_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(BannerKind.INFO, "Blocked remote content", parent=parent)
        self.load_button = _button("Load for this message", "Load the remote images of this message", LOAD_SHORTCUT)
        self.always_button = _button(
            "Always for this sender", "Always load remote images from this sender", ALWAYS_SHORTCUT
        )
        self.forget_button = _button(
            "Stop for this sender", "Stop loading remote images from this sender automatically", FORGET_SHORTCUT
        )
        self.load_button.clicked.connect(lambda: self.load_requested.emit(RemoteScope.MESSAGE))
        self.always_button.clicked.connect(lambda: self.load_requested.emit(RemoteScope.SENDER))
        self.forget_button.clicked.connect(self.forget_requested)
        row = self.layout()
        assert row is not None  # Banner lays itself out in a row
        for button in (self.load_button, self.always_button, self.forget_button):
            row.addWidget(button)
            button.hide()

    def show_blocked(self, images: int, styles: int, *, allowed: bool, sender_known: bool) -> None:
        """The state before anything is loaded."""
        parts = [f"Remote images blocked ({images})"] if images else []
        if styles:
            parts.append(f"{styles} style{'s' if styles != 1 else ''} that would load content removed")
        if images and not allowed:
            parts.append("loading remote images is disabled by your organisation")
        self._offer(load=bool(images) and allowed, always=bool(images) and allowed and sender_known, forget=False)
        self.show_text(". ".join(parts) + "." if parts else "")

    def show_loading(self, images: int) -> None:
        self._offer(load=False, always=False, forget=False)
        self.show_text(f"Loading {images} remote image{'s' if images != 1 else ''}…")

    def show_loaded(self, loaded: int, failures: tuple[str, ...], *, by_sender_rule: bool) -> None:
        text = f"Remote images loaded ({loaded})"
        if failures:
            text += f"; {len(failures)} not shown ({failures[0]})"
        if by_sender_rule:
            text += ". You chose to always load them from this sender"
        self._offer(load=False, always=False, forget=by_sender_rule)
        self.show_text(text + ".")

    def show_loaded_forgotten(self) -> None:
        self._offer(load=False, always=False, forget=False)
        self.show_text("Remote images from this sender will be blocked again, starting with the next message.")

    def _offer(self, *, load: bool, always: bool, forget: bool) -> None:
        self.load_button.setVisible(load)
        self.always_button.setVisible(always)
        self.forget_button.setVisible(forget)


def _button(text: str, accessible: str, shortcut: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(accessible)
    button.setShortcut(QKeySequence(shortcut))
    button.setToolTip(f"{accessible} ({shortcut})")
    return button
