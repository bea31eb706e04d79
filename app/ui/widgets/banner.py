"""A one-line, non-modal message inside a window: information, a warning, or an error that can be dismissed."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget


class BannerKind(Enum):
    GOOD = ("#dcfce7", "#14532d")
    INFO = ("#dbeafe", "#1e3a8a")
    WARNING = ("#fef3c7", "#78350f")
    ERROR = ("#fee2e2", "#7f1d1d")


class Banner(QFrame):
    def __init__(
        self, kind: BannerKind, accessible: str, *, closable: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.set_kind(kind)
        self.setAccessibleName(accessible)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote untrusted text
        self.label.setWordWrap(True)
        self.label.setAccessibleName(accessible)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        if closable:
            close = QToolButton()
            close.setText("✕")
            close.setAutoRaise(True)
            close.setAccessibleName("Dismiss this message")
            close.clicked.connect(self.hide)
            layout.addWidget(close)
        self.hide()

    def set_kind(self, kind: BannerKind) -> None:
        self.kind = kind
        background, text = kind.value
        self.setStyleSheet(
            f"#banner {{ background: {background}; border-radius: 4px; }} #banner QLabel {{ color: {text}; }}"
        )

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.setVisible(bool(text))

    @property
    def text(self) -> str:
        """What the banner says, or "" while it is hidden."""
        return "" if self.isHidden() else self.label.text()
