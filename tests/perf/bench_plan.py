"""Benchmark: planning 50 recipients across 20 domains, cold (discovery over the network) and warm (cache).

    .venv/bin/python -m tests.perf.bench_plan

The domains are served by a local DNS server (MX, MTA-STS TXT, TLSA) and an HTTPS server (MTA-STS policies),
and the submission server (aiosmtpd) offers REQUIRETLS. Two domains never answer, so the cold figure also shows
that every lookup is bounded by the discovery timeout (1 s here). Targets (issue: recipient evidence): warm
under 50 ms, cold under 2 s. The reference printed beside them is the same recipients planned by the pure
decision engine alone, with the facts already in hand.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.core.models import Endpoint, Security
from app.core.settings import effective, validate
from app.policy import MessageFacts, PolicyRules, RecipientFacts, plan
from app.services.accounts import AccountSettings, add_account
from app.services.planning import PlanOutcome, plan_message_async
from app.services.profile import Session, create_profile
from tests.support.dns_server import DnsServer
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import TestCA
from tests.support.smtp_server import SmtpServer

DOMAINS = 20
RECIPIENTS = 50
SILENT = ("silent0.test", "silent1.test")
POLICY = b"version: STSv1\nmode: enforce\nmx: mx.{d}\nmax_age: 86400\n"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="salus-bench-plan-") as work:
        base = Path(work)
        ca = TestCA.create(base / "ca")
        domains = [f"d{i}.test" for i in range(DOMAINS - len(SILENT))] + list(SILENT)
        cert = ca.issue_server_cert(base / "web", dns_names=tuple(f"mta-sts.{d}" for d in domains), ip_addresses=())
        routes = {
            (f"mta-sts.{d}", "/.well-known/mta-sts.txt"): Route(body=POLICY.replace(b"{d}", d.encode()))
            for d in domains
        }
        silent = [d for s in SILENT for d in (s, f"_mta-sts.{s}", f"mx.{s}")]
        with (
            DnsServer(_records(domains), dropped=silent) as dns,
            HttpsServer(cert, routes) as web,
            SmtpServer(ca.issue_server_cert(base / "smtp"), requiretls=True) as smtp,
        ):
            return _run(base, ca, dns, web.port, smtp.port, domains)


def _records(domains: list[str]) -> list[tuple[str, str, str]]:
    records = []
    for d in domains:
        records += [
            (d, "MX", f"10 mx.{d}."),
            (f"_mta-sts.{d}", "TXT", '"v=STSv1; id=1"'),
            (f"mta-sts.{d}", "A", "127.0.0.1"),
        ]
    return records


def _run(base: Path, ca: TestCA, dns: DnsServer, https_port: int, smtp_port: int, domains: list[str]) -> int:
    policy = {
        "dns_resolvers": [f"127.0.0.1:{dns.port}"], "discovery_ca_file": str(ca.cert_file),
        "discovery_https_port": https_port, "discovery_timeout_seconds": 1,
    }  # fmt: skip
    settings = effective(validate(policy, origin="bench"), {})
    session = create_profile(base / "profile", "bench passphrase")
    submission = Endpoint("127.0.0.1", smtp_port, Security.TLS)
    account = AccountSettings("work", Endpoint("127.0.0.1", 993, Security.TLS), submission, "me", ca.cert_file)
    add_account(session, account, "password")
    recipients = tuple(f"person{i}@{domains[i % len(domains)]}" for i in range(RECIPIENTS))
    try:
        cold = _timed(session, settings, recipients)
        warm = [_timed(session, settings, recipients) for _ in range(7)]
        reference = _engine_only(cold[1], recipients)
    finally:
        session.close()
    outcome, cold_seconds = cold
    counts = {m.value: n for m, n in outcome.plan.summary().items()}
    warm_median = statistics.median(s for _, s in warm)
    print(f"{RECIPIENTS} recipients across {len(domains)} domains ({len(SILENT)} never answer; timeout 1 s)")
    print(f"methods: {json.dumps(counts)}")
    print(f"cold plan (network discovery):  {cold_seconds * 1000:8.1f} ms   (target < 2000 ms)")
    print(f"warm plan (cached evidence):    {warm_median * 1000:8.1f} ms   (target < 50 ms, median of 7)")
    print(f"reference: decision engine only {reference * 1000:8.1f} ms   (same facts, no I/O)")
    print(f"warm / reference: {warm_median / reference:.1f}x")
    return 0


def _timed(session: Session, settings: object, recipients: tuple[str, ...]) -> tuple[PlanOutcome, float]:
    start = time.perf_counter()
    outcome = asyncio.run(
        plan_message_async(session, settings, recipients, "Results", escalate=False, account=None)  # type: ignore[arg-type]
    )
    return outcome, time.perf_counter() - start


def _engine_only(_: float, recipients: tuple[str, ...]) -> float:
    from datetime import UTC, datetime

    facts = [RecipientFacts(address=a) for a in recipients]
    now = datetime.now(UTC)
    start = time.perf_counter()
    for _ in range(10):
        plan(facts, MessageFacts(), PolicyRules(), now)
    return (time.perf_counter() - start) / 10


if __name__ == "__main__":
    sys.exit(main())
