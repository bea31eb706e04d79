"""Domain values shared by every layer: frozen, slotted, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NewType

AccountId = NewType("AccountId", int)
FolderId = NewType("FolderId", int)
MessageRowId = NewType("MessageRowId", int)


class Security(StrEnum):
    """How a client connection is protected (DESIGN.md §4). There is deliberately no plaintext member."""

    TLS = "tls"
    STARTTLS = "starttls"


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    security: Security


@dataclass(frozen=True, slots=True)
class Account:
    id: AccountId
    name: str
    imap: Endpoint
    smtp: Endpoint
    username: str
    ca_pem: str  # extra trust anchor for a private server; empty when the system store suffices
    address: str = ""  # the sender address; empty: the user name is the address

    @property
    def sender_address(self) -> str:
        return self.address or self.username


@dataclass(frozen=True, slots=True)
class FolderStats:
    account: str
    name: str
    messages: int
    unseen: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    account: str
    folder: str
    uid: int
    subject: str
    sender: str
    date: datetime | None


@dataclass(frozen=True, slots=True)
class SyncCounts:
    new: int = 0
    updated: int = 0
    deleted: int = 0

    def __add__(self, other: SyncCounts) -> SyncCounts:
        return SyncCounts(self.new + other.new, self.updated + other.updated, self.deleted + other.deleted)
