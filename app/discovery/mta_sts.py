"""MTA-STS discovery (RFC 8461): does the recipient domain ask senders to deliver only over verified TLS?

Rules this module keeps:
- The pure half (sts_record_id, parse_sts_record, parse_policy, mx_matches, all_mx_match) does no I/O and
  never raises on any text: bad input comes back as PolicyInvalid with a reason.
- Only "no `v=STSv1` TXT record" is `absent`. A domain that publishes a record promised a policy; if the
  policy cannot be fetched or parsed, or the record is ambiguous, the result is `lookup_failed`, never
  `absent` and never an upgrade. (A sender MTA would fall back to a cached policy, RFC 8461 §5; the service
  layer keeps ours, so this module reports what it saw.)
- The policy comes from https://mta-sts.<domain>/.well-known/mta-sts.txt over a certificate valid for that
  name, with status 200, media type text/plain and no redirects (RFC 8461 §3.3), and at most 64 KiB: a policy
  is a few lines, and the cap bounds what a hostile server can make us hold.
- `mx_matched` holds only when the domain has MX hosts and every one matches a policy pattern (§4.1): an
  enforcing sender refuses a host outside the policy, so a partial match is no match for our evidence.
- The whole lookup is bounded by `config.timeout`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.discovery.http import HttpFetchError, https_get
from app.discovery.resolver import DnsResolver, ascii_domain

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31_557_600  # one year, RFC 8461 §3.2

# RFC 8461 §3.1 ABNF: sts-field-delim = *WSP ";" *WSP; sts-id = %s"id=" 1*32(ALPHA / DIGIT).
_FIELD_DELIM = re.compile(r"[ \t]*;[ \t]*")
_STS_ID = re.compile(r"id=([A-Za-z0-9]{1,32})")
_STS_EXTENSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+")
# RFC 8461 §3.2 ABNF: a field is a name, ":", optional WSP and a value; trailing WSP is allowed.
_POLICY_FIELD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*([^\r\n]*?)[ \t]*")
_LINE_BREAK = re.compile(r"\r?\n")
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_MX_PATTERN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")


class StsMode(StrEnum):
    """The outcome of an MTA-STS lookup: a policy mode (RFC 8461 §5), no policy, or a failed lookup."""

    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"
    ABSENT = "absent"
    LOOKUP_FAILED = "lookup_failed"


_POLICY_MODES = {mode.value: mode for mode in (StsMode.ENFORCE, StsMode.TESTING, StsMode.NONE)}


@dataclass(frozen=True, slots=True)
class PolicyInvalid:
    """Why a TXT record or a policy was not usable."""

    reason: str


@dataclass(frozen=True, slots=True)
class MtaStsPolicy:
    """A parsed policy (RFC 8461 §3.2); `mx_patterns` are lower case, in the order published."""

    mode: StsMode
    max_age: int
    mx_patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MtaStsResult:
    """What discovery learned. `mx_hosts` are the domain's MX hosts that `mx_matched` was judged on."""

    mode: StsMode
    mx_matched: bool = False
    policy_id: str | None = None
    max_age: int | None = None
    mx_patterns: tuple[str, ...] = ()
    error: str | None = None
    mx_hosts: tuple[str, ...] = ()


def sts_record_id(records: Sequence[str]) -> str | PolicyInvalid | None:
    """The policy id from a domain's `_mta-sts` TXT records; None when no record is an MTA-STS record."""
    # RFC 8461 §3.1: records not starting "v=STSv1" are discarded; more than one left means no usable policy.
    candidates = [record for record in records if record.startswith("v=STSv1")]
    if not candidates:
        return None
    if len(candidates) > 1:
        return PolicyInvalid(f"{len(candidates)} MTA-STS TXT records where exactly one is allowed (RFC 8461 §3.1)")
    return parse_sts_record(candidates[0])


def parse_sts_record(record: str) -> str | PolicyInvalid:
    """The `id` of one `v=STSv1; id=...;` record (RFC 8461 §3.1), extensions ignored."""
    version, *fields = _FIELD_DELIM.split(record)
    if fields and fields[-1] == "":
        fields.pop()  # a trailing delimiter is allowed
    if version != "v=STSv1" or not fields:
        return PolicyInvalid("the MTA-STS TXT record is malformed")
    ids = [match.group(1) for field in fields if (match := _STS_ID.fullmatch(field))]
    if any(not _STS_ID.fullmatch(f) and not _STS_EXTENSION.fullmatch(f) for f in fields) or len(ids) != 1:
        return PolicyInvalid("the MTA-STS TXT record is malformed or has no single valid id")
    return ids[0]


def parse_policy(text: str) -> MtaStsPolicy | PolicyInvalid:
    """Parse a policy body; lines end in LF or CRLF, unknown fields are ignored (RFC 8461 §3.2)."""
    fields: dict[str, str] = {}
    patterns: list[str] = []
    for line in _LINE_BREAK.split(text):
        if not line.strip(" \t"):
            continue
        match = _POLICY_FIELD.fullmatch(line)
        if match is None:
            return PolicyInvalid("the MTA-STS policy has a line that is not a 'name: value' field")
        name, value = match.groups()
        if name == "mx":
            patterns.append(value)
        elif name in ("version", "mode", "max_age"):
            if name in fields:
                # Two different modes or ages leave the publisher's intent unknown; refuse rather than guess.
                return PolicyInvalid(f"the MTA-STS policy gives '{name}' more than once")
            fields[name] = value
    return _build_policy(fields, patterns)


