"""The autoconfig document parser: what it reads, and that nothing it is fed escapes as anything but
ConfigInvalid."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.discovery.autoconfig_xml import MAX_CONFIG_BYTES, ConfigInvalid, OfferedServer, parse_client_config

DOCUMENT = b"""<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="e">
  <incomingServer type="IMAP"><hostname> imap.e.test </hostname><port>993</port><socketType>SSL</socketType>
    <username>%EMAILADDRESS%</username><oAuth2><hostname>ignored.test</hostname></oAuth2></incomingServer>
  <outgoingServer type="smtp"><hostname>smtp.e.test</hostname><port>99999</port><socketType>STARTTLS</socketType>
  </outgoingServer>
</emailProvider></clientConfig>"""


def test_servers_are_read_in_document_order_with_bad_ports_as_zero() -> None:
    assert parse_client_config(DOCUMENT) == (
        OfferedServer("incoming", "imap", "imap.e.test", 993, "SSL", "%EMAILADDRESS%"),
        OfferedServer("outgoing", "smtp", "smtp.e.test", 0, "STARTTLS", ""),
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"<clientConfig/>", "offers no servers"),
        (b"<rss/>", "not a clientConfig"),
        (b"<clientConfig>", "not well-formed"),
        (b'<!DOCTYPE clientConfig [<!ENTITY e "x">]><clientConfig/>', "document type"),
        (b"<clientConfig>" + b" " * MAX_CONFIG_BYTES + b"</clientConfig>", "larger than"),
    ],
)
def test_unusable_documents_are_refused_with_a_reason(document: bytes, reason: str) -> None:
    with pytest.raises(ConfigInvalid, match=reason):
        parse_client_config(document)


@given(st.binary(max_size=2000))
def test_any_bytes_give_servers_or_config_invalid(document: bytes) -> None:
    try:
        servers = parse_client_config(document)
    except ConfigInvalid:
        return
    assert servers and all(0 <= s.port <= 65535 and len(s.hostname) <= 256 for s in servers)


@given(st.text(max_size=300))
def test_any_text_inside_a_server_gives_servers_or_config_invalid(text: str) -> None:
    document = DOCUMENT.replace(b" imap.e.test ", text.encode("utf-8", "surrogatepass"))
    try:
        servers = parse_client_config(document)
    except ConfigInvalid:
        return
    assert servers and all(0 <= s.port <= 65535 and len(s.hostname) <= 256 for s in servers)
