"""Every action of the main window as one table: name, menu text, shortcuts, and what a screen reader says.

Shortcuts follow Outlook where the issue does not say otherwise: Ctrl+N, Ctrl+R, Ctrl+Shift+R, Ctrl+Q / Ctrl+U
(mark read / unread), Insert (flag), Ctrl+Shift+V (move), Ctrl+Shift+I (Inbox), Delete. Ctrl+F is search as the
issue asks (Outlook's Ctrl+E also works), and Ctrl+L is "Lock now" (issue 7), so Forward takes Ctrl+Shift+F;
F5 syncs.
Ctrl+Shift+L already moves to the message list, so the access log is Ctrl+Shift+A.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


class Act(StrEnum):
    NEW = "new"
    REPLY = "reply"
    REPLY_ALL = "reply_all"
    FORWARD = "forward"
    DRAFTS = "drafts"
    SYNC = "sync"
    CANCEL_SYNC = "cancel_sync"
    MARK_READ = "mark_read"
    MARK_UNREAD = "mark_unread"
    FLAG = "flag"
    DELETE = "delete"
    MOVE = "move"
    SAVE_ATTACHMENT = "save_attachment"
    PORTAL_REVOKE = "portal_revoke"
    PORTAL_REISSUE = "portal_reissue"
    SEARCH = "search"
    GO_INBOX = "go_inbox"
    FOCUS_LIST = "focus_list"
    PLAIN_TEXT = "plain_text"
    DARK = "dark"
    LOCK = "lock"
    ACCESS_LOG = "access_log"
    SETTINGS = "settings"
    QUIT = "quit"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    text: str
    shortcuts: tuple[str, ...]
    description: str
    menu: str
    checkable: bool = False


SPECS: dict[Act, ActionSpec] = {
    Act.NEW: ActionSpec("&New message", ("Ctrl+N",), "Write a new message", "Message"),
    Act.REPLY: ActionSpec("&Reply", ("Ctrl+R",), "Reply to the sender", "Message"),
    Act.REPLY_ALL: ActionSpec("Reply &all", ("Ctrl+Shift+R",), "Reply to the sender and all recipients", "Message"),
    Act.FORWARD: ActionSpec("&Forward", ("Ctrl+Shift+F",), "Forward the message", "Message"),
    Act.DRAFTS: ActionSpec("Dra&fts…", ("Ctrl+Shift+O",), "Reopen or delete a saved draft", "Message"),
    Act.SYNC: ActionSpec("&Sync", ("F5",), "Fetch new mail and changes from the server", "File"),
    Act.CANCEL_SYNC: ActionSpec("&Cancel sync", ("Shift+F5",), "Stop the sync that is running", "File"),
    Act.MARK_READ: ActionSpec("Mark as &read", ("Ctrl+Q",), "Mark the selected messages as read", "Message"),
    Act.MARK_UNREAD: ActionSpec("Mark as &unread", ("Ctrl+U",), "Mark the selected messages as unread", "Message"),
    Act.FLAG: ActionSpec("&Flag", ("Insert",), "Flag or unflag the selected messages", "Message"),
    Act.DELETE: ActionSpec("&Delete", ("Delete",), "Move the selected messages to the Trash", "Message"),
    Act.MOVE: ActionSpec("&Move to folder…", ("Ctrl+Shift+V",), "Move the selected messages", "Message"),
    Act.SAVE_ATTACHMENT: ActionSpec(
        "&Save attachment…", ("Ctrl+S",), "Save the selected attachment to a file", "Message"
    ),
    Act.PORTAL_REVOKE: ActionSpec(
        "Re&voke portal message", ("Ctrl+Alt+R",), "Withdraw the selected secure portal message", "Message"
    ),
    Act.PORTAL_REISSUE: ActionSpec(
        "Re-&issue portal message", ("Ctrl+Alt+I",), "Send a revoked or expired portal message again", "Message"
    ),
    Act.SEARCH: ActionSpec("&Search", ("Ctrl+F", "Ctrl+E"), "Search all mail", "View"),
    Act.GO_INBOX: ActionSpec("Go to &Inbox", ("Ctrl+Shift+I",), "Show the Inbox", "View"),
    Act.FOCUS_LIST: ActionSpec("Message &list", ("Ctrl+Shift+L",), "Move the focus to the message list", "View"),
    Act.PLAIN_TEXT: ActionSpec(
        "Prefer &plain text", ("Ctrl+Shift+P",), "Show the plain text version when there is one", "View", True
    ),
    Act.DARK: ActionSpec("&Dark theme", ("Ctrl+Shift+D",), "Switch between light and dark colours", "View", True),
    Act.LOCK: ActionSpec("&Lock now", ("Ctrl+L",), "Lock Salus now; the passphrase unlocks it", "File"),
    Act.ACCESS_LOG: ActionSpec("&Access log…", ("Ctrl+Shift+A",), "Show who opened what in this profile", "File"),
    Act.SETTINGS: ActionSpec("Se&ttings…", ("Ctrl+,",), "Change the idle lock and reading settings", "File"),
    Act.QUIT: ActionSpec("&Quit", ("Ctrl+Shift+Q",), "Lock the profile and close Salus", "File"),
}
MENUS = ("File", "Message", "View")
# Writing mail opens the composer; reply, reply all and forward need an open message.
COMPOSER_ACTIONS = (Act.NEW, Act.REPLY, Act.REPLY_ALL, Act.FORWARD)


def build_actions(parent: QWidget) -> dict[Act, QAction]:
    actions: dict[Act, QAction] = {}
    for key, spec in SPECS.items():
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{key.value}")
        action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        shortcut_text = ", ".join(spec.shortcuts)
        action.setToolTip(f"{spec.description} ({shortcut_text})")
        action.setStatusTip(spec.description)
        action.setCheckable(spec.checkable)
        # QAction has no accessible name of its own; the text a screen reader uses is the tool tip / what's this.
        action.setWhatsThis(spec.description)
        actions[key] = action
        parent.addAction(action)
    return actions
