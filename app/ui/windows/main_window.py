"""The main window: folders, the message list, the reading pane, search, and every action on messages.

Rules:
- The window only asks (through `MailController`) and shows what comes back; it never waits for the engine.
- Models hold snapshots; on a domain event only the rows named by it are refreshed.
- Nothing about a message appears in the window title, which the operating system shows in task switchers.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.core.models import FolderId, MessageRowId, SyncCounts
from app.services.opening import SignatureState
from app.services.reader import AccountNode, FolderNode, with_unread_changes
from app.store.browse import MessageSummary
from app.ui.controller import MailController, RenderedMessage
from app.ui.models.folders import FOLDER_ID_ROLE, FolderTreeModel
from app.ui.models.messages import Column, MessageListModel
from app.ui.portal_status import PortalFollower
from app.ui.theme import apply_theme, is_dark
from app.ui.widgets.banner import Banner, BannerKind
from app.ui.widgets.failed_sends import FailedSendsBar
from app.ui.widgets.reader_pane import ReaderPane
from app.ui.widgets.sender_delegate import SenderDelegate
from app.ui.widgets.sync_status import SyncStatus
from app.ui.windows.about import add_help_menu
from app.ui.windows.access_log import AccessLogWindow
from app.ui.windows.actions import MENUS, SPECS, Act, build_actions
from app.ui.windows.composer import ComposerWindow, DraftStart, composer_service, forward_start, reply_start
from app.ui.windows.dialogs import Dialogs
from app.ui.windows.drafts_dialog import DraftsDialog
from app.ui.windows.leaving import LeavingTheVault, default_exports
from app.ui.windows.settings_dialog import SettingsDialog

OUTBOX_CHECK_MS = 60_000  # how often the failed-sends bar rereads the outbox (a flush elsewhere may fail a message)

_TOOLBAR = (
    (Act.NEW, Act.REPLY, Act.REPLY_ALL, Act.FORWARD),
    (Act.SYNC,),
    (Act.MARK_READ, Act.FLAG, Act.MOVE, Act.DELETE),
)


class MainWindow(QMainWindow):
    closed = Signal()
    lock_requested = Signal()  # "Lock now" (Ctrl+L); `app.ui.lock_screen` acts on it
    settings_changed = Signal(object)  # Settings, after the settings dialog saved; the lock follows them

    def __init__(
        self, controller: MailController, *, dialogs: Dialogs | None = None, exports: Path | None = None
    ) -> None:
        super().__init__()
        self.controller = controller
        self.dialogs = dialogs or Dialogs()
        self.accounts: tuple[AccountNode, ...] = ()
        self.search_text: str | None = None
        self.access_log: AccessLogWindow | None = None
        self.folders = FolderTreeModel(self)
        self.messages = MessageListModel(controller, self)
        self.setWindowTitle(f"Salus — {controller.reader.profile_dir.name}")
        self.setAccessibleName("Salus main window")
        self.actions_by_name = build_actions(self)
        self._build_layout()
        self._build_menus_and_toolbar()
        self.about_action = add_help_menu(self, controller.reader.profile_dir)
        self._connect()
        self.portal = PortalFollower(
            controller, self.messages, self.message_view, self.actions_by_name[Act.PORTAL_REVOKE],
            self.actions_by_name[Act.PORTAL_REISSUE], lambda title, text: self.dialogs.confirm(self, title, text),
            self.status_text.setText,
        )  # fmt: skip
        self.leaving = LeavingTheVault(self, controller, self.reader, self.dialogs, exports or default_exports())
        self.leaving.status_changed.connect(self.status_text.setText)
        self._attach_failed_sends()
        self.resize(1360, 820)
        controller.load_folders()

    def _attach_failed_sends(self) -> None:
        """Messages refused for good, with a one-click resend via the portal (app/ui/widgets/failed_sends.py)."""
        self.failed_sends = FailedSendsBar(self.controller.bridge, composer_service(self.controller.reader))
        central = self.centralWidget()
        layout = central.layout() if central is not None else None
        if isinstance(layout, QVBoxLayout):  # under the error banner, above the folders and messages
            layout.insertWidget(1, self.failed_sends)
        self.failed_sends.resent.connect(lambda _reports: self.status_text.setText("Resent through the portal."))
        self._outbox_timer = QTimer(self)
        self._outbox_timer.setInterval(OUTBOX_CHECK_MS)
        self._outbox_timer.timeout.connect(self.failed_sends.check)
        self._outbox_timer.start()
        self.controller.folders_loaded.connect(lambda _accounts: self.failed_sends.check())  # opening, unlock
        self.controller.sync_finished.connect(lambda _counts: self.failed_sends.check())

    # --- building -----------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.folder_view = _tree("Folders")
        self.folder_view.setModel(self.folders)
        self.folder_view.setHeaderHidden(True)
        self.message_view = _tree("Messages")
        self.message_view.setModel(self.messages)
        self.messages.fetch_gate = self._list_end_visible
        self.message_view.setRootIsDecorated(False)
        self.message_view.setUniformRowHeights(True)  # lets the view lay out 100,000 rows without measuring each
        self.message_view.setAlternatingRowColors(True)
        self.message_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.message_view.setAllColumnsShowFocus(True)
        self.message_view.setSortingEnabled(True)
        self.message_view.sortByColumn(Column.DATE, Qt.SortOrder.DescendingOrder)
        header = self.message_view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.SUBJECT, QHeaderView.ResizeMode.Stretch)
        for column, width in ((Column.STATUS, 52), (Column.SENDER, 240), (Column.DATE, 80)):
            header.resizeSection(column, width)
        self.message_view.setItemDelegateForColumn(Column.SENDER, SenderDelegate(self.message_view))
        self.reader = ReaderPane()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.folder_view, self.message_view, self.reader):
            splitter.addWidget(widget)
        splitter.setSizes([220, 640, 580])
        splitter.setStretchFactor(2, 1)
        self.banner = Banner(BannerKind.ERROR, "Error message", closable=True)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.status_text = QLabel()
        self.status_text.setAccessibleName("Status")
        self.sync_status = SyncStatus()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.sync_status)

    def _build_menus_and_toolbar(self) -> None:
        acts = self.actions_by_name
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in MENUS}
        for key, spec in SPECS.items():
            menus[spec.menu].addAction(acts[key])
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search all mail (Ctrl+F)")
        self.search_field.setAccessibleName("Search all mail")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.setMaximumWidth(360)
        toolbar = QToolBar("Main toolbar")
        toolbar.setObjectName("main_toolbar")
        toolbar.setAccessibleName("Main toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for group in _TOOLBAR:
            for key in group:
                toolbar.addAction(acts[key])
                toolbar.widgetForAction(acts[key]).setAccessibleName(SPECS[key].description)
            toolbar.addSeparator()
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.search_field)
        self.addToolBar(toolbar)
        acts[Act.CANCEL_SYNC].setEnabled(False)
        acts[Act.DARK].setChecked(is_dark(_app()))

    def _connect(self) -> None:
        c, acts = self.controller, self.actions_by_name
        c.folders_loaded.connect(self._on_controller_folders_loaded)
        c.message_opened.connect(self._on_controller_message_opened)
        c.messages_changed.connect(self.messages.update_rows)
        c.messages_removed.connect(self._on_controller_messages_removed)
        c.unread_changed.connect(self._on_controller_unread_changed)
        c.search_finished.connect(self._on_controller_search_finished)
        c.sync_started.connect(self._on_controller_sync_started)
        c.sync_progressed.connect(self.sync_status.progressed)
        c.sync_finished.connect(self._on_controller_sync_finished)
        c.sync_failed.connect(self._on_controller_sync_failed)
        c.sync_cancelled.connect(lambda: self._sync_stopped("Sync cancelled; what was fetched so far is kept."))
        c.error_reported.connect(self.banner.show_text)
        c.notice_reported.connect(self.status_text.setText)
        self.folder_view.selectionModel().selectionChanged.connect(self._on_folder_view_selection_changed)
        self.message_view.selectionModel().selectionChanged.connect(self._on_message_view_selection_changed)
        self.messages.loading_changed.connect(self._on_messages_loading_changed)
        self.messages.folder_shown.connect(self._on_messages_folder_shown)
        self.search_field.returnPressed.connect(self._on_search_field_return_pressed)
        self.search_field.textChanged.connect(self._on_search_field_text_changed)
        self.reader.link_hovered.connect(lambda url: self.statusBar().showMessage(url))
        self.reader.remote_images_requested.connect(c.load_remote_images)
        self.reader.remote_sender_forget_requested.connect(c.forget_remote_sender)
        c.remote_images_loaded.connect(self.reader.show_remote_images)
        c.remote_images_failed.connect(self.reader.remote_images_failed)
        c.remote_sender_forgotten.connect(self.reader.remote_sender_forgotten)
        self.sync_status.cancel_button.clicked.connect(c.cancel_sync)
        handlers = {
            Act.SYNC: c.start_sync,
            Act.CANCEL_SYNC: c.cancel_sync,
            Act.MARK_READ: lambda: self._set_seen(True),
            Act.MARK_UNREAD: lambda: self._set_seen(False),
            Act.FLAG: self._toggle_flag,
            Act.DELETE: self._delete,
            Act.MOVE: self._move,
            Act.SAVE_ATTACHMENT: lambda: self.reader.save_button.click(),
            Act.SEARCH: self._focus_search,
            Act.GO_INBOX: self._go_inbox,
            Act.FOCUS_LIST: self.message_view.setFocus,
            Act.PLAIN_TEXT: self._rerender,
            Act.DARK: lambda: apply_theme(_app(), acts[Act.DARK].isChecked()),
            Act.LOCK: self.lock_requested.emit,
            Act.ACCESS_LOG: self.open_access_log,
            Act.SETTINGS: self.open_settings,
            Act.QUIT: self.close,
        }
        for key, handler in handlers.items():
            acts[key].triggered.connect(handler)
        self._connect_composer()

    # --- folders and the list -----------------------------------------------------------------------------

    def _on_controller_folders_loaded(self, accounts: tuple[AccountNode, ...]) -> None:
        first = not self.accounts
        self.accounts = accounts
        self.folders.set_accounts(accounts)
        if first:
            self.folder_view.expandAll()
            self._go_inbox()
        elif not self.folder_view.currentIndex().isValid() and self.messages.folder is not None:
            # The set of folders changed (a sync found new ones), so the tree was rebuilt: point at the folder
            # still on show, quietly, since its messages are already listed.
            self.folder_view.expandAll()
            selection = self.folder_view.selectionModel()
            selection.blockSignals(True)
            self.folder_view.setCurrentIndex(self.folders.index_of(self.messages.folder))
            selection.blockSignals(False)
            self.folder_view.viewport().update()

    def _on_controller_unread_changed(self, delta: dict[FolderId, int]) -> None:
        self.accounts = with_unread_changes(self.accounts, delta)
        self.folders.set_accounts(self.accounts)

    def _go_inbox(self) -> None:
        index = self.folders.first_inbox()
        if index.isValid():
            self.folder_view.setCurrentIndex(index)

    def _on_folder_view_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        folder = indexes[0].data(FOLDER_ID_ROLE) if indexes else None
        if folder is None:
            return
        self.search_text = None
        self.search_field.blockSignals(True)
        self.search_field.clear()
        self.search_field.blockSignals(False)
        self.reader.clear()
        self.messages.show_folder(FolderId(int(folder)))

    def _on_messages_loading_changed(self, loading: bool) -> None:
        if loading:
            self.status_text.setText("Loading…")

    def _on_messages_folder_shown(self, folder: FolderId) -> None:
        total = next((n.total for a in self.accounts for n in _walk(a) if n.id == folder), self.messages.rowCount())
        self.status_text.setText(f"{self.folders.folder_name(folder)}: {total} messages")

    def _list_end_visible(self) -> bool:
        """Qt's own test for "fetch more", asked of the list itself rather than of whichever view called."""
        last = self.messages.rowCount() - 1
        if last < 0:
            return True
        rect = self.message_view.visualRect(self.messages.index(last, Column.SUBJECT))
        return self.message_view.viewport().rect().intersects(rect)

    def selected_summaries(self) -> list[MessageSummary]:
        rows = sorted({index.row() for index in self.message_view.selectionModel().selectedRows()})
        return [self.messages.summary(row) for row in rows]

    def _on_message_view_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        chosen = self.selected_summaries()
        if len(chosen) == 1:
            self.controller.open_message(chosen[0].id)
        elif not chosen:
            self.reader.clear()

    def _on_controller_message_opened(self, rendered: RenderedMessage) -> None:
        chosen = self.selected_summaries()
        if len(chosen) != 1 or chosen[0].id != rendered.opened.id:
            return  # the selection moved on while the message was loading
        self.reader.show_message(rendered, prefer_plain=self.actions_by_name[Act.PLAIN_TEXT].isChecked())
        if not chosen[0].seen:
            self.controller.set_seen([chosen[0].id], True)

    def _rerender(self) -> None:
        if self.reader.shown is not None:
            self.reader.show_message(self.reader.shown, prefer_plain=self.actions_by_name[Act.PLAIN_TEXT].isChecked())

    def _on_controller_messages_removed(self, ids: tuple[MessageRowId, ...]) -> None:
        shown = self.reader.shown
        self.messages.remove_rows(ids)
        if shown is not None and shown.opened.id in ids:
            self.reader.clear()
        current = self.message_view.currentIndex()
        if current.isValid():  # keep reading: the next message takes the removed one's place
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.message_view.selectionModel().select(current, flags)

    # --- actions on messages ------------------------------------------------------------------------------

    def _ids(self) -> list[MessageRowId]:
        return [summary.id for summary in self.selected_summaries()]

    def _set_seen(self, seen: bool) -> None:
        if ids := self._ids():
            self.controller.set_seen(ids, seen)

    def _toggle_flag(self) -> None:
        chosen = self.selected_summaries()
        if chosen:
            self.controller.set_flagged([s.id for s in chosen], not all(s.flagged for s in chosen))

    def _delete(self) -> None:
        if ids := self._ids():
            self.controller.delete(ids)

    def _move(self) -> None:
        ids = self._ids()
        if ids:
            target = self.dialogs.choose_folder(self, self.accounts)
            if target is not None:
                self.controller.move(ids, target)

    # --- search -------------------------------------------------------------------------------------------

    def _focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _on_search_field_return_pressed(self) -> None:
        text = self.search_field.text().strip()
        if text:
            self.search_text = text
            self.status_text.setText("Searching…")
            self.controller.search(text)

    def _on_search_field_text_changed(self, text: str) -> None:
        if not text.strip() and self.search_text is not None:
            self.search_text = None
            self._reshow_selected_folder()

    def _reshow_selected_folder(self) -> None:
        folder = self.folder_view.currentIndex().data(FOLDER_ID_ROLE)
        if folder is not None:
            self.messages.show_folder(FolderId(int(folder)))

    def _on_controller_search_finished(self, text: str, hits: list[MessageSummary]) -> None:
        if text != self.search_text:
            return  # a newer search is on its way
        self.reader.clear()
        self.messages.show_results(hits)
        more = " (the most recent shown)" if len(hits) >= 500 else ""
        self.status_text.setText(f"{len(hits)} results for “{text}”{more}")

    # --- sync ---------------------------------------------------------------------------------------------

    def _on_controller_sync_started(self) -> None:
        self.sync_status.started()
        self.actions_by_name[Act.SYNC].setEnabled(False)
        self.actions_by_name[Act.CANCEL_SYNC].setEnabled(True)

    def _on_controller_sync_finished(self, counts: dict[str, SyncCounts]) -> None:
        if not counts:
            self._sync_stopped("No account with a server to sync.")
            return
        new = sum(c.new for c in counts.values())
        self._sync_stopped(f"Sync finished: {new} new message{'s' if new != 1 else ''}.")
        self.messages.reload()

    def _on_controller_sync_failed(self, message: str) -> None:
        self._sync_stopped("Sync failed.")
        self.banner.show_text(f"The sync stopped: {message}")

    def _sync_stopped(self, text: str) -> None:
        self.sync_status.stopped(text)
        self.actions_by_name[Act.SYNC].setEnabled(True)
        self.actions_by_name[Act.CANCEL_SYNC].setEnabled(False)

    # --- the composer -------------------------------------------------------------------------------------

    def _connect_composer(self) -> None:
        self.composers: list[ComposerWindow] = []
        acts = self.actions_by_name
        acts[Act.NEW].triggered.connect(lambda: self.open_composer(DraftStart()))
        acts[Act.REPLY].triggered.connect(lambda: self._answer(Act.REPLY))
        acts[Act.REPLY_ALL].triggered.connect(lambda: self._answer(Act.REPLY_ALL))
        acts[Act.FORWARD].triggered.connect(lambda: self._answer(Act.FORWARD))
        acts[Act.DRAFTS].triggered.connect(self._show_drafts)

    def open_composer(self, start: DraftStart) -> ComposerWindow:
        composer = ComposerWindow(self.controller.bridge, composer_service(self.controller.reader), start)
        composer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        composer.closed.connect(lambda: self.composers.remove(composer) if composer in self.composers else None)
        composer.sent.connect(lambda _report: self.status_text.setText("Message sent."))
        composer.closed.connect(self.failed_sends.check)  # a refusal its window offered stays offered here
        self.composers.append(composer)
        composer.show()
        return composer

    def _show_drafts(self) -> None:
        dialog = DraftsDialog(self.controller.bridge, composer_service(self.controller.reader), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_requested.connect(self.open_draft)
        dialog.open()

    def open_draft(self, draft_id: str) -> None:
        """Reopens a saved draft in a composer (the draft is read from the vault on the engine thread)."""
        if any(c.draft_id == draft_id for c in self.composers):
            return  # already open: two windows saving one draft would overwrite each other
        service = composer_service(self.controller.reader)
        self.controller.bridge.submit(service.load_draft(draft_id), self._open_start, self.banner.show_text)

    def _open_start(self, start: DraftStart) -> None:
        self.open_composer(start)

    def _answer(self, how: Act) -> None:
        shown = self.reader.shown
        if shown is None:
            self.status_text.setText("Open a message first.")
            return
        message = shown.opened.message
        encrypted = shown.opened.verdict.encryption.value in ("pgp", "smime")
        if how is Act.FORWARD:
            # The original's attachments come along as bytes (read, and decrypted if need be, on the engine).
            self.controller.bridge.submit(
                self.controller.reader.forward_attachments(shown.opened.id),
                lambda attachments: self._open_start(forward_start(message, attachments, encrypted=encrypted)),
                self.banner.show_text,
            )
        else:
            signed = shown.opened.verdict.signature is SignatureState.VALID  # a good signature naming the From
            start = reply_start(message, to_all=how is Act.REPLY_ALL, encrypted=encrypted, signed_by_sender=signed)
            self.open_composer(start)

    # --- closing ------------------------------------------------------------------------------------------

    def open_access_log(self) -> AccessLogWindow:
        if self.access_log is None:
            self.access_log = AccessLogWindow(self.controller.bridge, self.controller.reader, self.dialogs, self)
            self.access_log.finished.connect(self._on_access_log_finished)
        self.access_log.show()
        self.access_log.raise_()
        return self.access_log

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.controller.bridge, self.controller.reader, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self.settings_changed.emit)
        dialog.show()
        return dialog

    def _on_access_log_finished(self) -> None:
        if self.access_log is not None:
            self.access_log.deleteLater()
            self.access_log = None

    def drop_snapshots(self) -> None:
        """Forgets everything shown (for the lock screen and for closing)."""
        if self.access_log is not None:
            self.access_log.reject()
        self.reader.clear()
        self.messages.clear()
        self.folders.clear()
        self.accounts = ()
        self.failed_sends.drop()

    def closeEvent(self, event: QCloseEvent) -> None:
        for composer in list(self.composers):
            composer.close()  # closing Salus closes its composers too, each saving its draft
        self.drop_snapshots()
        self.closed.emit()
        event.accept()


def _tree(accessible: str) -> QTreeView:
    view = QTreeView()
    view.setAccessibleName(accessible)
    return view


def _walk(account: AccountNode) -> list[FolderNode]:
    found: list[FolderNode] = []
    stack = list(account.folders)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


def _app() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app
