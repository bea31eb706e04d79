"""Hostile messages from the public attack suites on mail clients, built with real GnuPG and real CMS signatures.

Each builder writes the message an attacker would send, byte for byte: EFAIL (Poddebniak et al. 2018),
"Johnny, you are fired!" (Müller et al. 2019), "Re: What's up Johnny?" (Müller et al. 2019), Mailsploit
(Haddouche 2017) and "Mailto: Me Your Secrets" (Müller et al. 2020). Nothing here knows Salus.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import gnupg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.support.identities import PgpIdentity, SmimeIdentity

DATE = "Fri, 27 Nov 2026 10:00:00 +0000"


def headers(sender: str, to: str, subject: str, message_id: str, *extra: str) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {DATE}", f"Message-ID: <{message_id}>"]
    return ("\r\n".join([*lines, *extra, "MIME-Version: 1.0"]) + "\r\n").encode()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def body_of(message: bytes) -> tuple[bytes, bytes]:
    """The Content-* header lines and the body of a whole message, to nest it as a part elsewhere."""
    head, body = message.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    content: list[bytes] = []
    for line in lines:
        continued = line[:1] in (b" ", b"\t") and bool(content) and content[-1].lower().startswith(b"content-")
        if continued or line.lower().startswith(b"content-"):
            content.append(line)
    return b"\r\n".join(content), body


def mixed(top: bytes, boundary: str, parts: list[bytes]) -> bytes:
    """`top` headers over a multipart/mixed whose parts are given whole (their own header lines and body)."""
    delimiter = f"--{boundary}\r\n".encode()
    body = b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    return top + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode() + body


def gpg_run(home: Path, *args: str, data: bytes) -> bytes:
    done = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--trust-model", "always", *args],
        input=data, capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout


def pgp_mime_encrypted(top: bytes, armored: bytes) -> bytes:
    """RFC 3156 §4 multipart/encrypted around an armoured OpenPGP message."""
    return (
        top + b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc"\r\n\r\n'
        b"--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        b"--enc\r\nContent-Type: application/octet-stream\r\n\r\n" + crlf(armored) + b"\r\n--enc--\r\n"
    )


def encrypt(home: Path, recipient: str, entity: bytes, *args: str) -> bytes:
    return gpg_run(home, "--armor", "-r", recipient, *args, "-e", data=entity)


def pgp_signed(top: bytes, signer: PgpIdentity, home: Path, entity: bytes) -> bytes:
    """RFC 3156 §5 multipart/signed with a detached signature over the canonical (CRLF) first part."""
    signed = crlf(entity)
    signature = gpg_run(home, "--armor", "--digest-algo", "SHA256", "-u", signer.fingerprint, "--detach-sign",
                        data=signed)  # fmt: skip
    return (
        top + b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; '
        b'boundary="sig"\r\n\r\n--sig\r\n' + signed + b"\r\n--sig\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\n" + crlf(signature) + b"\r\n--sig--\r\n"
    )


def smime_signed_entity(signer: SmimeIdentity, entity: bytes) -> bytes:
    """The multipart/signed entity (its Content-Type line and body) of an S/MIME detached signature."""
    made = (
        pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(signer.certificate, signer.key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )  # fmt: skip
    return crlf(made).removeprefix(b"MIME-Version: 1.0\r\n")


def autocrypt_header(home: Path, identity: PgpIdentity, addr: str) -> str:
    binary = gnupg.GPG(gnupghome=str(home)).export_keys(identity.fingerprint, armor=False)
    keydata = base64.b64encode(binary).decode()
    return f"Autocrypt: addr={addr}; keydata=" + " ".join(keydata[i : i + 72] for i in range(0, len(keydata), 72))


def encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="
