"""Test mail as raw bytes, deterministic from a seed.

- `varied_corpus`: every shape of message a client meets, well-formed and broken, with the `CANARY_WORDS`
  placed in each place mail hides text (subject, display name, plain / quoted-printable / base64 / HTML
  bodies, attachment names and contents).
- `realistic_corpus`: a large, plausible mailbox of business and clinical mail for benchmarks.
- `make_message`: one simple message for a test that needs to say exactly what is in it.

Rules this module keeps:
- Messages are built from string templates, not with the `email` package's generator: broken MIME must come
  out byte for byte as written, and 20,000 realistic messages must take seconds.
- Lines end in CRLF (RFC 5322 section 2.1), except where a case is about something else on purpose.
- Every message has its own Message-ID, except the cases named "no_message_id" and "no_headers_at_all".
- A canary word occurs nowhere but in the mail built here; each one is also in at least one plain text body,
  so full-text search can find every one of them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.header
import email.policy
import email.utils
import math
import random
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

__all__ = [
    "CANARY_WORDS",
    "canaries_in",
    "make_message",
    "realistic_corpus",
    "special_cases",
    "varied_corpus",
]

CANARY_WORDS: tuple[str, ...] = (
    "quokkazanzibar",  # plain ASCII subject
    "flumbertaxon",  # RFC 2047 B-encoded UTF-8 subject
    "zindlewhorp",  # RFC 2047 Q-encoded ISO-8859-1 display name
    "gravimolluxe",  # 7bit plain text body
    "plonkviridian",  # quoted-printable UTF-8 body
    "snorbletrance",  # base64 ISO-8859-1 body
    "velkrumpadoo",  # HTML body
    "trisquelfrond",  # RFC 2231 attachment file name
    "mubblegrastic",  # attachment content (a PDF-ish stream)
    "yonderquistle",  # deep inside the 300-level nested multipart and the large attachment
)

CRLF = "\r\n"
_DOMAIN = "salus.test"
_OWNER = f"Praxis Dr. Test <praxis@{_DOMAIN}>"
_EPOCH = dt.datetime(2024, 3, 4, 8, 0, tzinfo=dt.UTC)

Header = tuple[str, str]


def make_message(
    *,
    subject: str,
    body: str,
    sender: str = "Anna Beispiel <anna.beispiel@praxis-nord.test>",
    to: str = _OWNER,
    date: dt.datetime | None = None,
    message_id: str | None = None,
    extra_headers: Sequence[Header] = (),
) -> bytes:
    """A text/plain message; non-ASCII subjects are RFC 2047-encoded and non-ASCII bodies quoted-printable."""
    headers = [
        ("From", _address_header(sender)),
        ("To", _address_header(to)),
        ("Subject", _text_header(subject)),
        ("Date", email.utils.format_datetime(date or dt.datetime.now(dt.UTC))),
        ("Message-ID", message_id or f"<{uuid.uuid4().hex}@{_DOMAIN}>"),
        *extra_headers,
    ]
    return _message(headers, _text_part_headers("plain", body), _text_body(body))


def canaries_in(message: bytes) -> set[str]:
    """The canary words a reader of `message` can see: in raw bytes, decoded headers, bodies, file names."""
    text = _readable_text(message)
    return {word for word in CANARY_WORDS if word in text}


def varied_corpus(count: int = 300, *, seed: int = 1) -> list[bytes]:
    """`special_cases()` first (every one of them, in order, if `count` allows), then ordinary varied mail.

    With `count` below the number of special cases, the first `count` of them are returned.
    """
    cases = list(special_cases(seed=seed).values())
    rng = random.Random(seed)
    fillers = [_filler(rng, seed, index) for index in range(len(cases), count)]
    return (cases + fillers)[:count]


def special_cases(*, seed: int = 1) -> dict[str, bytes]:
    """Named messages, each about one thing a client must handle; the canary words live here."""
    rng = random.Random(f"special-{seed}")
    cases: dict[str, bytes] = {}
    for index, (name, build) in enumerate(_SPECIAL_BUILDERS):
        cases[name] = build(_Context(rng, seed, index))
    return cases


def realistic_corpus(count: int, *, seed: int = 1, recipient: str = _OWNER) -> Iterator[bytes]:
    """Plausible business and clinical mail: median about 8 KB, a few % with attachments up to 1 MB.

    Over two years, oldest first; about 40 senders with a long-tailed frequency (so "from:" finds many);
    a Zipf-distributed vocabulary with a long tail of rare words; a third of the mail are replies.
    """
    generator = _RealisticMail(random.Random(f"realistic-{seed}"), seed, recipient)
    end = dt.datetime(2025, 6, 30, 18, 0, tzinfo=dt.UTC)
    spread = 730 * 86400
    offsets = sorted((generator.rng.random() for _ in range(count)), reverse=True)
    for index, offset in enumerate(offsets):
        yield generator.message(index, end - dt.timedelta(seconds=offset * spread))


# --- building blocks ---------------------------------------------------------------------------------------


def _message(headers: Sequence[Header], part_headers: Sequence[Header], body: bytes) -> bytes:
    return _header_block([*headers, ("MIME-Version", "1.0"), *part_headers]) + CRLF.encode() + body


def _header_block(headers: Sequence[Header]) -> bytes:
    return "".join(f"{name}: {value}{CRLF}" for name, value in headers).encode("utf-8", "surrogateescape")


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045 section 6.8), without the per-line loop of encodebytes."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def _qp(text: str, charset: str = "utf-8") -> bytes:
    # Given CRLF input, b2a_qp also ends its soft line breaks in CRLF.
    return binascii.b2a_qp(_crlf(text.encode(charset)), istext=True)


def _text_body(text: str) -> bytes:
    return _crlf(text.encode()) if text.isascii() else _qp(text)


def _text_part_headers(subtype: str, text: str) -> list[Header]:
    if text.isascii():
        return [("Content-Type", f"text/{subtype}; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")]
    return [
        ("Content-Type", f"text/{subtype}; charset=utf-8"),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]


def _encoded_words(text: str, charset: str = "utf-8", method: str = "B") -> str:
    """RFC 2047 section 2: encoded words of at most 75 characters, folded onto continuation lines."""
    words: list[str] = []
    chunk = ""
    for char in text:
        if chunk and len(_encoded_word(chunk + char, charset, method)) > 75:
            words.append(_encoded_word(chunk, charset, method))
            chunk = ""
        chunk += char
    words.append(_encoded_word(chunk, charset, method))
    return (CRLF + " ").join(words)


def _encoded_word(text: str, charset: str, method: str) -> str:
    data = text.encode(charset)
    if method == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    # RFC 2047 section 4.2: "_" stands for a space; everything but letters and digits is hex-escaped.
    encoded = "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else "_" if b == 0x20 else f"={b:02X}" for b in data
    )
    return f"=?{charset}?Q?{encoded}?="


def _text_header(text: str) -> str:
    return text if text.isascii() else _encoded_words(text)


def _address_header(value: str) -> str:
    name, address = email.utils.parseaddr(value)
    if not name:
        return address
    if name.isascii():
        return email.utils.formataddr((name, address))
    return f"{_encoded_words(name)} <{address}>"


def _date(index: int) -> str:
    return email.utils.format_datetime(_EPOCH + dt.timedelta(hours=7 * index))


def _readable_text(message: bytes) -> str:
    """Everything a careful reader could decode out of a message, lower-cased, as one string."""
    pieces = [message.decode("latin-1")]
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    for part in parsed.walk():
        for value in part.values():
            pieces.append(_decoded_header(str(value)))
        pieces.append(part.get_filename() or "")
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            pieces += [payload.decode("utf-8", "replace"), payload.decode("latin-1")]
    return "\n".join(pieces).lower()


def _decoded_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, ValueError, UnicodeError):
        return value


# --- special cases -----------------------------------------------------------------------------------------


class _Context:
    """What a special-case builder needs: a random source, and the case's own Message-ID and Date."""

    def __init__(self, rng: random.Random, seed: int, index: int) -> None:
        self.rng = rng
        self.seed = seed
        self.index = index

    def headers(self, subject: str, sender: str = "Anna Beispiel <anna.beispiel@praxis-nord.test>") -> list[Header]:
        return [
            ("From", _address_header(sender)),
            ("To", _address_header(_OWNER)),
            ("Subject", _text_header(subject)),
            ("Date", _date(self.index)),
            ("Message-ID", f"<case-{self.seed}-{self.index}@{_DOMAIN}>"),
        ]

    def boundary(self, label: str = "") -> str:
        return f"=_salus_{self.seed}_{self.index}_{label}{self.rng.getrandbits(48):012x}"


