"""Help → About: the version, the licence, the Qt and Python versions, and where the profile and the managed
policy live, so that a person on the phone to IT can read them out.

The Help menu and its action are added here rather than in `actions.SPECS`, so the main window needs one line
to get them; like every action they have a shortcut (F1) and an accessible description.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QMainWindow, QVBoxLayout, QWidget

from app.services.about import AboutFacts, about_facts

ABOUT_SHORTCUT = "F1"
ABOUT_DESCRIPTION = "Show the version of Salus and where it keeps the profile and the policy"


class AboutDialog(QDialog):
    def __init__(self, facts: AboutFacts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Salus")
        self.setAccessibleName("About Salus")
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for name, value in _rows(facts):
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(name)
            form.addRow(f"{name}:", label)
            self.fields[name] = label
        heading = QLabel(f"<b>Salus {facts.version}</b><br>A secure email client for healthcare.")
        heading.setAccessibleName("Salus")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close the About box")
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(buttons)


def _rows(facts: AboutFacts) -> list[tuple[str, str]]:
    return [
        ("Version", facts.version),
        ("Licence", facts.licence),
        ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
        ("Python", facts.python),
        ("Profile", str(facts.profile) if facts.profile is not None else "no profile open"),
        ("Managed policy", facts.policy_in_force),
        ("Policy places", facts.policy_places),
    ]


def add_help_menu(window: QMainWindow, profile: Path | None) -> QAction:
    """Adds Help → About to `window`'s menu bar; returns the action (tests trigger it)."""
    action = QAction("&About Salus", window)
    action.setObjectName("action_about")
    action.setShortcut(QKeySequence(ABOUT_SHORTCUT))
    action.setToolTip(f"{ABOUT_DESCRIPTION} ({ABOUT_SHORTCUT})")
    action.setStatusTip(ABOUT_DESCRIPTION)
    action.setWhatsThis(ABOUT_DESCRIPTION)
    action.triggered.connect(lambda: show_about(window, profile))
    window.menuBar().addMenu("&Help").addAction(action)
    window.addAction(action)
    return action


def show_about(parent: QWidget, profile: Path | None) -> AboutDialog:
    dialog = AboutDialog(about_facts(profile), parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()  # window-modal, without a nested event loop that would block the engine's signals
    return dialog
