"""Benchmark: Salus sync and search against mbsync + notmuch, on the same Dovecot, in the same run.

    .venv/bin/python -m tests.perf.bench_sync [--messages 20000] [--keep DIR]

Prints, with wall time, CPU time and peak memory for each:
- `salus sync` initial, then incremental after 100 new messages and 50 flag changes;
- mbsync (default config) followed by `notmuch new`, and mbsync alone: the peer pipeline to a searchable copy;
- the wire limit: one `UID FETCH 1:* (BODY.PEEK[])` per folder, streamed to nowhere;
- the median latency of five searches in Salus and in notmuch, with both hit counts (they must agree).
Salus's search times are measured in process, as the window runs them (unlock done once); notmuch's include
its process start, whose size is printed separately on an empty result.
Targets (issue: vault and sync): initial sync faster than mbsync + notmuch new; incremental under 2 s; every
search no slower than notmuch's; peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import calendar
import collections
import email
import email.utils
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from app.core.query import parse_query
from app.services.profile import unlock
from app.store import search as store_search
from tests.perf.measure import Launcher, Measurement
from tests.support.corpus import make_message, realistic_corpus
from tests.support.dovecot import HOST, DovecotServer, MailUser, start_dovecot
from tests.support.pki import TestCA

PASSPHRASE = "benchmark passphrase"
FOLDERS = (("INBOX", 0.55), ("Archive", 0.25), ("Überweisungen", 0.12), ("Sent", 0.08))


@dataclass(frozen=True)
class Query:
    label: str
    salus: str
    notmuch: str


def main() -> int:
    args = _arguments()
    launcher = Launcher()  # first, while this process is still small (see tests/perf/measure.py)
    work = Path(args.keep or tempfile.mkdtemp(prefix="salus-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    ca = TestCA.create(work / "ca")
    # mbsync 1.4 matches the host only against DNS names, so the address is also listed as one.
    cert = ca.issue_server_cert(work / "cert", dns_names=("localhost", HOST), ip_addresses=("127.0.0.1", HOST))
    server = start_dovecot(work / "dovecot", ca, server_cert=cert)
    try:
        return _run(args, work, server, launcher)
    finally:
        launcher.close()
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--keep", help="work directory to keep (default: a temporary one, removed at the end)")
    return parser.parse_args()


def _run(args: argparse.Namespace, work: Path, server: DovecotServer, launcher: Launcher) -> int:
    user = server.new_user("bench")
    seeded, queries = _seed(server, user, args.messages)
    print(f"Seeded {seeded} messages in {len(FOLDERS)} folders on Dovecot ({server.host}).\n")
    results: list[Measurement] = []

    results.append(_wire_limit(server, user))
    salus_env, profile = _salus_profile(work, server, user)
    initial = launcher.run("salus sync (initial)", _salus("sync", "--json"), salus_env)
    results.append(initial)
    _change_server(server, user)
    results.append(launcher.run("salus sync (100 new, 50 flag changes)", _salus("sync", "--json"), salus_env))

    mbsync, notmuch = _peer(work, server, user, launcher)
    results += [mbsync, notmuch]
    peer_total = Measurement(
        "mbsync + notmuch new",
        mbsync.wall + notmuch.wall,
        mbsync.cpu + notmuch.cpu,
        max(mbsync.peak_mb, notmuch.peak_mb),
    )
    results.append(peer_total)
    # notmuch indexed the changed mailbox too (it ran after the changes), so both sides search the same mail.
    search_rows = _searches(profile, work / "notmuch-config", queries)

    print(f"{'what':<58} {'wall':>10} {'CPU':>15} {'peak memory':>17}")
    for m in results:
        print(m.row())
    print()
    print(f"{'search':<36} {'salus median':>14} {'notmuch median':>16} {'salus hits':>11} {'notmuch hits':>13}")
    for row in search_rows:
        print(row)
    print()
    print(f"initial sync vs mbsync + notmuch new: {initial.wall / peer_total.wall:.2f}x the time (target < 1)")
    print(f"initial sync vs wire limit: {initial.wall / results[0].wall:.1f}x")
    incremental = results[2]
    print(f"incremental sync: {incremental.wall:.2f} s (target < 2 s)")
    print(f"peak memory of salus sync: {max(initial.peak_mb, incremental.peak_mb):.0f} MB (target < 300 MB)")
    return 0


def _seed(server: DovecotServer, user: MailUser, count: int) -> tuple[int, list[Query]]:
    corpus = list(realistic_corpus(count, seed=7))
    start, total = 0, 0
    for name, share in FOLDERS:
        end = len(corpus) if name == FOLDERS[-1][0] else start + int(count * share)
        seen = ["\\Seen"] if name != "INBOX" else []
        total += server.seed(user, name, corpus[start:end], flags=seen)
        start = end
    return total, _pick_queries(corpus)


def _pick_queries(corpus: list[bytes]) -> list[Query]:
    """Five searches that mean the same in both tools, picked from a sample of the seeded mail."""
    sample = random.Random(5).sample(corpus, min(400, len(corpus)))
    words: collections.Counter[str] = collections.Counter()
    senders: collections.Counter[str] = collections.Counter()
    sentences: list[str] = []
    months: collections.Counter[str] = collections.Counter()
    for raw in sample:
        message = email.message_from_bytes(raw)
        senders[email.utils.parseaddr(str(message["From"]))[1].lower()] += 1
        when = email.utils.parsedate_to_datetime(str(message["Date"])).astimezone(UTC)
        months[when.strftime("%Y-%m")] += 1
        text = _plain_text(message)
        words.update(w for w in re.findall(r"[a-z]{6,}", text))
        sentences.extend(s for s in text.split(". ") if len(s.split()) > 4)
    rare = next(w for w, n in sorted(words.items()) if n == 1)
    common = words.most_common(1)[0][0]
    pair = " ".join(random.Random(9).choice(sentences).lower().split()[1:3])
    sender = senders.most_common(1)[0][0]
    month = months.most_common(1)[0][0]
    last_day = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
    return [
        Query("rare word", rare, rare),
        Query("common word", common, common),
        Query("sender", f"from:{sender}", f"from:{sender}"),
        Query("date range", f"date:{month}-01..{month}-{last_day}", f"date:{month}-01..{month}-{last_day}"),
        Query("phrase", f'"{pair}"', f'"{pair}"'),
    ]


def _plain_text(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _salus(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def _salus_profile(work: Path, server: DovecotServer, user: MailUser) -> tuple[dict[str, str], Path]:
    profile = work / "salus-profile"
    env = {**os.environ, "SALUS_PROFILE": str(profile), "SALUS_PASSPHRASE": PASSPHRASE}
    subprocess.run(_salus("profile", "create"), env=env, check=True, capture_output=True)
    subprocess.run(
        _salus("account", "add", "bench", "--imap", f"{server.host}:{server.imaps_port}", "--imap-security", "tls",
               "--smtp", f"{server.host}:465", "--user", user.name, "--ca-file", str(server.ca_file)),
        env={**env, "SALUS_ACCOUNT_PASSWORD": user.password}, check=True, capture_output=True,
    )  # fmt: skip
    return env, profile


def _change_server(server: DovecotServer, user: MailUser) -> None:
    with server.client(user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        client.add_flags(random.Random(3).sample(uids, 50), ["\\Flagged"])
        for i in range(100):
            client.append("INBOX", make_message(subject=f"New referral {i}", body="Please see the attached notes."))


def _wire_limit(server: DovecotServer, user: MailUser) -> Measurement:
    start = time.perf_counter()
    cpu = time.process_time()
    total = 0
    for folder, _ in FOLDERS:
        total += _stream_folder(server, user, folder)
    return Measurement(
        f"wire limit: UID FETCH 1:* BODY.PEEK[] ({total / 1e6:.0f} MB, in process)",
        time.perf_counter() - start,
        time.process_time() - cpu,
        0.0,
    )


def _stream_folder(server: DovecotServer, user: MailUser, folder: str) -> int:
    """Reads one folder's every message off the wire and drops it: the floor any sync must stand on."""
    context = server.ssl_context()
    with (
        socket.create_connection((server.host, server.imaps_port)) as raw,
        context.wrap_socket(raw, server_hostname=server.host) as tls,
    ):
        reader = tls.makefile("rb", buffering=1 << 20)
        reader.readline()
        mailbox = _utf7(folder)
        for tag, command in (
            (b"a", f'LOGIN "{user.name}" "{user.password}"'),
            (b"b", f'EXAMINE "{mailbox}"'),
        ):
            tls.sendall(tag + b" " + command.encode() + b"\r\n")
            _drain(reader, tag)
        tls.sendall(b"c UID FETCH 1:* (BODY.PEEK[])\r\n")
        return _drain(reader, b"c")


