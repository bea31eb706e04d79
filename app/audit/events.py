"""The closed set of events the access log records (DESIGN.md §8)."""

from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    PROFILE_CREATED = "profile.created"
    UNLOCK_SUCCEEDED = "unlock.succeeded"
    UNLOCK_FAILED = "unlock.failed"
    LOCKED = "lock"
    ACCOUNT_ADDED = "account.added"
    SYNC = "sync"
    SEARCH = "search"
    MESSAGE_READ = "message.read"
    ATTACHMENT_OPENED = "attachment.opened"
    ATTACHMENT_SAVED = "attachment.saved"
    PRINTED = "print"
    EXPORTED = "export"
    SENT = "send"
    RESENT = "send.resend"  # a failed message sent again by a stronger method; target: the original Message-ID
    ESCALATED = "escalation"
    PORTAL_REVOKED = "portal.revoke"
    PORTAL_REPLY_FETCHED = "portal.reply"
    PORTAL_REISSUED = "portal.reissue"
    SETTINGS_CHANGED = "settings.changed"
    POLICY_CHANGED = "policy.changed"
    KEY_IMPORTED = "key.imported"
    REMOTE_CONTENT_LOADED = "remote_content.loaded"
    REMOTE_SENDER_ALLOWED = "remote_content.sender_allowed"
    REMOTE_SENDER_FORGOTTEN = "remote_content.sender_forgotten"
    SECOND_FACTOR_CHANGED = "second_factor.changed"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"
