"""The sync's corner of the status bar: what is happening, how far it is, and a button to stop it."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class SyncStatus(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Sync status")
        self.label = QLabel()
        self.label.setAccessibleName("Sync progress")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Sync progress bar")
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the sync (Shift+F5)")
        self.cancel_button.setToolTip("Stop the sync (Shift+F5). What was stored so far is kept.")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel_button)
        self._running(False)

    def started(self) -> None:
        self.label.setText("Synchronising…")
        self.progress.setRange(0, 0)  # busy until the first folder reports a size
        self._running(True)

    def progressed(self, folder: str, done: int, total: int) -> None:
        self.label.setText(f"Synchronising {folder}: {done} of {total}")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def stopped(self, text: str) -> None:
        self.label.setText(text)
        self._running(False)

    def _running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
