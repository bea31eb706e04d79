"""Searches this process's live Python objects for words, to check what locking leaves behind (issue 7).

How it looks: after a full collection it walks everything reachable from the objects the garbage collector
tracks and from the locals of every thread's running frames (the collector treats those as roots and never
traverses them), following `gc.get_referents` into untracked containers too (a tuple or
dict holding only strings is untracked). It searches every `str`, `bytes` and `bytearray` (as UTF-8 and as
UTF-16-LE, the encoding of Windows APIs) and every `memoryview` whose exporter it would not reach otherwise;
released views are skipped, not touched.

How to use it: make the words at run time (`secrets.token_hex`), never as literals, so no code object, source
line cache or assertion message holds them; first check that the search finds them while the mail is open (a
search that sees nothing would otherwise pass), then lock, drop the test's own references (`del body`), and
check that it finds none.

What it cannot see, so "not found" is not "not in memory", and what Python cannot clear at all:
- Freed memory is not wiped. `str` and `bytes` are immutable and cannot be overwritten in place; dropping the
  last reference returns their memory to the allocator with the contents intact until it is reused. A dump of
  the process (or swap, or a hibernation file) can still show them. Only a `bytearray` can be zeroed.
- Interned strings: identifiers, attribute names and dictionary keys the interpreter interns are shared and,
  from Python 3.12, immortal. A mail word would be interned only if code used it as a name (`getattr`, `**`).
- Buffers held in C: Qt's `QString`/`QTextDocument` storage, SQLCipher's page cache (zeroed on free only when
  its memory security is on), OpenSSL's record buffers, `io.BytesIO`/`TextIOWrapper` contents, and anything
  else a C extension keeps without exposing it to the collector.
- Other processes: GnuPG and the parse worker run apart; their memory is theirs.
- Encoded copies: base64, quoted-printable, compressed or encrypted forms of a word are not the word. Search
  for those forms too where a test expects them.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import FrameType

ENCODINGS = ("utf-8", "utf-16-le")


@dataclass(frozen=True, slots=True)
class Hit:
    word: str
    holder: str  # the type of the object the word was found in
    size: int  # its length, to tell a whole message from a stray token


def find_strings(words: Iterable[str]) -> list[str]:
    """The words, among `words`, that some live object still contains; in the order given."""
    wanted = list(words)
    found = {hit.word for hit in scan(wanted)}
    return [word for word in wanted if word in found]


def scan(words: Iterable[str]) -> list[Hit]:
    """Every live object that contains one of `words`, for a failure message that says where to look."""
    wanted = tuple(dict.fromkeys(words))
    if not all(wanted):
        raise ValueError("an empty word would be found everywhere")
    needles = tuple((word, tuple(word.encode(e) for e in ENCODINGS)) for word in wanted)
    # The searched words themselves, and the scanner's own containers, are not leftovers.
    ignored = {id(wanted), id(needles), *(id(w) for w in wanted)}
    ignored.update(id(encoded) for _, forms in needles for encoded in forms)
    hits: list[Hit] = []
    for obj in _reachable(ignored):
        hits.extend(_search(obj, needles))
    return hits


def _reachable(ignored: set[int]) -> Iterator[object]:
    gc.collect()
    roots: list[object] = gc.get_objects()
    roots.extend(_running_frame_locals())
    stack = list(roots)
    seen = set(ignored) | {id(roots), id(stack)}
    # `roots` keeps every tracked object alive for the walk, so no id is reused while `seen` holds it.
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        if not isinstance(obj, str | bytes | bytearray):
            stack.extend(gc.get_referents(obj))


def _running_frame_locals() -> Iterator[object]:
    """Locals of every frame now running in any thread: the collector does not traverse these."""
    for top in sys._current_frames().values():
        frame: FrameType | None = top
        while frame is not None:
            yield frame
            yield from frame.f_locals.values()
            frame = frame.f_back


def _search(obj: object, needles: tuple[tuple[str, tuple[bytes, ...]], ...]) -> Iterator[Hit]:
    if isinstance(obj, str):
        yield from (Hit(word, "str", len(obj)) for word, _ in needles if word in obj)
    elif isinstance(obj, bytes | bytearray):
        holder = type(obj).__name__
        yield from (Hit(word, holder, len(obj)) for word, forms in needles if any(f in obj for f in forms))
    elif isinstance(obj, memoryview):
        yield from _search_view(obj, needles)


def _search_view(view: memoryview, needles: tuple[tuple[str, tuple[bytes, ...]], ...]) -> Iterator[Hit]:
    try:
        exporter = view.obj
        if isinstance(exporter, bytes | bytearray):
            return  # the exporter is searched on its own
        data = view.tobytes()
    except (ValueError, TypeError):
        return  # a released view, or one whose format cannot be copied: nothing to read safely
    yield from (Hit(word, "memoryview", len(data)) for word, forms in needles if any(f in data for f in forms))
