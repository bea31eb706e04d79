"""A real Dovecot 2.3 IMAP server on loopback, for integration tests and benchmarks.

Rules this module keeps:
- Everything the server writes lives under the directory it is given: configuration, sockets, state, log,
  passwords and mail. Nothing in /etc/dovecot or /var is read or touched.
- The listeners bind to `HOST` only, on free ports: `imap_port` speaks STARTTLS, `imaps_port` implicit TLS
  (RFC 8314 section 3.3). Logins need TLS on both (LOGINDISABLED before STARTTLS, RFC 3501 section 6.2.3).
- `HOST` is 127.0.0.2, not 127.0.0.1: Dovecot treats a connection whose local and remote addresses are equal
  as "secured" and then allows plaintext LOGIN without TLS. A client on this machine connects from 127.0.0.1,
  so only a second loopback address makes Dovecot behave as a remote server does.
- Dovecot refuses to run mail processes as root. Run by root, mail belongs to `nobody` and the mail processes
  chroot into the mail root, so they never need to traverse the caller's private (0700) temporary
  directories; run by anyone else, every Dovecot process is that user.
- Each user has a passwd-file of its own: Dovecot stats a known passwd-file at most once a second, so a user
  appended to a shared one could be refused for up to a second after `new_user()` returned.
- `seed()` writes Maildir++ files directly (tmp/ then rename, as Maildir requires) with sizes in the file
  names, so Dovecot indexes them lazily on the next SELECT; 20,000 messages take seconds, not minutes. A new
  folder is created over IMAP first, so that sessions already open see it in LIST.
- `stop()` is idempotent; on Linux Dovecot is also told to exit if the process that started it dies.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import email.utils
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from tests.support.pki import ServerCert, TestCA

__all__ = [
    "DOVECOT_BASE_CAPABILITIES",
    "HOST",
    "DovecotError",
    "DovecotServer",
    "MailUser",
    "capabilities_without",
    "start_dovecot",
]

HOST = "127.0.0.2"
MAIL_DOMAIN = "salus.test"

# Dovecot 2.3.19's post-login CAPABILITY_STRING (src/imap/imap-common.h). Setting `imap_capability` replaces
# the whole list, so a server "without X" is this list minus X.
DOVECOT_BASE_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
    "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS "
    "BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ SPECIAL-USE"
)

_START_TIMEOUT = 15.0
_PORT_ATTEMPTS = 3
_STOP_GRACE = 0.25
# Unix socket paths are limited to 107 bytes; Dovecot's longest name under base_dir is about 25.
_MAX_RUN_DIR_LENGTH = 80
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/+@=-]+")
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,40}")
# RFC 3501 section 2.3.2: the system flags and their Maildir info letters (https://cr.yp.to/proto/maildir.html).
_FLAG_LETTERS = {"\\draft": "D", "\\flagged": "F", "\\answered": "R", "\\seen": "S", "\\deleted": "T"}
_DATE_HEADER = re.compile(rb"^Date:[ \t]*([^\r\n]+)", re.IGNORECASE | re.MULTILINE)
_SEQUENCE = itertools.count(1)
# Loaded before any fork: the child between fork and exec should do no more than call prctl.
_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1

_CONFIG = string.Template(
    """\
# Written by tests/support/dovecot.py for one test run. See that module for why each choice was made.
protocols = imap
listen = $host
base_dir = $run_dir
state_dir = $state_dir
instance_name = salus-test-$imap_port
log_path = $log_file
info_log_path = $log_file
login_greeting = Salus test IMAP ready.
default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
first_valid_uid = 1
first_valid_gid = 1
$chroot_setting

ssl = yes
ssl_cert = <$cert_file
ssl_key = <$key_file
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
# Failed logins answer within half a second (2.3.19 flushes its queue of failures twice a second) rather
# than after 2 s: tests that try a wrong password must not stall the session.
auth_failure_delay = 0

