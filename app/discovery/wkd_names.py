"""Names of an address's keys in the OpenPGP Web Key Directory (draft-koch-openpgp-webkey-service, §3.1).

Rules this module keeps:
- Pure: standard library only, no I/O. The fetch itself lives elsewhere in `app.discovery`.
- The hashed name is z-base-32 (RFC 6189 §5.1.6) of SHA-1 over the local part with only its ASCII letters
  lower-cased (§3.1: "non-ASCII characters are not changed").
- The advanced method comes first, the direct method second (§3.1). The draft lets a client fall back to the
  direct method only when the `openpgpkey` sub-domain does not exist; that decision belongs to the fetcher.
- An address that would not give a well-formed host name is refused with ValueError before any URL is built,
  so no address can steer a lookup to another host, port or path. Error messages never quote the address.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

# RFC 6189 §5.1.6: the alphabet is ordered so that the most frequent symbols are the easiest to read.
_ZBASE32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
_ASCII_UPPER_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# An LDH label (RFC 5890 §2.3.1), which is what IDNA encoding must produce for a usable host name.
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_DOMAIN_LENGTH = 253
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class WkdMethod(StrEnum):
    """The two places a Web Key Directory may live (draft §3.1)."""

    ADVANCED = "advanced"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class WkdUrl:
    """One place to fetch from: `host` is an ASCII (IDNA) host name, `path` holds the path and the query."""

    host: str
    path: str
    method: WkdMethod

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}"


def zbase32(data: bytes) -> str:
    """z-base-32 without padding (RFC 6189 §5.1.6): 5-bit groups, most significant bit first, and a short
    final group filled with zero bits."""
    bits = int.from_bytes(data, "big")
    bit_count = len(data) * 8
    padding = -bit_count % 5
    bits <<= padding
    groups = (bit_count + padding) // 5
    return "".join(_ZBASE32_ALPHABET[(bits >> (5 * (groups - 1 - i))) & 0x1F] for i in range(groups))


def wkd_hash(local_part: str) -> str:
    """The 32-character hashed name of a local part (draft §3.1)."""
    if not local_part:
        raise ValueError("the local part of the address is empty")
    mapped = local_part.translate(_ASCII_UPPER_TO_LOWER)
    # SHA-1 is what the draft names; it serves as a name here, not as a security function.
    digest = hashlib.sha1(mapped.encode("utf-8"), usedforsecurity=False).digest()
    return zbase32(digest)


def wkd_urls(address: str) -> tuple[WkdUrl, WkdUrl]:
    """Where to look for `address`'s key: the advanced method, then the direct method (draft §3.1)."""
    local, domain = _split(address)
    hashed = wkd_hash(local)
    # The "l" parameter carries the local part unchanged, percent-encoded, so a server may use it (§3.1).
    query = "?l=" + quote(local, safe="")
    advanced = WkdUrl(
        host=f"openpgpkey.{domain}",
        path=f"/.well-known/openpgpkey/{domain}/hu/{hashed}{query}",
        method=WkdMethod.ADVANCED,
    )
    direct = WkdUrl(host=domain, path=f"/.well-known/openpgpkey/hu/{hashed}{query}", method=WkdMethod.DIRECT)
    return advanced, direct


def wkd_policy_urls(domain: str) -> tuple[WkdUrl, WkdUrl]:
    """The policy file of a domain's directory, advanced method first (draft §4.5). Its presence tells
    that the domain runs a directory at that place."""
    host = idna_domain(domain)
    advanced = WkdUrl(f"openpgpkey.{host}", f"/.well-known/openpgpkey/{host}/policy", WkdMethod.ADVANCED)
    direct = WkdUrl(host, "/.well-known/openpgpkey/policy", WkdMethod.DIRECT)
    return advanced, direct


def idna_domain(domain: str) -> str:
    """The domain as a lower-case ASCII host name (IDNA, RFC 3490), or ValueError.

    Every label must be letters, digits and inner hyphens, so nothing else (a port, a slash, an "@") can
    reach a URL.
    """
    cleaned = domain.strip()
    cleaned = cleaned.removesuffix(".")
    if not cleaned:
        raise ValueError("the domain of the address is empty")
    try:
        ascii_domain = cleaned.lower().encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError("the domain of the address is not a valid host name") from exc
    labels = ascii_domain.split(".")
    if len(ascii_domain) > _MAX_DOMAIN_LENGTH or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        raise ValueError("the domain of the address is not a valid host name")
    return ascii_domain


def _split(address: str) -> tuple[str, str]:
    """Local part and IDNA domain of an address with exactly one "@" and no spaces or control characters."""
    if _CONTROL_OR_SPACE.search(address):
        raise ValueError("the address holds spaces or control characters")
    if address.count("@") != 1:
        raise ValueError("not an email address (expected exactly one '@')")
    local, _, domain = address.partition("@")
    if not local:
        raise ValueError("the local part of the address is empty")
    return local, idna_domain(domain)
