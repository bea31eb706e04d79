"""The folder tree: accounts, then their folders nested by hierarchy, each with its unread count.

The snapshot is flattened into a list of nodes; an index's internal id is the node's position in that list,
so no Python object has to stay alive behind a raw pointer. When new counts arrive for the same folders, the
rows are updated in place (selection and expansion stay); only a changed set of folders resets the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QStyle

from app.core.models import FolderId
from app.services.reader import AccountNode, FolderNode

AnyIndex = QModelIndex | QPersistentModelIndex
FOLDER_ID_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(slots=True)
class _Node:
    label: str
    folder: FolderNode | None  # None for an account
    parent: int  # position of the parent node, -1 for top level
    row: int
    children: list[int] = field(default_factory=list)


class FolderTreeModel(QAbstractItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._nodes: list[_Node] = []
        self._top: list[int] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def set_accounts(self, accounts: tuple[AccountNode, ...]) -> None:
        nodes, top = _flatten(accounts)
        if _shape(nodes) == _shape(self._nodes):
            self._nodes, self._top = nodes, top
            self._emit_all_changed(QModelIndex())
            return
        self.beginResetModel()
        self._nodes, self._top = nodes, top
        self.endResetModel()

    def clear(self) -> None:
        self.set_accounts(())

    def index_of(self, folder_id: FolderId) -> QModelIndex:
        for position, node in enumerate(self._nodes):
            if node.folder is not None and node.folder.id == folder_id:
                return self.createIndex(node.row, 0, position)
        return QModelIndex()

    def first_inbox(self) -> QModelIndex:
        for position, node in enumerate(self._nodes):
            if node.folder is not None and node.folder.id is not None and node.folder.path.upper() == "INBOX":
                return self.createIndex(node.row, 0, position)
        return QModelIndex()

    def folder_name(self, folder_id: FolderId) -> str:
        index = self.index_of(folder_id)
        return self._nodes[index.internalId()].label if index.isValid() else ""

    def _emit_all_changed(self, parent: QModelIndex) -> None:
        count = self.rowCount(parent)
        if count:
            self.dataChanged.emit(self.index(0, 0, parent), self.index(count - 1, 0, parent))
        for row in range(count):
            self._emit_all_changed(self.index(row, 0, parent))

    # --- Qt's model interface -----------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        siblings = self._children(parent)
        if column != 0 or not 0 <= row < len(siblings):
            return QModelIndex()
        return self.createIndex(row, 0, siblings[row])

    def parent(self, child: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid():
            return QModelIndex()
        up = self._nodes[child.internalId()].parent
        return QModelIndex() if up < 0 else self.createIndex(self._nodes[up].row, 0, up)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._children(parent))

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        folder = self._nodes[index.internalId()].folder
        if folder is None or folder.id is None:
            return Qt.ItemFlag.ItemIsEnabled  # an account or a bare hierarchy level holds no messages itself
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._nodes[index.internalId()]
        folder = node.folder
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{node.label} ({folder.unread})" if folder is not None and folder.unread else node.label
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return _spoken(node)
        if role == Qt.ItemDataRole.FontRole and (folder is None or folder.unread):
            return self._bold
        if role == Qt.ItemDataRole.DecorationRole:
            return _icon(folder)
        if role == FOLDER_ID_ROLE:
            return None if folder is None else folder.id
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if section == 0 and orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return "Folders"
        return None

    def _children(self, parent: AnyIndex) -> list[int]:
        return self._nodes[parent.internalId()].children if parent.isValid() else self._top


def _flatten(accounts: tuple[AccountNode, ...]) -> tuple[list[_Node], list[int]]:
    nodes: list[_Node] = []
    top: list[int] = []
    for row, account in enumerate(accounts):
        nodes.append(_Node(account.name, None, -1, row))
        top.append(len(nodes) - 1)
        _add_folders(nodes, account.folders, len(nodes) - 1)
    return nodes, top


def _add_folders(nodes: list[_Node], folders: tuple[FolderNode, ...], parent: int) -> None:
    for row, folder in enumerate(folders):
        label = "Inbox" if folder.path.upper() == "INBOX" else folder.name
        nodes.append(_Node(label, folder, parent, row))
        position = len(nodes) - 1
        nodes[parent].children.append(position)
        _add_folders(nodes, folder.children, position)


def _shape(nodes: list[_Node]) -> list[tuple[str, int, object]]:
    return [(n.label, n.parent, n.folder.id if n.folder else None) for n in nodes]


def _spoken(node: _Node) -> str:
    if node.folder is None:
        return f"Account {node.label}"
    if node.folder.id is None:
        return node.label
    return f"{node.label}, {node.folder.unread} unread of {node.folder.total}"


def _icon(folder: FolderNode | None) -> Any:
    style = QApplication.style()
    if folder is None:
        return style.standardIcon(QStyle.StandardPixmap.SP_DriveNetIcon)
    return style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)
