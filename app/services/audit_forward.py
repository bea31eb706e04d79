"""Which copy of the audit log the managed policy asks for (`audit_forward`, `audit_syslog_address`), built
for a profile when it is opened. The forwarders themselves live in `app.audit`."""

from __future__ import annotations

from app.audit.eventlog import EventLogForwarder
from app.audit.forward import SyslogForwarder, parse_address
from app.audit.log import Forwarder
from app.core.settings import Settings


def policy_forwarder(profile_id: str, settings: Settings) -> Forwarder | None:
    """None when the policy forwards nothing; raises `PolicyError` for an address or a target that cannot work,
    so a forwarding IT believes is in force never silently is not."""
    match settings["audit_forward"]:
        case "syslog":
            return SyslogForwarder(parse_address(settings["audit_syslog_address"]), profile_id)
        case "eventlog":
            return EventLogForwarder(profile_id)
        case _:
            return None