def _build_policy(fields: dict[str, str], patterns: list[str]) -> MtaStsPolicy | PolicyInvalid:
    if fields.get("version") != "STSv1":
        return PolicyInvalid("the MTA-STS policy has no 'version: STSv1'")
    mode = _POLICY_MODES.get(fields.get("mode", ""))
    if mode is None:
        return PolicyInvalid("the MTA-STS policy has no valid mode (enforce, testing or none)")
    max_age = fields.get("max_age", "")
    if not _MAX_AGE.fullmatch(max_age) or int(max_age) > MAX_AGE_LIMIT:
        return PolicyInvalid(f"the MTA-STS policy has no valid max_age (0 to {MAX_AGE_LIMIT} seconds)")
    normalized = [_normalize(pattern) for pattern in patterns]
    if not all(_MX_PATTERN.fullmatch(pattern) for pattern in normalized):
        return PolicyInvalid("the MTA-STS policy has an mx pattern that is not a host name or '*.' wildcard")
    if not normalized and mode is not StsMode.NONE:
        # RFC 8461 §3.2: mx may be omitted only when the mode is "none".
        return PolicyInvalid("the MTA-STS policy lists no mx patterns")
    return MtaStsPolicy(mode, int(max_age), tuple(dict.fromkeys(normalized)))


def mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 §4.1: exact match, or "*." standing for exactly one whole left-most label, case-insensitive."""
    host, pattern = _normalize(host), _normalize(pattern)
    if not host or not pattern:
        return False
    if not pattern.startswith("*."):
        return host == pattern
    suffix = pattern[1:]
    label = host.removesuffix(suffix)
    return host.endswith(suffix) and bool(label) and "." not in label and "*" not in label


def all_mx_match(hosts: Sequence[str], patterns: Sequence[str]) -> bool:
    """True when there is at least one MX host and every host matches some pattern."""
    return bool(hosts) and all(any(mx_matches(host, pattern) for pattern in patterns) for host in hosts)


def _normalize(name: str) -> str:
    """Names compare case-insensitively, and one trailing root dot changes nothing."""
    return name.strip().lower().removesuffix(".")


async def lookup_mta_sts(domain: str, resolver: DnsResolver) -> MtaStsResult:
    """Discover the domain's MTA-STS policy and judge its MX hosts against it; never raises."""
    name = ascii_domain(domain)
    if name is None:
        return _failed("not a valid domain name")
    timeout = resolver.config.timeout
    try:
        async with asyncio.timeout(timeout):
            return await _discover(name, resolver)
    except TimeoutError:
        return _failed(f"timeout after {timeout:g} s")


async def _discover(domain: str, resolver: DnsResolver) -> MtaStsResult:
    txt = await resolver.txt(f"_mta-sts.{domain}")
    if txt.error is not None:
        return _failed(f"TXT lookup failed: {txt.error}")
    policy_id = sts_record_id(txt.records)
    if policy_id is None:
        return MtaStsResult(StsMode.ABSENT)
    if isinstance(policy_id, PolicyInvalid):
        return _failed(policy_id.reason)
    policy, mx = await asyncio.gather(fetch_policy(domain, resolver), resolver.mx(domain))
    if isinstance(policy, PolicyInvalid):
        return _failed(policy.reason, policy_id)
    result = MtaStsResult(
        mode=policy.mode,
        mx_matched=all_mx_match(mx.hosts, policy.mx_patterns),
        policy_id=policy_id,
        max_age=policy.max_age,
        mx_patterns=policy.mx_patterns,
        mx_hosts=mx.hosts,
    )
    if mx.error is not None:
        # The policy is known but the hosts it must cover are not: report the policy, claim no match.
        return _replace_failed(result, f"MX lookup failed: {mx.error}")
    return result


async def fetch_policy(domain: str, resolver: DnsResolver) -> MtaStsPolicy | PolicyInvalid:
    """Fetch and parse https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3)."""
    try:
        response = await https_get(f"mta-sts.{domain}", POLICY_PATH, resolver, max_bytes=MAX_POLICY_BYTES)
    except HttpFetchError as exc:
        return PolicyInvalid(f"MTA-STS policy fetch failed: {exc}")
    if response.status != 200:
        return PolicyInvalid(f"MTA-STS policy fetch failed: HTTP {response.status}")
    if response.media_type != "text/plain":
        return PolicyInvalid("the MTA-STS policy is not served as text/plain")
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        return PolicyInvalid("the MTA-STS policy is not UTF-8 text")
    return parse_policy(text)


def _failed(error: str, policy_id: str | None = None) -> MtaStsResult:
    return MtaStsResult(StsMode.LOOKUP_FAILED, policy_id=policy_id, error=error)


def _replace_failed(result: MtaStsResult, error: str) -> MtaStsResult:
    return MtaStsResult(
        StsMode.LOOKUP_FAILED,
        mx_matched=False,
        policy_id=result.policy_id,
        max_age=result.max_age,
        mx_patterns=result.mx_patterns,
        error=error,
    )
