"""The composer's header area: To, Cc and Bcc (each with its delivery badges), the subject, and the escalation
toggle. Labels are buddies of their fields, so Alt+T, Alt+C, Alt+B and Alt+S move the focus there."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QLineEdit, QWidget

from app.ui.widgets.recipient_field import RecipientField


class ComposeHeader(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.to = RecipientField("To")
        self.cc = RecipientField("Cc")
        self.bcc = RecipientField("Bcc")
        self.bcc.setToolTip("Each Bcc recipient gets a copy of their own; nobody else sees them named")
        self.subject = QLineEdit()
        self.subject.setAccessibleName("Subject")
        self.escalate = QCheckBox("Send via secure &portal")
        self.escalate.setAccessibleName("Send via secure portal")
        self.escalate.setToolTip("Every recipient gets the message through the secure portal (Ctrl+Shift+E)")
        self.escalate.setShortcut(QKeySequence("Ctrl+Shift+E"))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&To:", self.to)
        form.addRow("&Cc:", self.cc)
        form.addRow("&Bcc:", self.bcc)
        form.addRow("&Subject:", self.subject)
        form.addRow("", self.escalate)
        for row, field in ((0, self.to.edit), (1, self.cc.edit), (2, self.bcc.edit), (3, self.subject)):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item is not None else None
            if isinstance(label, QLabel):
                label.setBuddy(field)

    @property
    def fields(self) -> tuple[RecipientField, ...]:
        return (self.to, self.cc, self.bcc)
