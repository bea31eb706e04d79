"""The headless command line (DESIGN.md §9): the contract that tests, benchmarks and IT scripts rely on.

Rules:
- With --json, stdout carries exactly one JSON document; progress and errors go to stderr.
- Exit codes: 0 ok, 1 error, 2 usage, 3 unlock or authentication failed, 4 transport security refused,
  5 blocked by policy. Every `AppError` carries its own code; tracebacks are for bugs only.
- Nothing printed on stderr holds a passphrase, key, message body or address.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import mimetypes
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError, BlockedByPolicy, ExitCode, ProfileError, UnlockError, UsageError
from app.core.settings import Effective, Settings, Source
from app.mime.compose import OutgoingAttachment
from app.policy import Reason
from app.services import (
    about,
    account_discovery,
    accounts,
    demo,
    keys,
    mailbox,
    opening,
    planning,
    portal_desk,
    portal_replies,
    second_factor,
)
from app.services import drafts as drafts_service
from app.services import outbox as outbox_service
from app.services import portal as portal_service
from app.services import resend as resend_service
from app.services import send as sending
from app.services.policy import current_settings
from app.services.profile import Session, create_profile, unlock
from app.services.reason_text import METHOD_NAMES, reason_sentence
from app.services.second_factor import SecondFactorRejected, SecondFactorRequired


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exits with 2 too, but prints its usage first
        raise UsageError(message)


def _common() -> _Parser:
    # SUPPRESS lets these options stand before or after the subcommand without one overwriting the other.
    common = _Parser(add_help=False)
    common.add_argument("--profile", type=Path, default=argparse.SUPPRESS, help="profile directory (or SALUS_PROFILE)")
    common.add_argument("--passphrase-file", type=Path, default=argparse.SUPPRESS, help="read the passphrase here")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    common.add_argument("--totp-code", default=argparse.SUPPRESS, help="authenticator code (or SALUS_TOTP_CODE)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="salus", description="Salus, a secure email client for healthcare.", parents=[common])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--demo", action="store_true", help="open the demo profile (created on first use)")
    parser.add_argument(
        "--exit-when-ready",
        action="store_true",
        help='with --demo: print "ready" and quit once the window shows the folders (installer smoke tests)',
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    profile = sub.add_parser("profile", help="create a profile").add_subparsers(dest="action", required=True)
    create = profile.add_parser("create", parents=[common], help="create a new profile in an empty directory")
    create.add_argument("--use-keyring", action="store_true", help="also keep the key in the OS keyring")
    totp = profile.add_parser("totp", help="the authenticator app (TOTP) second factor")
    totp_actions = totp.add_subparsers(dest="totp_action", required=True, parser_class=_Parser)
    totp_actions.add_parser("enrol", parents=[common], help="enrol an authenticator app; prints its secret once")
    totp_actions.add_parser("disable", parents=[common], help="stop asking for a code (unless policy requires it)")

    account = sub.add_parser("account", help="manage accounts").add_subparsers(dest="action", required=True)
    add = account.add_parser("add", parents=[common], help="add an account (password: SALUS_ACCOUNT_PASSWORD)")
    add.add_argument("name")
    add.add_argument("--imap", required=True, metavar="HOST:PORT")
    add.add_argument("--imap-security", choices=["tls", "starttls"], default="tls")
    add.add_argument("--smtp", required=True, metavar="HOST:PORT")
    add.add_argument("--smtp-security", choices=["tls", "starttls"], default="tls")
    add.add_argument("--user", required=True)
    add.add_argument("--ca-file", type=Path, help="PEM file of an extra CA to trust for this account")
    add.add_argument("--address", default="", help="the sender address, when the user name is not it")
    account.add_parser("list", parents=[common], help="list accounts")
    discover = account.add_parser("discover", parents=[common], help="suggest server settings for an address")
    discover.add_argument("address", help="the email address of the account to set up")

    sync = sub.add_parser("sync", parents=[common], help="fetch new mail and changes from the server")
    sync.add_argument("--account")
    sync.add_argument("--progress", action="store_true", help="report progress on stderr")

    sub.add_parser("stats", parents=[common], help="message counts per folder")

    search = sub.add_parser("search", parents=[common], help="full-text search of the vault")
    search.add_argument("query", nargs="+")
    search.add_argument("--limit", type=int, default=50)

    show = sub.add_parser("show", parents=[common], help="print one message (recorded in the audit log)")
    show.add_argument("--account")
    show.add_argument("--folder", default="INBOX")
    show.add_argument("--uid", type=int, required=True)

    plan = sub.add_parser("plan", parents=[common], help="how each recipient would receive a message, and why")
    plan.add_argument("--to", nargs="+", required=True, metavar="ADDR")
    plan.add_argument("--subject", default="")
    plan.add_argument("--escalate", action="store_true", help="force the secure portal (as the composer's button)")
    plan.add_argument("--account", help="the account whose submission server would send it")

    keys = sub.add_parser("keys", help="OpenPGP keys and S/MIME certificates").add_subparsers(
        dest="action", required=True
    )
    key_import = keys.add_parser("import", parents=[common], help="import OpenPGP keys or S/MIME certificates")
    key_import.add_argument("files", nargs="+", type=Path)
    key_import.add_argument("--verified", action="store_true", help="you checked the fingerprint with its owner")
    keys.add_parser("list", parents=[common], help="list keys and certificates")
    identity = keys.add_parser("import-identity", parents=[common], help="import your own S/MIME identity (PKCS#12)")
    identity.add_argument("file", type=Path)
    identity.add_argument("--p12-password-file", type=Path, help="file holding the PKCS#12 password")

    send = sub.add_parser("send", parents=[common], help="send a message, each recipient by its planned method")
    send.add_argument("--to", nargs="+", required=True, metavar="ADDR")
    send.add_argument("--cc", nargs="+", default=[], metavar="ADDR")
    send.add_argument("--bcc", nargs="+", default=[], metavar="ADDR", help="named in no copy anyone else gets")
    send.add_argument("--subject", required=True)
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--body")
    body.add_argument("--body-file", type=Path)
    send.add_argument("--attach", action="append", default=[], type=Path, metavar="FILE")
    send.add_argument("--escalate", action="store_true", help="send through the secure portal")
    send.add_argument("--account")

    queue = sub.add_parser("outbox", help="the durable outbox").add_subparsers(dest="action", required=True)
    queue.add_parser("list", parents=[common], help="messages waiting, sent or failed")
    queue.add_parser("flush", parents=[common], help="submit whatever is due now")
    resend = queue.add_parser("resend", parents=[common], help="send a failed message again by a stronger method")
    resend.add_argument("message", help="the number or Message-ID `outbox list` shows")
    resend.add_argument("--escalate", action="store_true", help="through the secure portal (required)")

    saved = sub.add_parser("drafts", help="drafts saved by the composer").add_subparsers(dest="action", required=True)
    saved.add_parser("list", parents=[common], help="saved drafts, newest first")
    saved.add_parser("delete", parents=[common], help="delete a saved draft").add_argument("draft_id")

    portal = sub.add_parser("portal", help="messages sent through the secure portal").add_subparsers(
        dest="action", required=True
    )
    portal.add_parser("status", parents=[common], help="delivered, opened, replied, expired or revoked")
    portal.add_parser("fetch", parents=[common], help="fetch, decrypt and store the replies to portal messages")
    reissue = portal.add_parser("reissue", parents=[common], help="send a revoked or expired message again")
    reissue.add_argument("portal_id", help='the id shown by `portal status` (after "--" if it starts with "-")')
    revoke = portal.add_parser("revoke", parents=[common], help="withdraw a portal message")
    revoke.add_argument("portal_id", help='the id shown by `portal status` (after "--" if it starts with "-")')

    evidence = sub.add_parser("evidence", help="recipient domain evidence").add_subparsers(dest="action", required=True)
    refresh = evidence.add_parser(
        "refresh", parents=[common], help="look the partner domains (and any named) up again, ignoring the cache"
    )
    refresh.add_argument("domains", nargs="*")

    policy = sub.add_parser("policy", help="the managed policy").add_subparsers(dest="action", required=True)
    policy.add_parser("show", parents=[common], help="print the effective settings and where each came from")

    audit = sub.add_parser("audit", help="the access log").add_subparsers(dest="action", required=True)
    audit.add_parser("verify", parents=[common], help="check the hash chain of the access log")
    export = audit.add_parser("export", parents=[common], help="write the access log as CSV or JSON")
    export.add_argument("--format", choices=["csv", "json"], default="json")
    export.add_argument("--output", type=Path, help="file to write (default: stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except AppError as exc:
        print(f"salus: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("salus: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.version:
        print(f"salus {about.version()}")
        return ExitCode.OK
    if args.exit_when_ready and not args.demo:
        raise UsageError("--exit-when-ready works only with --demo (another profile would wait for its passphrase).")
    # An invalid managed policy stops every command before it does anything (DESIGN.md §10).
    args.policy_file, args.settings = current_settings()
    if args.demo or args.command is None:
        return _run_gui(args, demo=args.demo)
    handler = _HANDLERS[(args.command, getattr(args, "action", None))]
    return handler(args)


# --- profile and passphrase -------------------------------------------------------------------------------


def _profile_dir(args: argparse.Namespace) -> Path:
    directory = getattr(args, "profile", None) or os.environ.get("SALUS_PROFILE")
    if not directory:
        raise UsageError("No profile given: use --profile DIR or set SALUS_PROFILE.")
    return Path(directory).expanduser()


def _passphrase(args: argparse.Namespace, *, confirm: bool = False, required: bool = True) -> str | None:
    from_env = os.environ.get("SALUS_PASSPHRASE")
    if from_env is not None:
        return from_env
    path: Path | None = getattr(args, "passphrase_file", None)
    if path is not None:
        try:
            return path.read_text("utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"Cannot read the passphrase file {path}: {exc.strerror}") from exc
    if not required:
        return None
    return _prompt_passphrase(confirm)


def _prompt_passphrase(confirm: bool) -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UnlockError("No passphrase given: set SALUS_PASSPHRASE, use --passphrase-file, or type it.")
        return line
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise UsageError("The two passphrases differ; nothing was created.")
    return first


def _open(args: argparse.Namespace, *, enrolling: bool = False) -> Session:
    directory = _profile_dir(args)
    if not directory.is_dir():
        raise ProfileError(f"There is no profile at {directory}; create one with `salus profile create`.")
    code = getattr(args, "totp_code", None) or os.environ.get("SALUS_TOTP_CODE")
    passphrase = _passphrase(args, required=False)
    if passphrase is None:
        try:
            return unlock(directory, None, totp_code=code, enrolling=enrolling)
        except (SecondFactorRejected, SecondFactorRequired):
            raise  # the passphrase was not the problem: asking for it would mislead
        except UnlockError:
            passphrase = _prompt_passphrase(confirm=False)
    return unlock(directory, passphrase, totp_code=code, enrolling=enrolling)


def _emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(document, ensure_ascii=False, indent=2))
    elif text:
        print(text)


# --- commands ---------------------------------------------------------------------------------------------


def _cmd_profile_create(args: argparse.Namespace) -> int:
    directory = _profile_dir(args)
    if args.use_keyring and not args.settings["keyring_allowed"]:
        raise BlockedByPolicy("Your organisation's policy does not allow keeping the key in the OS keyring.")
    passphrase = _passphrase(args, confirm=True) or ""
    session = create_profile(directory, passphrase, use_keyring=args.use_keyring)
    session.close()
    _emit(args, {"profile": str(directory), "profile_id": session.profile_id}, f"Created profile {directory}")
    return ExitCode.OK


def _cmd_profile_totp(args: argparse.Namespace) -> int:
    session = _open(args, enrolling=args.totp_action == "enrol")
    try:
        if args.totp_action == "disable":
            second_factor.disable(session, args.settings, utc_now())
            _emit(args, {"totp": "disabled"}, "The authenticator is no longer asked for.")
            return ExitCode.OK
        enrolment = second_factor.enrol(session, session.profile_dir.name, utc_now())
    finally:
        session.close()
    # Shown once and never stored outside the vault: add it to the app now (scan the URI as a QR code).
    document = {"secret": enrolment.secret_base32, "uri": enrolment.uri}
    _emit(args, document, f"Secret: {enrolment.secret_base32}\n{enrolment.uri}")
    return ExitCode.OK


def _cmd_account_add(args: argparse.Namespace) -> int:
    settings = accounts.AccountSettings(
        name=args.name,
        imap=accounts.parse_endpoint(args.imap, args.imap_security, what="imap"),
        smtp=accounts.parse_endpoint(args.smtp, args.smtp_security, what="smtp"),
        username=args.user,
        ca_file=args.ca_file,
        address=args.address,
    )
    password = os.environ.get("SALUS_ACCOUNT_PASSWORD", "")
    with _session(args) as session:
        accounts.add_account(session, settings, password)
    _emit(args, {"account": args.name}, f"Added account {args.name}")
    return ExitCode.OK


def _cmd_account_list(args: argparse.Namespace) -> int:
    with _session(args) as session:
        listed = mailbox.accounts_to_sync(session, None)
    rows = [
        {"name": a.name, "imap": f"{a.imap.host}:{a.imap.port}", "imap_security": a.imap.security.value,
         "smtp": f"{a.smtp.host}:{a.smtp.port}", "smtp_security": a.smtp.security.value, "user": a.username}
        for a in listed
    ]  # fmt: skip
    _emit(args, {"accounts": rows}, "\n".join(f"{r['name']}\t{r['user']}\t{r['imap']}" for r in rows))
    return ExitCode.OK


def _cmd_account_discover(args: argparse.Namespace) -> int:
    found = account_discovery.suggest_servers_now(args.address, args.settings)
    _emit(args, account_discovery.discovery_document(found), account_discovery.discovery_text(found))
    return ExitCode.OK if found.suggestion is not None else ExitCode.ERROR


def _cmd_sync(args: argparse.Namespace) -> int:
    report: Callable[[str, int, int], None] = _progress if (args.progress or sys.stderr.isatty()) else _quiet
    with _session(args) as session:
        results = mailbox.sync(session, args.settings, args.account, report, _warn)
        replies = _portal_after_sync(session, args.settings)
    document: dict[str, Any] = {
        "accounts": {n: {"new": c.new, "updated": c.updated, "deleted": c.deleted} for n, c in results.items()}
    }
    text = "\n".join(f"{n}: {c.new} new, {c.updated} updated, {c.deleted} deleted" for n, c in results.items())
    if replies is not None:
        document["portal"] = {"replies": replies}
        text += f"\nportal: {replies} new replies"
    _emit(args, document, text)
    return ExitCode.OK


def _portal_after_sync(session: Session, settings: Settings) -> int | None:
    """Replies waiting on the portal come in with every sync; the portal being down costs a warning only."""
    if not portal_service.portal_configured(settings):
        return None
    try:
        done = portal_replies.run_follow_up(session, settings)
    except AppError as exc:
        _warn(f"portal replies were not fetched: {exc}")
        return None
    for where, problem in done.problems.items():
        _warn(f"portal message {where}: {problem}")
    return done.replies


def _progress(folder: str, done: int, total: int) -> None:
    print(f"sync: {folder}: {done} of {total} new messages stored", file=sys.stderr, flush=True)


def _quiet(folder: str, done: int, total: int) -> None:
    return None


def _warn(message: str) -> None:
    print(f"salus: warning: {message}", file=sys.stderr, flush=True)


def _cmd_stats(args: argparse.Namespace) -> int:
    with _session(args) as session:
        stats = mailbox.stats(session)
    folders: dict[str, dict[str, int]] = {}
    by_account: dict[str, dict[str, dict[str, int]]] = {}
    for f in stats.folders:
        merged = folders.setdefault(f.name, {"messages": 0, "unseen": 0})
        merged["messages"] += f.messages
        merged["unseen"] += f.unseen
        by_account.setdefault(f.account, {})[f.name] = {"messages": f.messages, "unseen": f.unseen}
    lines = [f"{f.account}/{f.name}: {f.messages} messages, {f.unseen} unseen" for f in stats.folders]
    _emit(
        args,
        {"messages": stats.messages, "folders": folders, "accounts": by_account},
        "\n".join([f"{stats.messages} messages", *lines]),
    )
    return ExitCode.OK


def _cmd_search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    with _session(args) as session:
        hits = mailbox.search(session, " ".join(args.query), args.limit)
    results = [
        {"account": h.account, "folder": h.folder, "uid": h.uid, "subject": h.subject, "from": h.sender,
         "date": h.date.isoformat() if h.date else None}
        for h in hits
    ]  # fmt: skip
    text = "\n".join(f"{r['date'] or '-':25} {r['folder']}/{r['uid']}\t{r['from']}\t{r['subject']}" for r in results)
    _emit(args, {"results": results}, text)
    return ExitCode.OK


def _cmd_show(args: argparse.Namespace) -> int:
    with _session(args) as session:
        account = args.account or _only_account(session)
        _outer, raw = mailbox.read_message(session, account, args.folder, args.uid)
        opened = opening.open_message(session, args.settings, raw)
    parsed = opened.message
    document = {
        "subject": parsed.subject,
        "from": [{"name": a.name, "address": a.addr} for a in parsed.sender],
        "to": [{"name": a.name, "address": a.addr} for a in parsed.to],
        "date": parsed.date.isoformat() if parsed.date else None,
        "text": parsed.text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in parsed.attachments
        ],
        "encryption": opened.encryption.value,
        "signature": {"state": opened.signature.value, "signer": opened.signer},
        "headers_protected": opened.headers_protected,
        "problems": [*opened.problems, *parsed.problems],
    }
    sender = ", ".join(f"{a.name} <{a.addr}>" if a.name else a.addr for a in parsed.sender)
    status = f"Encryption: {opened.encryption.value}\nSignature: {opened.signature.value}"
    notes = "".join(f"\nNote: {p}" for p in opened.problems)
    _emit(args, document, f"From: {sender}\nSubject: {parsed.subject}\n{status}{notes}\n\n{parsed.text}")
    return ExitCode.OK


def _only_account(session: Session) -> str:
    names = [a.name for a in mailbox.accounts_to_sync(session, None)]
    if len(names) != 1:
        raise UsageError("This profile has several accounts (or none): name one with --account.")
    return names[0]


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    with _session(args) as session:
        report = session.audit.verify()
        session.audit.record(AuditEvent.AUDIT_VERIFIED, utc_now(), detail={"ok": report.ok, "entries": report.entries})
    problems = [{"seq": p.seq, "problem": p.description} for p in report.problems]
    text = (
        f"Audit log intact: {report.entries} entries."
        if report.ok
        else "Audit log BROKEN:\n" + "\n".join(f"  {p['problem']}" for p in problems)
    )
    _emit(args, {"ok": report.ok, "entries": report.entries, "problems": problems}, text)
    return ExitCode.OK if report.ok else ExitCode.ERROR


def _cmd_audit_export(args: argparse.Namespace) -> int:
    with _session(args) as session:
        session.audit.record(AuditEvent.AUDIT_EXPORTED, utc_now(), detail={"format": args.format})
        text = session.audit.export(args.format)
    if args.output:
        args.output.write_text(text, "utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return ExitCode.OK


def _cmd_plan(args: argparse.Namespace) -> int:
    with _session(args) as session:
        outcome = planning.plan_message(
            session, args.settings, tuple(args.to), args.subject, escalate=args.escalate, account=args.account
        )
    now = outcome.planned_at
    recipients = [
        {
            "address": d.address,
            "method": d.method.value,
            "reasons": [_reason_json(r) for r in d.reasons],
            "flags": [c.value for c in d.flags],
        }
        for d in outcome.plan.decisions
    ]
    document = {
        "recipients": recipients,
        "subject": outcome.subject,
        "escalated": outcome.escalated,
        "groups": {m.value: list(a) for m, a in outcome.plan.groups.items()},
    }
    lines = [
        f"{d.address}: {METHOD_NAMES[d.method]} - " + "; ".join(reason_sentence(r, now) for r in d.reasons)
        for d in outcome.plan.decisions
    ]
    _emit(args, document, "\n".join(lines))
    return ExitCode.OK


def _reason_json(reason: Reason) -> dict[str, Any]:
    return {
        "code": reason.code.value,
        "source": reason.source.value if reason.source else None,
        "learned_at": reason.learned_at.isoformat() if reason.learned_at else None,
        "method": reason.method.value if reason.method else None,
        "detail": reason.detail,
    }


def _cmd_keys_import(args: argparse.Namespace) -> int:
    imported = []
    with _session(args) as session:
        for path in args.files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UsageError(f"Cannot read {path}: {exc.strerror}") from exc
            imported += keys.import_keys(session, data, verified=args.verified, origin=path.name)
    rows = [{"kind": k.kind, "fingerprint": k.fingerprint, "addresses": list(k.addresses)} for k in imported]
    _emit(
        args, {"imported": rows}, "\n".join(f"{r['kind']} {r['fingerprint']} {' '.join(r['addresses'])}" for r in rows)
    )
    return ExitCode.OK


def _cmd_keys_import_identity(args: argparse.Namespace) -> int:
    password = _read_text(args.p12_password_file).rstrip("\r\n").encode() if args.p12_password_file else None
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"Cannot read {args.file}: {exc.strerror}") from exc
    with _session(args) as session:
        imported = keys.import_identity(session, data, password, origin=args.file.name)
    _emit(
        args,
        {
            "imported": [
                {"kind": imported.kind, "fingerprint": imported.fingerprint, "addresses": list(imported.addresses)}
            ]
        },
        f"{imported.kind} {imported.fingerprint} {' '.join(imported.addresses)}",
    )
    return ExitCode.OK


def _cmd_keys_list(args: argparse.Namespace) -> int:
    with _session(args) as session:
        listing = keys.list_keys(session, args.settings)
    rows = [
        {"kind": k.kind, "fingerprint": k.fingerprint, "addresses": list(k.addresses), "source": k.source,
         "expires": k.expires.isoformat() if k.expires else None, "state": k.state}
        for k in listing
    ]  # fmt: skip
    text = "\n".join(f"{k.kind:5} {k.fingerprint} {k.state:8} {' '.join(k.addresses)}" for k in listing)
    _emit(args, {"keys": rows}, text)
    return ExitCode.OK


def _cmd_send(args: argparse.Namespace) -> int:
    body = args.body if args.body is not None else _read_text(args.body_file)
    attachments = tuple(_attachment(path) for path in args.attach)
    request = sending.SendRequest(
        tuple(args.to), args.subject, body, attachments, args.escalate, args.account, cc=tuple(args.cc),
        bcc=tuple(args.bcc),
    )  # fmt: skip
    with _session(args) as session:
        report = asyncio.run(sending.send(session, args.settings, request))
    deliveries = [
        {"message_id": d.message_id, "method": d.method, "recipients": list(d.recipients), "state": d.state,
         "sent_copy": d.sent_copy, "error": d.error}
        for d in report.deliveries
    ]  # fmt: skip
    document = {
        "send_id": report.send_id,
        "recipients": [{"address": d.address, "method": d.method.value} for d in report.outcome.plan.decisions],
        "messages": deliveries,
    }
    lines = [f"{d['method']}: {', '.join(d['recipients'])}: {d['state']}" for d in deliveries]
    _emit(args, document, "\n".join(lines))
    failed = [d for d in report.deliveries if d.state != "submitted"]
    for d in failed:
        print(f"salus: {d.method} message {d.state}: {d.error}", file=sys.stderr)
    return ExitCode.OK if not failed else ExitCode.ERROR


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the body file {path}: {exc}") from exc


def _attachment(path: Path) -> OutgoingAttachment:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"Cannot read the attachment {path}: {exc.strerror}") from exc
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return OutgoingAttachment(path.name, content_type, data)


def _cmd_outbox_list(args: argparse.Namespace) -> int:
    with _session(args) as session:
        rows = outbox_service.listing(session)
    items = [
        {"id": r.id, "message_id": r.message_id, "method": r.method, "recipients": list(r.recipients), "state": r.state,
         "sent_copy": r.sent_copy_state, "attempts": r.attempts, "next_attempt_at": r.next_attempt_at.isoformat(),
         "error": r.last_error}
        for r in rows
    ]  # fmt: skip
    _emit(args, {"messages": items}, "\n".join(f"{i['state']:10} {i['method']:6} {i['message_id']}" for i in items))
    return ExitCode.OK


def _cmd_outbox_flush(args: argparse.Namespace) -> int:
    with _session(args) as session:
        deliveries = asyncio.run(outbox_service.flush(session, args.settings))
    items = [
        {"message_id": d.message_id, "state": d.state, "sent_copy": d.sent_copy, "error": d.error} for d in deliveries
    ]
    _emit(args, {"messages": items}, "\n".join(f"{i['state']:10} {i['message_id']}" for i in items))
    return ExitCode.OK if all(d.state == "submitted" for d in deliveries) else ExitCode.ERROR


def _cmd_outbox_resend(args: argparse.Namespace) -> int:
    if not args.escalate:
        raise UsageError("A failed message is resent by a stronger method: add --escalate (the secure portal).")
    with _session(args) as session:
        done = asyncio.run(resend_service.resend_escalated(session, args.settings, args.message))
    report = done.report
    items = [
        {"message_id": d.message_id, "method": d.method, "recipients": list(d.recipients), "state": d.state,
         "error": d.error}
        for d in report.deliveries
    ]  # fmt: skip
    _emit(
        args, {"original": done.original, "send_id": report.send_id, "messages": items},
        "\n".join(f"{i['method']}: {', '.join(i['recipients'])}: {i['state']}" for i in items),
    )  # fmt: skip
    return ExitCode.OK if all(d.state == "submitted" for d in report.deliveries) else ExitCode.ERROR


def _cmd_drafts_list(args: argparse.Namespace) -> int:
    with _session(args) as session:
        found = drafts_service.list_drafts(session)
    items = [
        {"draft_id": d.draft_id, "subject": d.subject, "recipients": d.recipients, "attachments": d.attachments,
         "updated_at": d.updated_at.isoformat()}
        for d in found
    ]  # fmt: skip
    _emit(args, {"drafts": items}, "\n".join(f"{i['draft_id']} {i['updated_at']} {i['subject']}" for i in items))
    return ExitCode.OK


def _cmd_drafts_delete(args: argparse.Namespace) -> int:
    with _session(args) as session:
        drafts_service.remove_draft(session, args.draft_id)
    _emit(args, {"deleted": args.draft_id}, f"Deleted draft {args.draft_id}")
    return ExitCode.OK


def _cmd_portal_status(args: argparse.Namespace) -> int:
    with _session(args) as session:
        done = portal_replies.run_follow_up(session, args.settings, fetch=False)
        records = portal_replies.records(session)
    items = []
    for r in records:
        s = done.statuses.get(r.portal_id)
        items.append(
            {"portal_id": r.portal_id, "recipient": r.recipient, "state": s.state.value if s else r.state,
             "status": r.state, "events": [e.kind.value for e in s.events] if s else [],
             "replies": len(s.replies) if s else 0, "expires_at": r.expires_at.isoformat(),
             "superseded_by": r.superseded_by or None, "error": done.problems.get(r.portal_id, "")}
        )  # fmt: skip
    _emit(args, {"messages": items}, "\n".join(f"{i['portal_id']} {i['status']:10} {i['recipient']}" for i in items))
    return ExitCode.OK


def _cmd_portal_fetch(args: argparse.Namespace) -> int:
    with _session(args) as session:
        done = portal_replies.run_follow_up(session, args.settings)
    for where, problem in done.problems.items():
        print(f"salus: portal message {where}: {problem}", file=sys.stderr)
    _emit(args, {"replies": done.replies, "problems": done.problems}, f"{done.replies} new replies")
    return ExitCode.OK if not done.problems else ExitCode.ERROR


def _cmd_portal_revoke(args: argparse.Namespace) -> int:
    with _session(args) as session:
        record = portal_desk.run_revoke(session, args.settings, args.portal_id)
    _emit(args, {"revoked": record.portal_id}, f"Revoked {record.portal_id}")
    return ExitCode.OK


def _cmd_portal_reissue(args: argparse.Namespace) -> int:
    with _session(args) as session:
        done = portal_desk.run_reissue(session, args.settings, args.portal_id)
    notice = done.notice
    document = {"reissued": done.old, "portal_id": done.new, "notice": {"state": notice.state, "error": notice.error}}
    _emit(args, document, f"Re-issued {done.old} as {done.new}; notice {notice.state}")
    if notice.state != "submitted":
        print(f"salus: the new notice is {notice.state}: {notice.error}", file=sys.stderr)
    return ExitCode.OK if notice.state == "submitted" else ExitCode.ERROR


def _cmd_evidence_refresh(args: argparse.Namespace) -> int:
    with _session(args) as session:
        statuses = planning.refresh_domains(session, args.settings, tuple(args.domains))
    document = {
        "domains": {
            s.domain: {"mta_sts": s.mta_sts, "mx_matched": s.mx_matched, "dane": s.dane, "trusted": s.trusted}
            for s in statuses
        }
    }
    text = "\n".join(f"{s.domain}: MTA-STS {s.mta_sts}, DANE {s.dane}" for s in statuses) or "No domains to check."
    _emit(args, document, text)
    return ExitCode.OK


def _cmd_policy_show(args: argparse.Namespace) -> int:
    settings = args.settings
    sources = list(dict.fromkeys(e.origin for e in settings.values.values() if e.source is Source.POLICY))
    document = {
        "policy_file": args.policy_file,
        "policy_sources": sources,
        "settings": {
            k: {"value": e.value, "source": e.source.value, "origin": e.origin} for k, e in settings.values.items()
        },
    }
    lines = [f"policy file: {args.policy_file or 'none'}"]
    lines += [f"{k} = {json.dumps(e.value, ensure_ascii=False)}  ({_where(e)})" for k, e in settings.values.items()]
    _emit(args, document, "\n".join(lines))
    return ExitCode.OK


def _where(value: Effective) -> str:
    return f"policy: {value.origin}" if value.source is Source.POLICY else value.origin


def _run_gui(args: argparse.Namespace, *, demo: bool) -> int:
    """`salus` and `salus --demo`: the desktop window, or the text version where there is no display."""
    # A window that quits by itself once it is up may run where nobody sees it (the installers' smoke test).
    missing = "" if args.exit_when_ready else _why_no_display()
    if missing:
        print(f"salus: {missing}, so the window cannot open; showing the text version instead.", file=sys.stderr)
        return _run_demo(args) if demo else _print_usage()
    try:
        # Imported here and only here, so that every headless command runs without loading Qt.
        from app.ui import app as gui
    except ImportError as exc:
        if args.exit_when_ready:  # a smoke test must fail here, not pass on the text version
            raise AppError(f"The window cannot open: {exc}") from exc
        print(f"salus: the window cannot open ({exc}); showing the text version instead.", file=sys.stderr)
        return _run_demo(args) if demo else _print_usage()
    directory = getattr(args, "profile", None) or os.environ.get("SALUS_PROFILE")
    return gui.run(
        profile=Path(directory).expanduser() if directory else None,
        demo=demo,
        settings=args.settings,
        exit_when_ready=args.exit_when_ready,
    )


def _why_no_display() -> str:
    """Why no one could see a window here ("" when someone could)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if platform in ("offscreen", "minimal"):
        # Qt would draw into memory only: a window that nobody can see or close would never return.
        return f"the Qt platform is {platform!r}, which shows nothing on a screen"
    if platform or sys.platform in ("win32", "darwin"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    return "no display is available (neither DISPLAY nor WAYLAND_DISPLAY is set)"


def _print_usage() -> int:
    build_parser().print_help()
    return ExitCode.OK


def _run_demo(args: argparse.Namespace) -> int:
    directory, passphrase = demo.ensure_demo_profile()
    session = unlock(directory, passphrase)
    try:
        stats = mailbox.stats(session)
    finally:
        session.close()
    print(f"Demo profile: {directory} (passphrase: {passphrase!r}), {stats.messages} messages.")
    print(f"Try:  salus --profile {directory} --passphrase-file <(echo {passphrase}) search invoice")
    print()
    build_parser().print_help()
    return ExitCode.OK


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[Session]:
    session = _open(args)
    try:
        yield session
    finally:
        session.close()


_HANDLERS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {
    ("profile", "create"): _cmd_profile_create,
    ("profile", "totp"): _cmd_profile_totp,
    ("account", "add"): _cmd_account_add,
    ("account", "list"): _cmd_account_list,
    ("account", "discover"): _cmd_account_discover,
    ("sync", None): _cmd_sync,
    ("stats", None): _cmd_stats,
    ("search", None): _cmd_search,
    ("show", None): _cmd_show,
    ("policy", "show"): _cmd_policy_show,
    ("plan", None): _cmd_plan,
    ("send", None): _cmd_send,
    ("outbox", "list"): _cmd_outbox_list,
    ("outbox", "flush"): _cmd_outbox_flush,
    ("outbox", "resend"): _cmd_outbox_resend,
    ("drafts", "list"): _cmd_drafts_list,
    ("drafts", "delete"): _cmd_drafts_delete,
    ("evidence", "refresh"): _cmd_evidence_refresh,
    ("portal", "status"): _cmd_portal_status,
    ("portal", "revoke"): _cmd_portal_revoke,
    ("portal", "fetch"): _cmd_portal_fetch,
    ("portal", "reissue"): _cmd_portal_reissue,
    ("keys", "import"): _cmd_keys_import,
    ("keys", "list"): _cmd_keys_list,
    ("keys", "import-identity"): _cmd_keys_import_identity,
    ("audit", "verify"): _cmd_audit_verify,
    ("audit", "export"): _cmd_audit_export,
}