def _drain(reader: object, tag: bytes) -> int:
    total = 0
    while True:
        line: bytes = reader.readline()  # type: ignore[attr-defined]
        if not line:
            raise ConnectionError("server closed the connection")
        if line.rstrip().endswith(b"}"):
            size = int(line.rstrip()[line.rstrip().rindex(b"{") + 1 : -1])
            total += size
            while size:
                size -= len(reader.read(min(size, 1 << 20)))  # type: ignore[attr-defined]
            continue
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise ConnectionError(line.decode(errors="replace"))
            return total


def _utf7(name: str) -> str:
    from imapclient.imap_utf7 import encode

    return str(encode(name).decode("ascii"))


def _peer(work: Path, server: DovecotServer, user: MailUser, launcher: Launcher) -> tuple[Measurement, Measurement]:
    maildir = work / "mbsync-mail"
    maildir.mkdir()
    config = work / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount bench
Host {server.host}
Port {server.imaps_port}
User {user.name}
Pass {user.password}
SSLType IMAPS
CertificateFile {server.ca_file}

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
"""
    )
    mbsync = launcher.run("mbsync -a", ["mbsync", "-c", str(config), "-a"], os.environ)
    notmuch_config = work / "notmuch-config"
    notmuch_config.write_text(f"[database]\npath={maildir}\n[new]\ntags=inbox\n[search]\nexclude_tags=\n")
    env = {**os.environ, "NOTMUCH_CONFIG": str(notmuch_config), "TZ": "UTC"}
    notmuch = launcher.run("notmuch new", ["notmuch", "new", "--quiet"], env)
    return mbsync, notmuch


def _searches(profile: Path, notmuch_config: Path, queries: list[Query]) -> list[str]:
    session = unlock(profile, PASSPHRASE)
    env = {**os.environ, "NOTMUCH_CONFIG": str(notmuch_config), "TZ": "UTC"}
    rows = []
    try:
        for q in queries:
            label, ours, theirs = q.label, q.salus, q.notmuch
            query = parse_query(ours)
            salus_times, notmuch_times = [], []
            hits = notmuch_hits = 0
            for _ in range(5):
                start = time.perf_counter()
                hits = len(store_search.search(session.vault, query, limit=1_000_000))
                salus_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                out = subprocess.run(
                    ["notmuch", "search", "--output=messages", theirs],
                    env=env,
                    capture_output=True,
                    check=True,
                ).stdout
                notmuch_times.append(time.perf_counter() - start)
                notmuch_hits = len(out.splitlines())
            agree = "" if hits == notmuch_hits else "  (counts differ)"
            rows.append(
                f"{label + ': ' + ours:<36} {statistics.median(salus_times) * 1000:11.1f} ms "
                f"{statistics.median(notmuch_times) * 1000:13.1f} ms {hits:>11} {notmuch_hits:>13}{agree}"
            )
        baseline = statistics.median(_notmuch_seconds(env, "id:no-such-message@nowhere") for _ in range(5))
        rows.append(f"(notmuch process start-up and open, measured on an empty result: {baseline * 1000:.1f} ms)")
    finally:
        session.close()
    return rows


def _notmuch_seconds(env: dict[str, str], query: str) -> float:
    start = time.perf_counter()
    subprocess.run(["notmuch", "search", "--output=messages", query], env=env, capture_output=True, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
