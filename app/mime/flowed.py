"""Undo format=flowed (RFC 3676) so that wrapped paragraphs are searchable as whole lines."""

from __future__ import annotations


def unflow(text: str, *, delsp: bool) -> str:
    """Join soft-broken lines (RFC 3676 §4.2) of equal quote depth (§4.5) and remove space-stuffing
    (§4.4). With DelSp=yes the space that marks a soft break is not part of the text (§4.3)."""
    lines: list[str] = []
    pieces: list[str] = []  # the paragraph being joined, kept as pieces so joining stays linear
    depth_of_pieces = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content
        if pieces and depth != depth_of_pieces:
            lines.append(_quoted(pieces, depth_of_pieces))
        depth_of_pieces = depth
        soft = content.endswith(" ") and content != "-- "  # "-- " is the signature separator (§4.3)
        pieces.append(content[:-1] if soft and delsp else content)
        if not soft:
            lines.append(_quoted(pieces, depth))
    if pieces:
        lines.append(_quoted(pieces, depth_of_pieces))
    return "\n".join(lines)


def _quoted(pieces: list[str], depth: int) -> str:
    """The joined paragraph with its quote marks restored; empties `pieces` for the next one."""
    text = "".join(pieces)
    pieces.clear()
    return f"{'>' * depth} {text}" if depth else text
