"""Forwarding audit entries to the Windows event log (policy `audit_forward = eventlog`), through the two Win32
calls it needs, `RegisterEventSourceW` and `ReportEventW`, via ctypes.

It carries exactly what the syslog copy carries (`app.audit.forward.syslog_message` and its rules): no target,
only allow-listed detail. The source name "Salus" has no message file registered, so Event Viewer shows the
text as the event's insertion string; an installer that registers one (HKLM\\SYSTEM\\CurrentControlSet\\
Services\\EventLog\\Application\\Salus) makes the display tidier but is not needed for collection.

This module cannot be exercised on the Linux machines the tests run on; only its refusal elsewhere is tested.
"""

from __future__ import annotations

import sys

from app.audit.chain import AuditEntry
from app.audit.events import AuditEvent
from app.audit.forward import MAC_PREFIX_HEX, safe_detail
from app.core.errors import PolicyError

EVENTLOG_WARNING_TYPE = 0x0002
EVENTLOG_INFORMATION_TYPE = 0x0004
EVENT_ID = 1000
SOURCE = "Salus"


def event_text(entry: AuditEntry, mac: bytes, profile_id: str) -> str:
    fields = {"seq": str(entry.seq), "at": entry.at, "event": entry.event, "actor": entry.actor,
              "profile": profile_id, "mac": mac.hex()[:MAC_PREFIX_HEX], **safe_detail(entry)}  # fmt: skip
    return "Salus audit entry: " + " ".join(f"{k}={v}" for k, v in fields.items())


class EventLogForwarder:
    def __init__(self, profile_id: str) -> None:
        self._profile_id = profile_id
        self._handle = _register()

    def __call__(self, entry: AuditEntry, mac: bytes) -> None:
        kind = EVENTLOG_WARNING_TYPE if entry.event == AuditEvent.UNLOCK_FAILED else EVENTLOG_INFORMATION_TYPE
        _report(self._handle, kind, event_text(entry, mac, self._profile_id))

    def close(self) -> None:
        _deregister(self._handle)


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _advapi = ctypes.WinDLL("advapi32", use_last_error=True)
    _advapi.RegisterEventSourceW.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR]
    _advapi.RegisterEventSourceW.restype = wintypes.HANDLE
    _advapi.ReportEventW.argtypes = [
        wintypes.HANDLE, wintypes.WORD, wintypes.WORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.WORD, wintypes.DWORD, ctypes.POINTER(wintypes.LPCWSTR), wintypes.LPVOID,
    ]  # fmt: skip
    _advapi.ReportEventW.restype = wintypes.BOOL
    _advapi.DeregisterEventSource.argtypes = [wintypes.HANDLE]
    _advapi.DeregisterEventSource.restype = wintypes.BOOL

    def _register() -> int:
        handle = _advapi.RegisterEventSourceW(None, SOURCE)
        if not handle:
            raise PolicyError(f"The Windows event log refused the source {SOURCE!r} ({ctypes.get_last_error()}).")
        return int(handle)

    def _report(handle: int, kind: int, text: str) -> None:
        strings = (wintypes.LPCWSTR * 1)(text)
        # A failed report is not fatal: the entry is committed in the vault, which is the record.
        _advapi.ReportEventW(handle, kind, 0, EVENT_ID, None, 1, 0, strings, None)

    def _deregister(handle: int) -> None:
        _advapi.DeregisterEventSource(handle)

else:

    def _register() -> int:
        raise PolicyError("audit_forward is 'eventlog', but the Windows event log exists only on Windows.")

    def _report(handle: int, kind: int, text: str) -> None:
        raise PolicyError("The Windows event log exists only on Windows.")

    def _deregister(handle: int) -> None:
        return None
