"""Recipient discovery: the network half of domain transport evidence (DESIGN §5).

The only package that imports dnspython. Lookups are asynchronous, bounded by `DiscoveryConfig.timeout`, and
return failures as data; nothing here maps results onto `app.policy` types (the service layer does that).
"""

from __future__ import annotations

from app.discovery.autoconfig import Discovery, ServerSettings, SettingsSource, discover_servers
from app.discovery.autoconfig_xml import MAX_CONFIG_BYTES, ConfigInvalid, OfferedServer, parse_client_config
from app.discovery.config import DiscoveryConfig, Nameserver, parse_nameserver
from app.discovery.dane import DaneResult, DaneStatus, lookup_dane
from app.discovery.http import DiscoveryError, HostNotFound, HttpFetchError, HttpResponse, ResponseParser, https_get
from app.discovery.mta_sts import (
    MAX_POLICY_BYTES,
    POLICY_PATH,
    MtaStsPolicy,
    MtaStsResult,
    PolicyInvalid,
    StsMode,
    all_mx_match,
    fetch_policy,
    lookup_mta_sts,
    mx_matches,
    parse_policy,
    parse_sts_record,
    sts_record_id,
)
from app.discovery.resolver import (
    AddressAnswer,
    DnsResolver,
    MxAnswer,
    SrvAnswer,
    SrvRecord,
    TlsaAnswer,
    TlsaRecord,
    TxtAnswer,
    ascii_domain,
)
from app.discovery.wkd import WkdResult, lookup_wkd

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_POLICY_BYTES",
    "POLICY_PATH",
    "AddressAnswer",
    "ConfigInvalid",
    "DaneResult",
    "DaneStatus",
    "Discovery",
    "DiscoveryConfig",
    "DiscoveryError",
    "DnsResolver",
    "HostNotFound",
    "HttpFetchError",
    "HttpResponse",
    "MtaStsPolicy",
    "MtaStsResult",
    "MxAnswer",
    "Nameserver",
    "OfferedServer",
    "PolicyInvalid",
    "ResponseParser",
    "ServerSettings",
    "SettingsSource",
    "SrvAnswer",
    "SrvRecord",
    "StsMode",
    "TlsaAnswer",
    "TlsaRecord",
    "TxtAnswer",
    "WkdResult",
    "all_mx_match",
    "ascii_domain",
    "discover_servers",
    "fetch_policy",
    "https_get",
    "lookup_dane",
    "lookup_mta_sts",
    "lookup_wkd",
    "mx_matches",
    "parse_client_config",
    "parse_nameserver",
    "parse_policy",
    "parse_sts_record",
    "sts_record_id",
]
