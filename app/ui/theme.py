"""Light and dark palettes on Qt's Fusion style, which looks the same on every platform and honours them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#111827",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f9fafb",
    QPalette.ColorRole.Text: "#111827",
    QPalette.ColorRole.PlaceholderText: "#6b7280",
    QPalette.ColorRole.Button: "#e5e7eb",
    QPalette.ColorRole.ButtonText: "#111827",
    QPalette.ColorRole.Highlight: "#2563eb",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#111827",
    QPalette.ColorRole.Link: "#1d4ed8",
    QPalette.ColorRole.Mid: "#d1d5db",
}
_DARK = {
    QPalette.ColorRole.Window: "#1f2329",
    QPalette.ColorRole.WindowText: "#e5e7eb",
    QPalette.ColorRole.Base: "#16191d",
    QPalette.ColorRole.AlternateBase: "#1c2025",
    QPalette.ColorRole.Text: "#e5e7eb",
    QPalette.ColorRole.PlaceholderText: "#9ca3af",
    QPalette.ColorRole.Button: "#2b3038",
    QPalette.ColorRole.ButtonText: "#e5e7eb",
    QPalette.ColorRole.Highlight: "#3b82f6",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#2b3038",
    QPalette.ColorRole.ToolTipText: "#e5e7eb",
    QPalette.ColorRole.Link: "#93c5fd",
    QPalette.ColorRole.Mid: "#3a404a",
}


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def palette(dark: bool) -> QPalette:
    result = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        result.setColor(role, QColor(colour))
    disabled = QColor("#6b7280")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        result.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return result


def apply_theme(app: QApplication, dark: bool) -> None:
    app.setStyle("Fusion")
    app.setPalette(palette(dark))
    app.setProperty("salus_dark", dark)


def is_dark(app: QApplication) -> bool:
    return bool(app.property("salus_dark"))