mail_location = maildir:~/Maildir
mail_temp_dir = $mail_temp_dir
# The server is thrown away after the run; fsync only slows seeding and tests down.
mail_fsync = never
$capability_setting

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    auto = subscribe
    special_use = \\Drafts
  }
  mailbox Sent {
    auto = subscribe
    special_use = \\Sent
  }
  mailbox Junk {
    auto = subscribe
    special_use = \\Junk
  }
  mailbox Trash {
    auto = subscribe
    special_use = \\Trash
  }
  mailbox Archive {
    auto = subscribe
    special_use = \\Archive
  }
}

# One passwd-file per user: Dovecot looks at a known file at most once a second, so a user added to a
# shared file just after a login could stay unknown for up to a second. A new user's file is read at once.
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $users_dir/%u
}
userdb {
  driver = passwd-file
  args = username_format=%u $users_dir/%u
}

service imap-login {
  $login_chroot
  inet_listener imap {
    address = $host
    port = $imap_port
  }
  inet_listener imaps {
    address = $host
    port = $imaps_port
    ssl = yes
  }
}
service auth {
  # Run by root, auth must read the passwd files inside the caller's private temporary directory.
  user = $auth_user
}
service anvil {
  $login_chroot
  # Without this socket auth disables its per-IP penalty, which would otherwise add up to 15 s to every
  # login from 127.0.0.1 after a test tried a wrong password.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  # Tests open many connections for one user from one address; the default limit is 10.
  mail_max_userip_connections = 200
}
"""
)


class DovecotError(RuntimeError):
    """Dovecot could not be started or used; the message carries the end of its log."""


@dataclass(frozen=True, slots=True)
class MailUser:
    """A mailbox on the test server. `maildir` is the path on this machine, for inspection."""

    name: str
    password: str
    address: str
    maildir: Path


@dataclass(frozen=True, slots=True)
class _Identity:
    """Which accounts the Dovecot processes and the mail files belong to."""

    mail_uid: int
    mail_gid: int
    internal_user: str
    internal_group: str
    login_user: str
    auth_user: str
    chroot: bool

    @classmethod
    def current(cls) -> _Identity:
        if os.geteuid() != 0:
            user = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(os.getegid()).gr_name
            name = user.pw_name
            return cls(os.geteuid(), os.getegid(), name, group, name, name, chroot=False)
        try:
            nobody = pwd.getpwnam("nobody")
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
            internal_group = grp.getgrnam("dovecot").gr_name
        except KeyError as exc:
            raise DovecotError(f"Cannot run Dovecot as root: the system account {exc} is missing") from exc
        return cls(nobody.pw_uid, nobody.pw_gid, "dovecot", internal_group, "dovenull", "root", chroot=True)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the server keeps each of its files, all below one directory."""

    root: Path

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def mail_root(self) -> Path:
        return self.root / "mail"

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def users_dir(self) -> Path:
        return self.root / "users"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def stderr_file(self) -> Path:
        return self.root / "dovecot.stderr"


def start_dovecot(
    base_dir: Path,
    ca: TestCA,
    *,
    capabilities: str | None = None,
    server_cert: ServerCert | None = None,
    timeout: float = _START_TIMEOUT,
) -> DovecotServer:
    """Start Dovecot with its files in `base_dir` and wait until both ports greet.

    `capabilities` replaces Dovecot's post-login capability list (see `capabilities_without`).
    `server_cert` swaps in another certificate (expired, untrusted, wrong name); `ca_file` stays `ca`'s.
    """
    layout = _Layout(base_dir.resolve())
    _check_paths(layout)
    identity = _Identity.current()
    _prepare_directories(layout, identity)
    cert = server_cert or ca.issue_server_cert(
        layout.root / "pki", dns_names=("localhost",), ip_addresses=("127.0.0.1", HOST)
    )
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        ports = _free_ports()
        _write_config(layout, identity, cert, ports, capabilities)
        server = DovecotServer(layout, identity, ca.cert_file, ports, capabilities)
        try:
            server.wait_until_ready(timeout)
        except DovecotError:
            server.stop()
            # Another process may take a free port between our probe and Dovecot's bind; try new ones.
            if attempt < _PORT_ATTEMPTS and "Address already in use" in server.log_tail():
                continue
            raise
        return server
    raise DovecotError(f"Dovecot found no free ports in {_PORT_ATTEMPTS} attempts")


