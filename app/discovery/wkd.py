"""OpenPGP Web Key Directory lookup (draft-koch-openpgp-webkey-service §3.1).

The advanced method (`openpgpkey.<domain>`) is tried first; the direct method only when the advanced host does
not exist, as the draft says. No redirect is followed (https_get refuses them). What comes back is key
material only: which user IDs and keys are usable is decided by app.crypto, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.discovery.http import HostNotFound, HttpFetchError, https_get
from app.discovery.resolver import DnsResolver
from app.discovery.wkd_names import wkd_urls

MAX_KEY_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class WkdResult:
    key: bytes | None  # binary OpenPGP key material as served, unfiltered
    method: str | None  # "advanced" or "direct" where a key was found
    error: str | None = None  # set when the lookup failed, as opposed to finding nothing

    @property
    def found(self) -> bool:
        return self.key is not None


async def lookup_wkd(address: str, resolver: DnsResolver) -> WkdResult:
    try:
        urls = wkd_urls(address)
    except ValueError as exc:
        return WkdResult(None, None, f"not a WKD address: {exc}")
    for url in urls:
        try:
            response = await https_get(url.host, url.path, resolver, max_bytes=MAX_KEY_BYTES)
        except HostNotFound:
            continue  # the advanced method's host does not exist: try the direct method
        except HttpFetchError as exc:
            return WkdResult(None, None, str(exc))
        if response.status == 200 and response.body:
            return WkdResult(response.body, str(url.method))
        if response.status == 404:
            return WkdResult(None, None)
        return WkdResult(None, None, f"the key directory answered HTTP {response.status}")
    return WkdResult(None, None)