def _multipart(subtype: str, boundary: str, parts: Sequence[bytes], *, closed: bool = True) -> tuple[Header, bytes]:
    """A multipart body (RFC 2046 section 5.1.1); `closed=False` leaves out the close-delimiter."""
    body = b"This is a multi-part message in MIME format." + CRLF.encode()
    for part in parts:
        body += f"--{boundary}{CRLF}".encode() + part + CRLF.encode()
    if closed:
        body += f"--{boundary}--{CRLF}".encode()
    return ("Content-Type", f'multipart/{subtype}; boundary="{boundary}"'), body


def _part(headers: Sequence[Header], body: bytes) -> bytes:
    return _header_block(headers) + CRLF.encode() + body


def _text_part(subtype: str, text: str) -> bytes:
    return _part(_text_part_headers(subtype, text), _text_body(text))


def _attachment(content_type: str, disposition: str, data: bytes) -> bytes:
    headers = [
        ("Content-Type", content_type),
        ("Content-Disposition", disposition),
        ("Content-Transfer-Encoding", "base64"),
    ]
    return _part(headers, _b64(data))


def _pdf_bytes(text: str, filler: bytes = b"") -> bytes:
    """A small PDF-looking file whose text stream holds `text`; `filler` stands in for compressed pages."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        + f"4 0 obj << /Length {len(stream)} >> stream\n".encode()
        + stream
        + b"\nendstream endobj\n"
        + (b"5 0 obj << /Length %d /Filter /FlateDecode >> stream\n" % len(filler) + filler + b"\nendstream endobj\n")
        + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


_PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def _png_bytes(rng: random.Random) -> bytes:
    """A PNG signature and header chunk, then noise: enough for anything that sniffs the type."""
    return _PNG_HEAD + rng.randbytes(600)


def _case_plain_ascii(c: _Context) -> bytes:
    body = f"Hello,\n\nthe {CANARY_WORDS[3]} report for this week is ready.\n\nRegards,\nAnna\n"
    return _message(c.headers(f"Weekly report {CANARY_WORDS[0]}"), _text_part_headers("plain", body), _text_body(body))


def _case_utf8_quoted_printable(c: _Context) -> bytes:
    body = f"Grüße aus Köln! Die Überweisung für Frau Jäger ist unterwegs: {CANARY_WORDS[4]}.\n" * 3
    headers = c.headers(f"Überweisung {CANARY_WORDS[1]} – März", "Jürgen Weiß <j.weiss@praxis-sued.test>")
    return _message(headers, _text_part_headers("plain", body), _text_body(body))


def _case_latin1_base64(c: _Context) -> bytes:
    body = f"Sehr geehrte Damen und Herren,\r\nanbei der Befund ({CANARY_WORDS[5]}) für Herrn Müller.\r\n"
    name = _encoded_words(f"Zoë {CANARY_WORDS[2]} Lefèvre", "iso-8859-1", "Q")
    headers = c.headers("")
    headers[0] = ("From", f"{name} <zoe.lefevre@clinique.test>")
    headers[2] = ("Subject", _encoded_words("Befund für Müller", "iso-8859-1", "B"))
    part = [("Content-Type", "text/plain; charset=iso-8859-1"), ("Content-Transfer-Encoding", "base64")]
    return _message(headers, part, _b64(body.encode("iso-8859-1")))


def _case_q_encoded_utf8_subject(c: _Context) -> bytes:
    headers = c.headers("")
    headers[2] = ("Subject", _encoded_words("Rückfrage zur Kostenübernahme", "utf-8", "Q"))
    headers[0] = ("From", f"{_encoded_words('Łukasz Wójcik', 'utf-8', 'B')} <l.wojcik@labor.test>")
    body = "Bitte um kurze Rückmeldung.\n"
    return _message(headers, _text_part_headers("plain", body), _text_body(body))


def _case_html_only(c: _Context) -> bytes:
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
        f"<p>Termin bestätigt: <b>{CANARY_WORDS[6]}</b></p>"
        '<img src="https://tracker.example/pixel.gif?id=42" width="1" height="1">'
        '<a href="javascript:alert(1)">Details</a></body></html>\n'
    )
    return _message(c.headers("Terminbestätigung"), _text_part_headers("html", html), _text_body(html))


def _case_alternative(c: _Context) -> bytes:
    text = "Your appointment is on Monday at 9:00.\n"
    html = "<html><body><p>Your appointment is on <b>Monday</b> at 9:00.</p></body></html>\n"
    content_type, body = _multipart("alternative", c.boundary(), [_text_part("plain", text), _text_part("html", html)])
    return _message(c.headers("Appointment reminder"), [content_type], body)


def _case_attachments(c: _Context) -> bytes:
    filename = f"Überweisung {CANARY_WORDS[7]} März.pdf"
    # RFC 2231 section 4: charset'language'percent-encoded, split over numbered continuations.
    encoded = "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02X}" for b in filename.encode())
    halves = (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :])
    disposition = f"attachment;\r\n filename*0*=UTF-8''{halves[0]};\r\n filename*1*={halves[1]}"
    parts = [
        _text_part("plain", "Anbei die Unterlagen.\n"),
        _attachment(
            'application/pdf; name="befund.pdf"',
            'attachment; filename="befund.pdf"',
            _pdf_bytes(f"Befund {CANARY_WORDS[8]}"),
        ),
        _attachment("image/png", 'inline; filename="scan.png"', _png_bytes(c.rng)),
        _attachment("application/pdf", disposition, _pdf_bytes("Ueberweisung")),
    ]
    content_type, body = _multipart("mixed", c.boundary(), parts)
    return _message(c.headers("Unterlagen mit Anhängen"), [content_type], body)


def _case_missing_closing_boundary(c: _Context) -> bytes:
    parts = [
        _text_part("plain", "First part.\n"),
        _text_part("plain", "Second part, and then the mail just ends.\n"),
    ]
    content_type, body = _multipart("mixed", c.boundary(), parts, closed=False)
    return _message(c.headers("Truncated multipart"), [content_type], body)


def _case_unknown_charset(c: _Context) -> bytes:
    part = [("Content-Type", "text/plain; charset=x-unknown-charset"), ("Content-Transfer-Encoding", "8bit")]
    return _message(c.headers("Unknown charset"), part, b"Stra\xdfe \x80\x81\x82 in an unknown charset.\r\n")


def _case_injection_in_display_names(c: _Context) -> bytes:
    evil_b = _encoded_word("Mallory\r\nBcc: victim@example.test\x00Admin", "utf-8", "B")
    evil_q = "=?utf-8?Q?Eve=0D=0AX-Injected:_yes=00?="
    headers = c.headers("Header injection attempt")
    headers[0] = ("From", f"{evil_b} <mallory@attacker.test>")
    headers[1] = ("To", f"{evil_q} <eve@attacker.test>, {_OWNER}")
    body = "Display names above decode to CR, LF and NUL.\n"
    return _message(headers, _text_part_headers("plain", body), _text_body(body))


def _case_deeply_nested(c: _Context) -> bytes:
    body = _text_part("plain", f"Innermost part: {CANARY_WORDS[9]}.\n")
    for level in range(300):
        boundary = f"nest{level}_{c.seed}"
        content_type, multipart = _multipart("mixed", boundary, [body])
        body = _part([content_type], multipart)
    content_type, inner = _multipart("mixed", c.boundary("top"), [body])
    return _message(c.headers("300 levels of multipart"), [content_type], inner)


def _case_eight_bit_without_charset(c: _Context) -> bytes:
    part = [("Content-Type", "text/plain"), ("Content-Transfer-Encoding", "8bit")]
    body = "Grüße, raw UTF-8 and no charset parameter.\r\n".encode() + b"Latin-1 too: Gr\xfc\xdfe\r\n"
    return _message(c.headers("8-bit body without charset"), part, body)


def _case_no_headers_at_all(c: _Context) -> bytes:
    return CRLF.encode() + b"This message has no header fields at all.\r\n"


def _case_no_message_id(c: _Context) -> bytes:
    headers = [h for h in c.headers("No Message-ID here") if h[0] != "Message-ID"]
    body = "This message has no Message-ID.\n"
    return _message(headers, _text_part_headers("plain", body), _text_body(body))


def _case_large_attachment(c: _Context) -> bytes:
    # Random bytes: a real scan does not compress, and a store that compresses must not look better here.
    pdf = _pdf_bytes(f"Scan {CANARY_WORDS[9]}", filler=c.rng.randbytes(3 * 1024 * 1024))
    parts = [
        _text_part("plain", "The full scan is attached (about 3 MB).\n"),
        _attachment('application/pdf; name="scan.pdf"', 'attachment; filename="scan.pdf"', pdf),
    ]
    content_type, body = _multipart("mixed", c.boundary(), parts)
    return _message(c.headers("Large scan"), [content_type], body)


def _case_canary_roll_call(c: _Context) -> bytes:
    """Every canary in one 7bit plain body, so that search can find words whose main home is elsewhere."""
    body = "Reference list: " + " ".join(CANARY_WORDS) + "\n"
    return _message(c.headers("Reference list"), _text_part_headers("plain", body), _text_body(body))


_SPECIAL_BUILDERS: tuple[tuple[str, Callable[[_Context], bytes]], ...] = (
    ("plain_ascii", _case_plain_ascii),
    ("utf8_quoted_printable", _case_utf8_quoted_printable),
    ("latin1_base64", _case_latin1_base64),
    ("q_encoded_utf8_subject", _case_q_encoded_utf8_subject),
    ("html_only", _case_html_only),
    ("alternative", _case_alternative),
    ("attachments", _case_attachments),
    ("missing_closing_boundary", _case_missing_closing_boundary),
    ("unknown_charset", _case_unknown_charset),
    ("injection_in_display_names", _case_injection_in_display_names),
    ("deeply_nested", _case_deeply_nested),
    ("eight_bit_without_charset", _case_eight_bit_without_charset),
    ("no_headers_at_all", _case_no_headers_at_all),
    ("no_message_id", _case_no_message_id),
    ("large_attachment", _case_large_attachment),
    ("canary_roll_call", _case_canary_roll_call),
)


# --- ordinary varied mail ----------------------------------------------------------------------------------

_FILLER_SUBJECTS = (
    "Termin am Dienstag",
    "Lab results",
    "Rückfrage Medikation",
    "Invoice 2024-117",
    "Referral",
    "Überweisung Kardiologie",
    "Réunion d'équipe",
    "Dienstplan Mai",
)
_FILLER_SENDERS = (
    "Anna Beispiel <anna.beispiel@praxis-nord.test>",
    "Jürgen Weiß <j.weiss@praxis-sued.test>",
    "Dr. Sam Okafor <s.okafor@klinikum.test>",
    "labor@labor.test",
    "Zoë Lefèvre <zoe.lefevre@clinique.test>",
)


def _filler(rng: random.Random, seed: int, index: int) -> bytes:
    """Ordinary mail in the shapes of the special cases, without canaries and without breakage."""
    sender = rng.choice(_FILLER_SENDERS)
    subject = f"{rng.choice(_FILLER_SUBJECTS)} #{index}"
    headers: list[Header] = [
        ("From", _address_header(sender)),
        ("To", _address_header(_OWNER)),
        ("Subject", _encoded_words(subject, "iso-8859-1", "Q") if index % 7 == 0 else _text_header(subject)),
        ("Date", _date(index)),
        ("Message-ID", f"<filler-{seed}-{index}@{_DOMAIN}>"),
    ]
    text = "\n".join(rng.choice(_FILLER_LINES) for _ in range(rng.randint(2, 12))) + "\n"
    kind = index % 4
    if kind == 0:
        return _message(headers, _text_part_headers("plain", text), _text_body(text))
    if kind == 1:
        html = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.splitlines()) + "</body></html>\n"
        ctype, body = _multipart(
            "alternative", f"=_f{seed}_{index}", [_text_part("plain", text), _text_part("html", html)]
        )
        return _message(headers, [ctype], body)
    if kind == 2:
        part = [("Content-Type", "text/plain; charset=iso-8859-1"), ("Content-Transfer-Encoding", "base64")]
        return _message(headers, part, _b64(text.encode("iso-8859-1", "replace")))
    attachment = _attachment('application/pdf; name="doc.pdf"', 'attachment; filename="doc.pdf"', _pdf_bytes(subject))
    ctype, body = _multipart("mixed", f"=_f{seed}_{index}", [_text_part("plain", text), attachment])
    return _message(headers, [ctype], body)


_FILLER_LINES = (
    "Vielen Dank für Ihre Nachricht.",
    "Please find the results below.",
    "Der Patient wurde heute entlassen.",
    "Could you confirm the appointment?",
    "Die Laborwerte sind unauffällig.",
    "Merci de votre retour rapide.",
    "We will send the invoice next week.",
    "Bitte bringen Sie die Versichertenkarte mit.",
)


# --- realistic mail ----------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_COMMON_WORDS = _words(
    "the of and to a in for is on that with as by at this be from are we please you it your will have not or "
    "patient results appointment referral report follow up treatment dose blood pressure review clinic "
    "invoice payment insurance claim attached document scan lab test findings therapy medication "
    "prescription physician nurse ward discharge admission surgery consultation week monday tuesday "
    "wednesday thursday friday morning afternoon today tomorrow next last month year date time schedule "
    "confirm request update information question answer thank regards best kind team office practice "
    "hospital department cardiology radiology oncology pediatrics neurology orthopedics dermatology "
    "diagnosis symptoms pain fever cough chronic acute history allergy vaccine mri ct ultrasound xray "
    "sample urine glucose cholesterol hemoglobin creatinine thyroid liver kidney heart lung knee hip "
    "contract budget meeting agenda minutes project staff training policy audit compliance privacy consent "
    "form signature copy original letter phone call fax email portal account access record file number "
    "also can should would could may must need new further current previous additional required available "
    "approximately regarding concerning however therefore because since until after before during within"
)
_SYLLABLES = _words(
    "ka lo mi nu pe ra si to vu ze bri dor fen gal hin jor kel lum mor nir pol qua rim sol tur vin wex yor"
)
_FIRST_NAMES = _words(
    "Anna Jürgen Maria Thomas Sabine Michael Zoë José Łukasz Aylin Mehmet Olga Sven Ingrid Priya Kenji "
    "Fatima Lars Chiara Dmitri Aoife Henrik Noor Mateo"
)
_LAST_NAMES = _words(
    "Müller Schmidt Weiß Okafor García Wójcik Yılmaz Petrova Andersson Lindqvist Sharma Tanaka Haddad Berg "
    "Rossi Ivanov Byrne Nielsen Khan Fernández Schäfer Becker Hoffmann"
)
_ORGANISATIONS = _words(
    "praxis-nord.test klinikum-mitte.test labor-west.test kv-bayern.test aok-test.test radiologie-sued.test "
    "apotheke-am-markt.test uniklinik.test"
)
_ASCII_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i", "ł": "l"})
_TOPICS = (
    "Befund {pid}",
    "Referral for {name}",
    "Invoice {num}",
    "Lab results {pid}",
    "Appointment request",
    "Discharge letter {pid}",
    "Kostenübernahme {num}",
    "Team meeting {day}",
    "Prescription renewal {pid}",
    "Rückfrage zu {name}",
    "MRI report {pid}",
    "Dienstplan KW {week}",
)


class _RealisticMail:
    """Builds realistic messages from a fixed pool of sentences, which keeps 20,000 messages to seconds."""

    def __init__(self, rng: random.Random, seed: int, recipient: str) -> None:
        self.rng = rng
        self.seed = seed
        self.recipient = _address_header(recipient)
        self.rare_words = self._rare_words(20_000)
        zipf = [1 / (rank + 1) for rank in range(len(_COMMON_WORDS))]
        self.sentences = [self._sentence(zipf) for _ in range(4000)]
        self.senders = self._senders(40)
        self.sender_weights = list(accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(self.senders))))
        self.recent: list[tuple[str, str]] = []

    def message(self, index: int, date: dt.datetime) -> bytes:
        rng = self.rng
        sender = rng.choices(self.senders, cum_weights=self.sender_weights)[0]
        subject, threading = self._subject_and_threading(index)
        message_id = f"<real-{self.seed}-{index}-{rng.getrandbits(32):08x}@{sender.rpartition('@')[2].rstrip('>')}>"
        self.recent = [*self.recent[-49:], (subject, message_id)]
        headers: list[Header] = [
            ("From", sender),
            ("To", self.recipient),
            ("Subject", _text_header(subject)),
            ("Date", email.utils.format_datetime(date)),
            ("Message-ID", message_id),
            *threading,
        ]
        text = self._body(sender)
        roll = rng.random()
        if roll < 0.04:
            return self._with_attachment(headers, text, index)
        if roll < 0.30:
            html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>\n"
            parts = [_text_part("plain", text), _text_part("html", html)]
            ctype, body = _multipart("alternative", f"=_r{self.seed}_{index}", parts)
            return _message(headers, [ctype], body)
        if roll < 0.65:
            # Much mail today travels as 8bit UTF-8 (RFC 6152); the rest as quoted-printable.
            part = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "8bit")]
            return _message(headers, part, _crlf(text.encode()))
        return _message(headers, _text_part_headers("plain", text), _text_body(text))

    def _subject_and_threading(self, index: int) -> tuple[str, list[Header]]:
        rng = self.rng
        if self.recent and rng.random() < 0.33:
            subject, parent = rng.choice(self.recent)
            return ("" if subject.startswith("Re: ") else "Re: ") + subject, [
                ("In-Reply-To", parent),
                ("References", parent),
            ]
        topic = rng.choice(_TOPICS)
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        subject = topic.format(
            pid=f"P-{rng.randint(100000, 999999)}",
            name=name,
            num=rng.randint(1000, 99999),
            day=index % 28 + 1,
            week=index % 52 + 1,
        )
        return subject, []

    def _body(self, sender: str) -> str:
        rng = self.rng
        # Log-normal sentence counts give a median near 8 KB per message and a long tail.
        count = min(2500, max(3, int(rng.lognormvariate(math.log(95), 0.75))))
        sentences = rng.choices(self.sentences, k=count)
        rare = rng.choices(self.rare_words, k=3)
        for word in rare:
            position = rng.randrange(count)
            sentences[position] = f"{sentences[position][:-1]} {word}."
        paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, count, 5)]
        name = sender.partition(" <")[0].strip('"')
        body = "\n\n".join(paragraphs)
        return f"Guten Tag,\n\n{body}\n\nMit freundlichen Grüßen\n{name}\n"

    def _with_attachment(self, headers: list[Header], text: str, index: int) -> bytes:
        size = min(700_000, int(self.rng.lognormvariate(math.log(60_000), 1.0)))
        pdf = _pdf_bytes(f"Document {index}", filler=self.rng.randbytes(size))
        attachment = _attachment(
            f'application/pdf; name="document-{index}.pdf"',
            f'attachment; filename="document-{index}.pdf"',
            pdf,
        )
        ctype, body = _multipart("mixed", f"=_r{self.seed}_{index}", [_text_part("plain", text), attachment])
        return _message(headers, [ctype], body)

    def _sentence(self, zipf: list[float]) -> str:
        words = self.rng.choices(_COMMON_WORDS, weights=zipf, k=self.rng.randint(6, 18))
        if self.rng.random() < 0.15:
            words.append(self.rng.choice(("Grüße", "Überweisung", "Kostenübernahme", "Nachsorge", "Röntgen")))
        return " ".join(words).capitalize() + "."

    def _rare_words(self, count: int) -> list[str]:
        words: set[str] = set()
        while len(words) < count:
            word = "".join(self.rng.choices(_SYLLABLES, k=self.rng.randint(3, 5)))
            if not any(canary in word for canary in CANARY_WORDS):
                words.add(word)
        return sorted(words)

    def _senders(self, count: int) -> list[str]:
        senders: list[str] = []
        while len(senders) < count:
            first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
            folded = unicodedata.normalize("NFKD", f"{first}.{last}".lower().translate(_ASCII_FOLD))
            local = folded.encode("ascii", "ignore").decode()
            address = f"{local}@{self.rng.choice(_ORGANISATIONS)}"
            sender = _address_header(f"{first} {last} <{address}>")
            if sender not in senders:
                senders.append(sender)
        return senders