def capabilities_without(*names: str) -> str:
    """Dovecot's default post-login capabilities minus `names`, for `start_dovecot(capabilities=...)`."""
    dropped = {name.upper() for name in names}
    return " ".join(c for c in DOVECOT_BASE_CAPABILITIES.split() if c.upper() not in dropped)


class DovecotServer:
    """A running Dovecot; create it with `start_dovecot`, end it with `stop()` or a `with` block."""

    host = HOST

    def __init__(
        self,
        layout: _Layout,
        identity: _Identity,
        ca_file: Path,
        ports: tuple[int, int],
        capabilities: str | None,
    ) -> None:
        self._layout = layout
        self._identity = identity
        self._lock = threading.Lock()
        self.ca_file = ca_file
        self.imap_port, self.imaps_port = ports
        self.capabilities = capabilities
        self.log_file = layout.log_file
        self.directory = layout.root
        self._process = _spawn(layout)

    @property
    def pid(self) -> int:
        return self._process.pid

    def __enter__(self) -> DovecotServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self, grace: float = _STOP_GRACE) -> None:
        """Stop every process of this server: SIGTERM to all, SIGKILL to what is left after `grace` seconds.

        Signalling only the master would cost a fixed second: Dovecot 2.3.19 sleeps that long after telling
        its children to quit, and again whenever a child is still starting up. Signalled together, all
        processes end at once and the mail processes close their indexes cleanly.
        """
        if self._process.returncode is not None:
            return
        pid = self._process.pid
        _signal_group(pid, signal.SIGTERM)
        _wait_for_exit(pid, grace)
        # Not yet reaped, the master keeps its process group id from being reused by anything else.
        _signal_group(pid, signal.SIGKILL)
        self._process.wait()
        (self._layout.run_dir / "master.pid").unlink(missing_ok=True)

    def wait_until_ready(self, timeout: float) -> None:
        """Poll until both listeners greet with a capability list, which Dovecot sends once auth is up."""
        deadline = time.monotonic() + timeout
        # Readiness is not a security check, and a test may have given the server a certificate that no
        # one trusts on purpose; so this probe alone does not verify it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        while not (_greets(self.host, self.imap_port, None) and _greets(self.host, self.imaps_port, context)):
            code = self._process.poll()
            if code is not None:
                raise DovecotError(f"Dovecot exited with status {code} while starting.\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DovecotError(f"Dovecot did not answer within {timeout:.0f} s.\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 40) -> str:
        """The end of Dovecot's log and of its standard error (where configuration errors go)."""
        parts = []
        for path in (self._layout.stderr_file, self._layout.log_file):
            text = _read_tail(path, lines)
            if text:
                parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts) or "(Dovecot wrote no log)"

    def log_errors(self) -> list[str]:
        """Every line of the log in which Dovecot reports an error, a fatal error or a panic."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [line for line in text.splitlines() if re.search(r"\b(Error|Fatal|Panic):", line)]

    def doveadm(self, *args: str) -> list[str]:
        """The command line of `doveadm` against this server, e.g. `doveadm("kick", user.name)`."""
        binary = shutil.which("doveadm") or shutil.which("doveadm", path="/usr/bin:/usr/sbin")
        if binary is None:
            raise DovecotError("doveadm is not installed (Debian: dovecot-core)")
        return [binary, "-c", str(self._layout.config_file), *args]

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA, with Python 3.13's strict verification."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    def new_user(self, prefix: str = "user") -> MailUser:
        """Add a user with a random password and an empty INBOX; Dovecot can log it in at once."""
        if not _SAFE_NAME.fullmatch(prefix):
            raise ValueError(f"User name prefix {prefix!r} must be lower-case letters, digits, '.', '_', '-'")
        name = f"{prefix}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(18)
        home = self._layout.mail_root / name
        maildir = home / "Maildir"
        for directory in (home, maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))):
            self._make_dir(directory)
        # Under chroot, "/./" splits the chroot from the home inside it (Dovecot's userdb convention).
        home_field = f"{self._layout.mail_root}/./{name}" if self._identity.chroot else str(home)
        uid, gid = self._identity.mail_uid, self._identity.mail_gid
        line = f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{home_field}::\n"
        _replace_file(self._layout.users_dir / name, line.encode())
        return MailUser(name=name, password=password, address=f"{name}@{MAIL_DOMAIN}", maildir=maildir)

    def client(self, user: MailUser, *, timeout: float = 30.0) -> IMAPClient:
        """An IMAPClient logged in as `user` over implicit TLS, verifying the server against the test CA."""
        client = IMAPClient(self.host, port=self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=timeout)
        client.login(user.name, user.password)
        return client

    def seed(
        self,
        user: MailUser,
        folder: str,
        messages: Iterable[bytes],
        *,
        flags: Sequence[str] = (),
        subscribe: bool = True,
    ) -> int:
        """Write `messages` into `folder` (created if missing, "/"-separated) and return how many.

        Messages get UIDs in the order given when Dovecot next looks at the folder. INTERNALDATE is taken
        from each message's Date header where it parses, so a corpus spread over years sorts as it would
        on a real server. `flags` are IMAP system flags or keywords, applied to every message.
        """
        with self._lock:
            store = _Maildir(user.maildir, self._identity)
            folder_dir = store.folder_dir(folder)
            if not folder_dir.is_dir():
                self._create_folder(user, folder, subscribe=subscribe)
                if not folder_dir.is_dir():
                    raise DovecotError(f"Dovecot did not store the folder {folder!r} at {folder_dir}")
            info = store.info_for(folder_dir, flags)
        return store.deliver(folder_dir, messages, info)

    def _create_folder(self, user: MailUser, folder: str, *, subscribe: bool) -> None:
        """Create `folder` over IMAP, and subscribe to it.

        Not with mkdir: created over IMAP, Dovecot's mailbox list index tells sessions already open about
        the folder, as it would for one that another client made; a bare mkdir is seen only by sessions
        that log in afterwards.
        """
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            # Dovecot lists its auto-created special-use folders before they exist on disk; opening one
            # (STATUS suffices) makes it real.
            client.folder_status(folder, ["UIDVALIDITY"])
            if subscribe:
                client.subscribe_folder(folder)
        finally:
            client.logout()

    def _make_dir(self, path: Path) -> None:
        path.mkdir(mode=0o700, exist_ok=True)
        if self._identity.chroot:
            os.chown(path, self._identity.mail_uid, self._identity.mail_gid)


class _Maildir:
    """Writes into one user's Maildir++ the way Dovecot 2.3 itself lays it out (LAYOUT=maildir++)."""

    def __init__(self, root: Path, identity: _Identity) -> None:
        self._root = root
        self._identity = identity

    def folder_dir(self, folder: str) -> Path:
        if folder.upper() == "INBOX":
            return self._root
        return self._root / ("." + ".".join(_imap_utf7(part) for part in _folder_parts(folder)))

    def info_for(self, folder_dir: Path, flags: Sequence[str]) -> str:
        """Maildir info, ":2," and sorted flag letters; keywords get letters via dovecot-keywords."""
        letters = set()
        keywords = []
        for flag in flags:
            if flag.startswith("\\"):
                if flag.lower() not in _FLAG_LETTERS:
                    raise ValueError(f"{flag} cannot be stored in a Maildir file name")
                letters.add(_FLAG_LETTERS[flag.lower()])
            else:
                keywords.append(flag)
        letters.update(self._keyword_letters(folder_dir, keywords))
        return ":2," + "".join(sorted(letters))

    def deliver(self, folder_dir: Path, messages: Iterable[bytes], info: str) -> int:
        now = time.time()
        stamp = int(now)
        pid = os.getpid()
        # Plain strings, not Path objects: path arithmetic would cost more than the writes themselves.
        tmp_dir, cur_dir = f"{folder_dir}/tmp/", f"{folder_dir}/cur/"
        count = 0
        for message in messages:
            # Dovecot orders new files by the time and the "M" number in the name, so both only grow.
            # S= and W= (physical and RFC822 size) spare Dovecot from reading each file to learn them.
            base = f"{stamp}.M{next(_SEQUENCE)}P{pid}.salus,S={len(message)},W={_virtual_size(message)}"
            self._write(tmp_dir + base, message, _internal_date(message, now))
            os.rename(tmp_dir + base, cur_dir + base + info)
            count += 1
        return count

    def _keyword_letters(self, folder_dir: Path, keywords: Sequence[str]) -> set[str]:
        if not keywords:
            return set()
        path = folder_dir / "dovecot-keywords"
        known: dict[str, int] = {}
        for line in _read_or_empty(path).decode().splitlines():
            index, _, name = line.partition(" ")
            known[name] = int(index)
        for keyword in keywords:
            free = sorted(set(range(26)) - set(known.values()))
            if keyword not in known and not free:
                raise ValueError(f"A Maildir folder holds at most 26 keywords; {keyword!r} is one too many")
            known.setdefault(keyword, free[0] if free else 0)
        lines = "".join(f"{index} {name}\n" for name, index in sorted(known.items(), key=lambda item: item[1]))
        _replace_file(path, lines.encode())
        self._chown(path)
        return {chr(ord("a") + known[k]) for k in keywords}

    def _write(self, path: str, data: bytes, mtime: float) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._identity.chroot:
                os.fchown(fd, self._identity.mail_uid, self._identity.mail_gid)
            # Maildir keeps INTERNALDATE (RFC 3501 section 2.3.3) in the file's modification time.
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def _chown(self, path: Path) -> None:
        if self._identity.chroot:
            os.chown(path, self._identity.mail_uid, self._identity.mail_gid)


