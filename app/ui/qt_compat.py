"""A guard against a reference-counting defect of PySide6 6.12 on CPython 3.11.

PySide6 6.12.0 (the abi3 wheel) hands `None`, `True` and `False` back to Python without taking a reference:
every call of a method that returns nothing (`label.setText(...)`), every `signal.emit()`, every `data()`
override that answers `None` lowers their reference count by one. CPython 3.12 made these objects immortal
(PEP 683), so there nothing happens; on 3.11 the count reaches zero after some tens of thousands of calls
and the interpreter aborts ("none_dealloc: deallocating None"). PySide6 6.11.2 does not have the defect.

The guard measures the defect once, on a private object, and only where it is present gives these singletons
the same protection 3.12 gives them: a reference count so large that no run can wear it down. They are never
freed in any case (the interpreter owns them for its whole life), so the only effect is that the drift can
no longer kill the process. Remove this module once the dependency excludes the affected releases.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

_PROBES = 32
# 2**60 decrements would take centuries at any call rate; CPython 3.12 uses a similar "immortal" count.
_HEADROOM = 1 << 60
_SINGLETONS = (None, True, False, Ellipsis, NotImplemented)


def _leaks_singleton_references() -> bool:
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBES):
        probe.setObjectName("probe")  # returns None: a correct binding leaves None's count unchanged
    return before - sys.getrefcount(None) >= _PROBES // 2


def _make_immortal(singleton: object) -> None:
    # ob_refcnt is the first field of every object in a release build of CPython (Include/object.h).
    count = ctypes.c_ssize_t.from_address(id(singleton))
    count.value += _HEADROOM


def guard_singletons() -> bool:
    """Applies the guard if this PySide6 needs it on this interpreter; returns whether it did."""
    if sys.version_info >= (3, 12) or not _leaks_singleton_references():
        return False
    for singleton in _SINGLETONS:
        if sys.getrefcount(singleton) < _HEADROOM:
            _make_immortal(singleton)
    return True


GUARDED = guard_singletons()
