"""The settings dialog: what the person may choose for themselves, and what the organisation has fixed.

Rules:
- A setting fixed by policy is shown with its value, disabled, and marked "Set by your organisation"
  (DESIGN.md §10). The idle timeout is the exception the schema allows: when policy sets it, the person may
  still choose a shorter one, so the field stays enabled with the policy's value as its maximum.
- Saving runs on the engine thread (`app.services.user_settings.save`: validated, stored in the vault,
  audited); the dialog closes only when that succeeded, and says why otherwise.
- It is a dialog, so a lock closes it without saving.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.services import user_settings
from app.services.reader import Reader
from app.services.user_settings import SET_BY_POLICY
from app.ui.bridge import Bridge


class SettingsDialog(QDialog):
    saved = Signal(object)  # the new effective Settings

    def __init__(self, bridge: Bridge, reader: Reader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._reader = bridge, reader
        settings, policy = reader.settings, reader.policy
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings of this profile")
        self.idle = _spin("Lock after this many idle minutes", 1, int(policy.get("idle_timeout_minutes", 480)))
        self.idle.setValue(settings["idle_timeout_minutes"])
        self.warning = _spin("Seconds of warning before the idle lock", 0, 300)
        self.warning.setValue(settings["lock_warning_seconds"])
        self.remote = QCheckBox("Allow loading remote images when I ask for them")
        self.remote.setAccessibleName("Allow remote content on request")
        self.remote.setChecked(settings["remote_content_allowed"])
        self.rich = QCheckBox("Start new messages in rich text (plain text otherwise)")
        self.rich.setAccessibleName("Start new messages in rich text")
        self.rich.setChecked(settings["compose_rich_text"])
        self.notes: dict[str, QLabel] = {}
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Settings error")
        self.error.setStyleSheet("color: #b91c1c;")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setAccessibleName("Save the settings")
        save.setShortcut(QKeySequence("Ctrl+S"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Close without saving")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self._lay_out(settings)

    def _lay_out(self, settings: Settings) -> None:
        form = QFormLayout()
        rows: tuple[tuple[str, str, QWidget], ...] = (
            ("idle_timeout_minutes", "&Idle lock (minutes):", self.idle),
            ("lock_warning_seconds", "&Warning (seconds):", self.warning),
            ("remote_content_allowed", "&Remote content:", self.remote),
            ("compose_rich_text", "&New messages:", self.rich),
        )
        for key, label, widget in rows:
            form.addRow(label, widget)
            note = self._note(key, settings)
            if note is not None:
                form.addRow("", note)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def _note(self, key: str, settings: Settings) -> QLabel | None:
        policy = self._reader.policy
        if key not in policy:
            return None
        widget = self.widget_for(key)
        if key == "idle_timeout_minutes":
            text = f"Your organisation allows at most {policy[key]} minutes; you may choose fewer."
        else:
            text = f"{SET_BY_POLICY}."
            widget.setEnabled(False)
        label = QLabel(text)
        label.setObjectName(f"policy_note_{key}")
        label.setAccessibleName(f"{key}: {text}")
        self.notes[key] = label
        widget.setToolTip(text)
        return label

    def widget_for(self, key: str) -> QWidget:
        widgets = {
            "idle_timeout_minutes": self.idle,
            "lock_warning_seconds": self.warning,
            "compose_rich_text": self.rich,
        }
        return widgets.get(key, self.remote)

    def changes(self) -> dict[str, Any]:
        """The values of the fields the person may change (fields fixed by policy are left out)."""
        values: dict[str, Any] = {
            "idle_timeout_minutes": self.idle.value(),
            "lock_warning_seconds": self.warning.value(),
            "remote_content_allowed": self.remote.isChecked(),
            "compose_rich_text": self.rich.isChecked(),
        }
        return {k: v for k, v in values.items() if self.widget_for(k).isEnabled()}

    def _on_buttons_accepted(self) -> None:
        self.buttons.setEnabled(False)
        coroutine = self._reader.in_vault(user_settings.save, self._reader.policy, self.changes())
        self._bridge.submit(coroutine, self._on_engine_saved, self._on_engine_failed)

    def _on_engine_saved(self, settings: Settings) -> None:
        self._reader.use_settings(settings)
        self.saved.emit(settings)
        self.accept()

    def _on_engine_failed(self, message: str) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(message)
        self.error.show()


def _spin(accessible: str, low: int, high: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setAccessibleName(accessible)
    return box