def _folder_parts(folder: str) -> list[str]:
    parts = folder.split("/")
    for part in parts:
        # Maildir++ uses "." as its hierarchy separator on disk, so Dovecot refuses it inside names.
        if not part or "." in part or any(ord(c) < 0x20 for c in part):
            raise ValueError(f"Dovecot's Maildir++ layout cannot hold the folder name {folder!r}")
    return parts


def _imap_utf7(name: str) -> str:
    """Modified UTF-7 (RFC 3501 section 5.1.3), which Dovecot 2.3 also uses for names on disk."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _virtual_size(message: bytes) -> int:
    """RFC822.SIZE counts every line end as CRLF (RFC 3501 section 2.3.4); Maildir's W= records it."""
    return len(message) + message.count(b"\n") - message.count(b"\r\n")


def _internal_date(message: bytes, default: float) -> float:
    header_end = message.find(b"\r\n\r\n")
    match = _DATE_HEADER.search(message, 0, header_end if header_end >= 0 else 8192)
    if match is None:
        return default
    try:
        return email.utils.parsedate_to_datetime(match.group(1).decode("ascii", "replace")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return default


def _check_paths(layout: _Layout) -> None:
    if not _SAFE_PATH.fullmatch(str(layout.root)):
        raise DovecotError(f"Dovecot's configuration cannot hold the path {layout.root}; choose a simpler one")
    if len(str(layout.run_dir)) > _MAX_RUN_DIR_LENGTH:
        raise DovecotError(f"{layout.run_dir} is too long for the Unix sockets Dovecot creates in it")


def _prepare_directories(layout: _Layout, identity: _Identity) -> None:
    for directory in (layout.root, layout.run_dir, layout.state_dir, layout.mail_root, layout.users_dir):
        directory.mkdir(
            mode=0o755 if directory in (layout.mail_root, layout.run_dir) else 0o700,
            parents=True,
            exist_ok=True,
        )
    if identity.chroot:
        # The chrooted mail processes see the mail root as "/"; give them a /tmp for mail_temp_dir.
        temp = layout.mail_root / "tmp"
        temp.mkdir(exist_ok=True)
        temp.chmod(0o1777)


def _write_config(
    layout: _Layout, identity: _Identity, cert: ServerCert, ports: tuple[int, int], capabilities: str | None
) -> None:
    if capabilities is not None and not re.fullmatch(r"[A-Za-z0-9=+.\- ]+", capabilities):
        raise ValueError(f"Not a capability list: {capabilities!r}")
    text = _CONFIG.substitute(
        host=HOST,
        run_dir=layout.run_dir,
        state_dir=layout.state_dir,
        log_file=layout.log_file,
        users_dir=layout.users_dir,
        cert_file=cert.chain_file,
        key_file=cert.key_file,
        imap_port=ports[0],
        imaps_port=ports[1],
        internal_user=identity.internal_user,
        internal_group=identity.internal_group,
        login_user=identity.login_user,
        auth_user=identity.auth_user,
        chroot_setting=f"valid_chroot_dirs = {layout.mail_root}" if identity.chroot else "",
        mail_temp_dir="/tmp" if identity.chroot else layout.mail_root,
        # Not root: no process can chroot, so the login and anvil processes must not try.
        login_chroot="" if identity.chroot else "chroot =",
        capability_setting=f"imap_capability = {capabilities}" if capabilities is not None else "",
    )
    layout.config_file.write_text(text)


def _spawn(layout: _Layout) -> subprocess.Popen[bytes]:
    with layout.stderr_file.open("wb") as stderr:
        return subprocess.Popen(
            [_dovecot_binary(), "-F", "-c", str(layout.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            # Its own process group, so that stop() can end every Dovecot process and nothing else.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _dovecot_binary() -> str:
    # Debian installs it in /usr/sbin, which is not on an ordinary user's PATH.
    binary = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise DovecotError("Cannot start the test IMAP server: Dovecot is not installed (Debian: dovecot-imapd)")
    return binary


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux sends it SIGTERM when the thread that started it ends.

    This keeps a killed test run from leaving Dovecot holding ports. Start the server from a thread that
    lives as long as the server (pytest's main thread, a benchmark's main thread).
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(leader: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signum)


def _wait_for_exit(pid: int, timeout: float) -> None:
    """Wait until `pid` has exited, without reaping it (WNOWAIT), or until `timeout` passes."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ChildProcessError):
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return
            time.sleep(0.005)


def _free_ports() -> tuple[int, int]:
    """Two distinct free ports: both probes stay bound until both numbers are known."""
    with socket.socket() as first, socket.socket() as second:
        first.bind((HOST, 0))
        second.bind((HOST, 0))
        return first.getsockname()[1], second.getsockname()[1]


def _greets(host: str, port: int, context: ssl.SSLContext | None) -> bool:
    """True once the port answers with Dovecot's real greeting, not "Waiting for authentication"."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as raw:
            if context is None:
                return _read_greeting(raw)
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return _read_greeting(tls)
    except (OSError, ssl.SSLError):
        return False


def _read_greeting(sock: socket.socket) -> bool:
    with sock.makefile("rb") as stream:
        for _ in range(3):
            line = stream.readline(4096)
            if b"[CAPABILITY " in line:
                return True
            if not line:
                return False
    return False


def _read_tail(path: Path, lines: int) -> str:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64 * 1024))
        return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])
    return ""


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _replace_file(path: Path, data: bytes) -> None:
    """Readers (Dovecot's auth, a mail process reading dovecot-keywords) see the old file or the new one."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temp.replace(path)
