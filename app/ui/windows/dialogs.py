"""The few questions the main window asks the user, gathered so tests can answer them without a modal loop.

Each is a plain function; `Dialogs` bundles them and a test replaces the ones it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QMessageBox, QTreeView, QVBoxLayout, QWidget

from app.core.models import FolderId
from app.services.reader import AccountNode
from app.ui.models.folders import FOLDER_ID_ROLE, FolderTreeModel


def choose_save_path(parent: QWidget, suggested: Path) -> Path | None:
    chosen, _ = QFileDialog.getSaveFileName(parent, "Save attachment", str(suggested))
    return Path(chosen) if chosen else None


def confirm(parent: QWidget, title: str, text: str) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)  # the text may quote a link or a file name from a message
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def choose_folder(parent: QWidget, accounts: tuple[AccountNode, ...]) -> FolderId | None:
    dialog = QDialog(parent)
    dialog.setWindowTitle("Move to folder")
    dialog.setAccessibleName("Choose the folder to move the messages to")
    model = FolderTreeModel(dialog)
    model.set_accounts(accounts)
    view = QTreeView()
    view.setHeaderHidden(True)
    view.setModel(model)
    view.expandAll()
    view.setAccessibleName("Folders")
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    view.doubleClicked.connect(dialog.accept)
    layout = QVBoxLayout(dialog)
    layout.addWidget(view)
    layout.addWidget(buttons)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    folder = view.currentIndex().data(FOLDER_ID_ROLE)
    return FolderId(int(folder)) if folder is not None else None


def open_external(url: QUrl) -> None:
    QDesktopServices.openUrl(url)


@dataclass
class Dialogs:
    choose_save_path: Callable[[QWidget, Path], Path | None] = choose_save_path
    confirm: Callable[[QWidget, str, str], bool] = confirm
    choose_folder: Callable[[QWidget, tuple[AccountNode, ...]], FolderId | None] = choose_folder
    open_external: Callable[[QUrl], None] = open_external
