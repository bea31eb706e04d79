"""The composer's message text: plain by default, or rich text with a small formatting toolbar.

Rules:
- Plain is the default (the `compose_rich_text` setting changes it): clinicians' plain mail is the safer one.
- Rich text offers bold, italic, underline (Ctrl+B, Ctrl+I, Ctrl+U), bulleted and numbered lists
  (Ctrl+Shift+8, Ctrl+Shift+7) and links (Ctrl+Shift+K). The shortcuts work only while the text has the focus,
  and only in rich text; every action has an accessible name.
- Switching rich text off asks first when the text has formatting; the words stay, list marks and link
  targets written out (app/ui/compose_html.py `document_text`).
- A paste brings in only what the allow-list keeps (rich) or only the text (plain): no images, styles or
  remote references ever enter the document.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence, QTextCharFormat, QTextCursor, QTextList, QTextListFormat
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QMessageBox, QTextEdit, QToolBar, QVBoxLayout, QWidget

from app.ui.compose_html import clean_html, document_html, document_text, has_formatting
from app.ui.widgets.link_dialog import LinkDialog

_BULLETS = QTextListFormat.Style.ListDisc
_NUMBERS = QTextListFormat.Style.ListDecimal


class BodyEdit(QTextEdit):
    """The text itself. `appendPlainText` keeps the plain editor's API the rest of the composer uses."""

    def appendPlainText(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertBlock()
        cursor.insertText(text)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if self.acceptRichText() and source.hasHtml():
            self.textCursor().insertHtml(clean_html(source.html()))
        elif source.hasText():
            self.textCursor().insertText(source.text())


class ComposeEditor(QWidget):
    mode_changed = Signal(bool)  # rich: the user switched between rich and plain text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = BodyEdit()
        self.body.setAccessibleName("Message text")
        self.body.setAcceptDrops(False)  # a dropped file becomes an attachment (the window takes it), not its path
        self.body.setAcceptRichText(False)
        self.rich_toggle = QCheckBox("Rich te&xt")
        self.rich_toggle.setAccessibleName("Rich text")
        self.rich_toggle.setToolTip("Write with formatting: bold, lists and links (Ctrl+Shift+T)")
        self.rich_toggle.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.toolbar = QToolBar("Formatting")
        self.toolbar.setAccessibleName("Formatting")
        self.bold = self._action("Bold", "Ctrl+B", checkable=True)
        self.italic = self._action("Italic", "Ctrl+I", checkable=True)
        self.underline = self._action("Underline", "Ctrl+U", checkable=True)
        self.bullets = self._action("Bulleted list", "Ctrl+Shift+8", checkable=True)
        self.numbers = self._action("Numbered list", "Ctrl+Shift+7", checkable=True)
        self.link = self._action("Insert link", "Ctrl+Shift+K")
        self.link_dialog: LinkDialog | None = None
        self.confirm: QMessageBox | None = None  # "drop formatting?", while it is open
        self._link_cursor = QTextCursor()
        top = QHBoxLayout()
        top.addWidget(self.toolbar, 1)
        top.addWidget(self.rich_toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.body, 1)
        self.rich_toggle.toggled.connect(self._on_rich_toggle_toggled)
        self.body.currentCharFormatChanged.connect(self._on_body_current_char_format_changed)
        self.body.cursorPositionChanged.connect(self._on_body_cursor_position_changed)
        self.bold.triggered.connect(self._on_bold_triggered)
        self.italic.triggered.connect(self._on_italic_triggered)
        self.underline.triggered.connect(self._on_underline_triggered)
        self.bullets.triggered.connect(self._on_bullets_triggered)
        self.numbers.triggered.connect(self._on_numbers_triggered)
        self.link.triggered.connect(self._on_link_triggered)
        self._show_mode(False)

    def _action(self, name: str, shortcut: str, *, checkable: bool = False) -> QAction:
        action = QAction(name, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # not in the subject line
        action.setCheckable(checkable)
        action.setToolTip(f"{name} ({shortcut})")
        action.setWhatsThis(name)
        self.addAction(action)
        self.toolbar.addAction(action)
        button = self.toolbar.widgetForAction(action)
        if button is not None:
            button.setAccessibleName(name)
        return action

    # --- content ------------------------------------------------------------------------------------------

    def is_rich(self) -> bool:
        return self.rich_toggle.isChecked()

    def set_content(self, text: str, html: str | None, *, rich: bool) -> None:
        """Fills the editor (the program, not the user: no question, no mode_changed)."""
        self.rich_toggle.blockSignals(True)
        self.rich_toggle.setChecked(rich)
        self.rich_toggle.blockSignals(False)
        self._show_mode(rich)
        if rich and html is not None:
            self.body.setHtml(html)
        else:
            self.body.setPlainText(text)

    def plain_text(self) -> str:
        return document_text(self.body.document()) if self.is_rich() else self.body.toPlainText()

    def html(self) -> str | None:
        """The clean HTML to send and to keep in the draft, or None for plain text."""
        return document_html(self.body.document()) if self.is_rich() else None

    # --- switching ----------------------------------------------------------------------------------------

    def _show_mode(self, rich: bool) -> None:
        self.body.setAcceptRichText(rich)
        self.toolbar.setVisible(rich)
        for action in (self.bold, self.italic, self.underline, self.bullets, self.numbers, self.link):
            action.setEnabled(rich)

    def _on_rich_toggle_toggled(self, checked: bool) -> None:
        if checked:
            self._show_mode(True)
            self.mode_changed.emit(True)
        elif not has_formatting(self.body.document()):
            self._to_plain()
        else:
            self.rich_toggle.blockSignals(True)
            self.rich_toggle.setChecked(True)  # until the user says so
            self.rich_toggle.blockSignals(False)
            self._ask_to_drop_formatting()

    def _ask_to_drop_formatting(self) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Switch to plain text")
        box.setText("Switch to plain text and drop the formatting?")
        box.setInformativeText("Bold, italic, underline, lists and links go; the words and link addresses stay.")
        box.setAccessibleName("Switch to plain text")
        drop = box.addButton("&Drop formatting", QMessageBox.ButtonRole.DestructiveRole)
        drop.setAccessibleName("Drop formatting")
        keep = box.addButton("&Keep rich text", QMessageBox.ButtonRole.RejectRole)
        keep.setAccessibleName("Keep rich text")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._on_confirm_finished(box.clickedButton() is drop))
        self.confirm = box
        box.open()

    def _on_confirm_finished(self, dropped: bool) -> None:
        self.confirm = None
        if dropped:
            self._to_plain()

    def _to_plain(self) -> None:
        text = document_text(self.body.document())
        self.rich_toggle.blockSignals(True)
        self.rich_toggle.setChecked(False)
        self.rich_toggle.blockSignals(False)
        self._show_mode(False)
        self.body.setPlainText(text)
        self.body.setCurrentCharFormat(QTextCharFormat())
        self.mode_changed.emit(False)

    # --- formatting ---------------------------------------------------------------------------------------

    def _merge(self, change: QTextCharFormat) -> None:
        self.body.mergeCurrentCharFormat(change)

    def _on_bold_triggered(self, checked: bool) -> None:
        change = QTextCharFormat()
        change.setFontWeight(QFont.Weight.Bold if checked else QFont.Weight.Normal)
        self._merge(change)

    def _on_italic_triggered(self, checked: bool) -> None:
        change = QTextCharFormat()
        change.setFontItalic(checked)
        self._merge(change)

    def _on_underline_triggered(self, checked: bool) -> None:
        change = QTextCharFormat()
        change.setFontUnderline(checked)
        self._merge(change)

    def _on_bullets_triggered(self, _checked: bool) -> None:
        self._toggle_list(_BULLETS)

    def _on_numbers_triggered(self, _checked: bool) -> None:
        self._toggle_list(_NUMBERS)

    def _toggle_list(self, style: QTextListFormat.Style) -> None:
        """Makes the selected paragraphs a list of `style`, or plain paragraphs again if they are one already."""
        cursor = self.body.textCursor()
        current: QTextList | None = cursor.currentList()  # None outside a list, whatever the stubs say
        cursor.beginEditBlock()
        if current is not None and current.format().style() == style:
            for index in reversed(range(current.count())):
                block = current.item(index)
                current.remove(block)
                unindented = QTextCursor(block)
                paragraph = block.blockFormat()
                paragraph.setIndent(0)
                unindented.setBlockFormat(paragraph)
        elif current is not None:
            kind = current.format()
            kind.setStyle(style)
            current.setFormat(kind)
        else:
            cursor.createList(style)
        cursor.endEditBlock()
        self._on_body_cursor_position_changed()

    def _on_link_triggered(self) -> None:
        cursor = self.body.textCursor()
        self._link_cursor = QTextCursor(cursor)
        selected = cursor.selectedText().replace("\u2029", " ")
        self.link_dialog = LinkDialog(selected, self)
        self.link_dialog.chosen.connect(self._on_link_dialog_chosen)
        self.link_dialog.open()

    def _on_link_dialog_chosen(self, target: str, text: str) -> None:
        link = QTextCharFormat()
        link.setAnchor(True)
        link.setAnchorHref(target)
        link.setFontUnderline(True)
        link.setForeground(self.palette().link())
        cursor = self._link_cursor
        if cursor.hasSelection():
            cursor.mergeCharFormat(link)
        else:
            cursor.insertText(text.strip() or target, link)
        cursor.clearSelection()
        self.body.setTextCursor(cursor)
        self.body.setCurrentCharFormat(QTextCharFormat())  # what is typed next is not part of the link
        self.link_dialog = None

    def _on_body_current_char_format_changed(self, char: QTextCharFormat) -> None:
        self.bold.setChecked(char.fontWeight() >= QFont.Weight.Bold.value)
        self.italic.setChecked(char.fontItalic())
        self.underline.setChecked(char.fontUnderline() and not char.isAnchor())

    def _on_body_cursor_position_changed(self) -> None:
        current: QTextList | None = self.body.textCursor().currentList()
        style = current.format().style() if current is not None else None
        self.bullets.setChecked(style == _BULLETS)
        self.numbers.setChecked(style == _NUMBERS)
