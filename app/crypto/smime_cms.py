"""The CMS structures S/MIME mail uses, read and written on `smime_asn1` (RFC 5652, RFC 5083, RFC 5084).

Rules this module keeps:
- Structure only: keys, ciphers and signatures belong to `smime_ops`. Nothing here decrypts or verifies.
- Of the RecipientInfo kinds only key transport (RFC 5652 §6.2.1) is read; other kinds are skipped, not
  refused, because one message may reach other recipients by other means.
- What Salus writes mirrors OpenSSL 3's encoding of the same choices (version 0, issuerAndSerialNumber, hash
  AlgorithmIdentifiers without parameters, an explicit 16-octet ICV length), and the tests prove OpenSSL reads it.
- Algorithm parameters are decoded with their ASN.1 DEFAULTs (RFC 4055 §3.1 and §4.1, RFC 5084 §3.2), so a message
  that omits a default value means the same as one that spells it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from app.core.errors import CryptoError
from app.crypto import smime_asn1 as asn1

# RFC 5652 §4, §5.1, §6.1; RFC 5083 §1.1.
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
# RFC 5652 §11.1-11.3.
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
_SKI = asn1.context(0, constructed=False)
_ENCRYPTED_CONTENT = asn1.context(0, constructed=False)
_GCM_ICV_LENGTHS = range(12, 17)  # RFC 5084 §3.2: AES-GCM-ICVlen ::= INTEGER (12 | 13 | 14 | 15 | 16)


@dataclass(frozen=True, slots=True)
class CertId:
    """A SignerIdentifier or RecipientIdentifier (RFC 5652 §5.3, §6.2.1): issuer and serial number, or the
    subjectKeyIdentifier when `key_id` is set."""

    issuer: bytes = b""
    serial: int = 0
    key_id: bytes = b""

    def matches(self, certificate: x509.Certificate) -> bool:
        if self.key_id:
            return self.key_id == subject_key_id(certificate)
        return (self.issuer, self.serial) == issuer_and_serial(certificate)


@dataclass(frozen=True, slots=True)
class KeyTransport:
    """A KeyTransRecipientInfo (RFC 5652 §6.2.1)."""

    recipient: CertId
    algorithm: asn1.Algorithm
    encrypted_key: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """EnvelopedData (RFC 5652 §6.1) or, when `authenticated`, AuthEnvelopedData (RFC 5083 §2.1)."""

    authenticated: bool
    recipients: tuple[KeyTransport, ...]
    algorithm: asn1.Algorithm
    ciphertext: bytes
    aad: bytes = b""
    mac: bytes = b""


@dataclass(frozen=True, slots=True)
class Attribute:
    oid: str
    values: tuple[asn1.Node, ...]


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """RFC 5652 §5.3. `signed_attrs` is the DER SET OF the signature covers (§5.4), None without attributes."""

    signer: CertId
    digest_algorithm: asn1.Algorithm
    signed_attrs: bytes | None
    attributes: tuple[Attribute, ...]
    signature_algorithm: asn1.Algorithm
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedData:
    """RFC 5652 §5.1. `content` is None for a detached signature; `certificates` are DER X.509 certificates."""

    content_type: str
    content: bytes | None
    certificates: tuple[bytes, ...]
    signers: tuple[SignerInfo, ...]


@dataclass(frozen=True, slots=True)
class OaepParams:
    """RSAES-OAEP-params with the DEFAULTs of RFC 4055 §4.1 (SHA-1, MGF1 with SHA-1, empty label)."""

    hash: str = asn1.SHA1
    mgf_hash: str = asn1.SHA1
    label: bytes = b""


@dataclass(frozen=True, slots=True)
class PssParams:
    """RSASSA-PSS-params with the DEFAULTs of RFC 4055 §3.1 (SHA-1, MGF1 with SHA-1, 20 octets of salt)."""

    hash: str = asn1.SHA1
    mgf_hash: str = asn1.SHA1
    salt_length: int = 20


# --- certificates ------------------------------------------------------------------------------------------


def issuer_and_serial(certificate: x509.Certificate) -> tuple[bytes, int]:
    """The issuer Name exactly as the certificate encodes it, and its serial number, read from the
    TBSCertificate (RFC 5280 §4.1): identifiers compare these octets, so no re-encoding may change them, and
    an old certificate's non-positive serial is read without cryptography's deprecation warning."""
    tbs = asn1.Fields(asn1.parse(certificate.tbs_certificate_bytes), "a certificate")
    tbs.optional(asn1.context(0))
    serial = asn1.decode_int(tbs.take(asn1.INTEGER))
    tbs.take(asn1.SEQUENCE)
    return tbs.take(asn1.SEQUENCE).encoded, serial


def subject_key_id(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def parse_cert_id(node: asn1.Node) -> CertId:
    if node.tag == _SKI:
        return CertId(key_id=node.body)
    fields = asn1.Fields(node, "an issuer and serial number")
    issuer = fields.take(asn1.SEQUENCE).encoded
    serial = asn1.decode_int(fields.take(asn1.INTEGER))
    fields.end()
    return CertId(issuer=issuer, serial=serial)


# --- algorithm parameters ----------------------------------------------------------------------------------


# RFC 4055 §4.1 with SHA-256 for both the hash and MGF1; RFC 5754 §2: SHA-2 identifiers are generated without
# parameters; the label stays the default empty one, so pSourceFunc is omitted (DER leaves out DEFAULTs).
OAEP_SHA256 = asn1.encode_algorithm(
    asn1.RSAES_OAEP,
    asn1.seq(
        asn1.explicit(0, asn1.encode_algorithm(asn1.SHA256)),
        asn1.explicit(1, asn1.encode_algorithm(asn1.MGF1, asn1.encode_algorithm(asn1.SHA256))),
    ),
)


def gcm_algorithm(oid: str, nonce: bytes, icv_length: int) -> bytes:
    # RFC 5084 §3.2: GCMParameters; the ICV length is written even though 16 is not the DEFAULT (12).
    return asn1.encode_algorithm(oid, asn1.seq(asn1.tlv(asn1.OCTET_STRING, nonce), asn1.encode_int(icv_length)))


def cbc_algorithm(oid: str, iv: bytes) -> bytes:
    # RFC 3565 §4.1: the parameters are the IV as an OCTET STRING.
    return asn1.encode_algorithm(oid, asn1.tlv(asn1.OCTET_STRING, iv))


def parse_gcm_params(params: asn1.Node | None) -> tuple[bytes, int]:
    """The nonce and ICV length of GCMParameters (RFC 5084 §3.2)."""
    if params is None:
        raise asn1.malformed("the AES-GCM parameters")
    fields = asn1.Fields(params, "the AES-GCM parameters")
    nonce = asn1.octets(fields.take())
    icv = fields.optional(asn1.INTEGER)
    fields.end()
    icv_length = 12 if icv is None else asn1.decode_int(icv)
    if icv_length not in _GCM_ICV_LENGTHS:
        raise asn1.malformed("the AES-GCM parameters")
    return nonce, icv_length


def parse_iv(params: asn1.Node | None) -> bytes:
    if params is None:
        raise asn1.malformed("the cipher parameters")
    return asn1.octets(params)


def parse_oaep_params(params: asn1.Node | None) -> OaepParams:
    """RFC 8017 Appendix A.2.1 / RFC 4055 §4.1. Absent parameters mean all defaults."""
    fields = _tagged_fields(params, "the RSA-OAEP parameters")
    label = b""
    if 2 in fields:
        source = asn1.parse_algorithm(fields[2])
        if source.oid != asn1.P_SPECIFIED or source.params is None:
            raise CryptoError("Cannot decrypt the message: it uses an unsupported RSA-OAEP label source.")
        label = asn1.octets(source.params)
    return OaepParams(_hash_oid(fields.get(0)), _mgf1_hash(fields.get(1)), label)


def parse_pss_params(params: asn1.Node | None) -> PssParams:
    """RFC 8017 Appendix A.2.3 / RFC 4055 §3.1. The trailer field must be the only defined value, 1."""
    fields = _tagged_fields(params, "the RSA-PSS parameters")
    if 3 in fields and asn1.decode_int(fields[3]) != 1:
        raise asn1.malformed("the RSA-PSS parameters")
    salt = asn1.decode_int(fields[2]) if 2 in fields else 20
    if salt < 0:
        raise asn1.malformed("the RSA-PSS parameters")
    return PssParams(_hash_oid(fields.get(0)), _mgf1_hash(fields.get(1)), salt)


def _tagged_fields(params: asn1.Node | None, what: str) -> dict[int, asn1.Node]:
    """The [n] EXPLICIT fields of a parameter SEQUENCE by number; each holds exactly one element."""
    if params is None:
        return {}
    fields: dict[int, asn1.Node] = {}
    for item in asn1.Fields(params, what).rest():
        number = item.tag & 0x1F
        if item.tag != asn1.context(number) or number in fields or len(item.children) != 1:
            raise asn1.malformed(what)
        fields[number] = item.children[0]
    return fields


def _hash_oid(node: asn1.Node | None) -> str:
    # RFC 5754 §2: a hash identifier's parameters are absent or NULL; both mean the same. SHA-1 is the DEFAULT.
    return asn1.SHA1 if node is None else asn1.parse_algorithm(node).oid


def _mgf1_hash(node: asn1.Node | None) -> str:
    if node is None:
        return asn1.SHA1
    mgf = asn1.parse_algorithm(node)
    if mgf.oid != asn1.MGF1 or mgf.params is None:
        raise CryptoError("The S/MIME message uses a mask generation function other than MGF1.")
    return asn1.parse_algorithm(mgf.params).oid


# --- ContentInfo -------------------------------------------------------------------------------------------


def _content_info(der: bytes) -> tuple[str, asn1.Node]:
    """RFC 5652 §3: the content type and the content inside its [0] EXPLICIT wrapper."""
    fields = asn1.Fields(asn1.parse(der), "the message")
    content_type = asn1.decode_oid(fields.take(asn1.OID))
    wrapper = fields.take(asn1.context(0))
    fields.end()
    if len(wrapper.children) != 1:
        raise asn1.malformed("the message")
    return content_type, wrapper.children[0]


# --- EnvelopedData and AuthEnvelopedData --------------------------------------------------------------------


def parse_envelope(der: bytes) -> Envelope:
    content_type, content = _content_info(der)
    if content_type in (ID_ENVELOPED_DATA, ID_AUTH_ENVELOPED_DATA):
        return _envelope(content, authenticated=content_type == ID_AUTH_ENVELOPED_DATA)
    raise CryptoError("Cannot decrypt the message: it is not an encrypted S/MIME message.")


def _envelope(node: asn1.Node, *, authenticated: bool) -> Envelope:
    """EnvelopedData (RFC 5652 §6.1) or AuthEnvelopedData (RFC 5083 §2.1): they differ only after the content."""
    fields = asn1.Fields(node, "the encrypted message")
    fields.take(asn1.INTEGER)
    fields.optional(asn1.context(0))  # originatorInfo: certificates and CRLs, not needed to decrypt.
    recipients = _recipient_infos(fields.take(asn1.SET))
    algorithm, ciphertext = _encrypted_content(fields.take(asn1.SEQUENCE))
    if not authenticated:
        fields.optional(asn1.context(1))  # unprotectedAttrs
        fields.end()
        return Envelope(False, recipients, algorithm, ciphertext)
    auth_attrs = fields.optional(asn1.context(1))
    mac = asn1.octets(fields.take())
    fields.optional(asn1.context(2))  # unauthAttrs
    fields.end()
    # RFC 5083 §2.2: authenticated attributes enter the AEAD as additional data, DER-encoded with the SET OF
    # tag in place of their IMPLICIT [1].
    aad = asn1.tlv(asn1.SET, auth_attrs.body) if auth_attrs is not None else b""
    return Envelope(True, recipients, algorithm, ciphertext, aad=aad, mac=mac)


def _recipient_infos(node: asn1.Node) -> tuple[KeyTransport, ...]:
    # RFC 5652 §6.2: ktri is the untagged SEQUENCE alternative; kari, kekri, pwri and ori carry tags [1]-[4].
    return tuple(_key_transport(item) for item in node.children if item.tag == asn1.SEQUENCE)


def _key_transport(node: asn1.Node) -> KeyTransport:
    fields = asn1.Fields(node, "a recipient")
    fields.take(asn1.INTEGER)
    recipient = parse_cert_id(fields.take())
    algorithm = asn1.parse_algorithm(fields.take(asn1.SEQUENCE))
    encrypted_key = asn1.octets(fields.take())
    fields.end()
    return KeyTransport(recipient, algorithm, encrypted_key)


def _encrypted_content(node: asn1.Node) -> tuple[asn1.Algorithm, bytes]:
    """EncryptedContentInfo (RFC 5652 §6.1); the content may be constructed in BER (X.690 §8.7.3)."""
    fields = asn1.Fields(node, "the encrypted content")
    fields.take(asn1.OID)
    algorithm = asn1.parse_algorithm(fields.take(asn1.SEQUENCE))
    content = fields.optional(_ENCRYPTED_CONTENT) or fields.optional(asn1.context(0))
    fields.end()
    if content is None:
        raise CryptoError("Cannot decrypt the message: the encrypted content is not included.")
    return algorithm, asn1.octets(content, _ENCRYPTED_CONTENT)


def encode_key_transport(certificate: x509.Certificate, encrypted_key: bytes) -> bytes:
    # RFC 5652 §6.2.1: version 0 goes with issuerAndSerialNumber, which every S/MIME client matches on.
    issuer, serial = issuer_and_serial(certificate)
    rid = asn1.seq(issuer, asn1.encode_int(serial))
    return asn1.seq(asn1.encode_int(0), rid, OAEP_SHA256, asn1.tlv(asn1.OCTET_STRING, encrypted_key))


def encode_envelope(
    *, recipients: Sequence[bytes], algorithm: bytes, ciphertext: bytes, mac: bytes | None = None
) -> bytes:
    """EnvelopedData, or AuthEnvelopedData when a `mac` is given. Both are version 0: RFC 5083 §2.1 fixes it
    for AuthEnvelopedData, and RFC 5652 §6.1 gives 0 when every recipient is a version 0 ktri and there is
    neither originatorInfo nor unprotectedAttrs."""
    content = asn1.seq(asn1.encode_oid(ID_DATA), algorithm, asn1.tlv(_ENCRYPTED_CONTENT, ciphertext))
    body = [asn1.encode_int(0), asn1.set_of(*recipients), content]
    if mac is None:
        return asn1.seq(asn1.encode_oid(ID_ENVELOPED_DATA), asn1.explicit(0, asn1.seq(*body)))
    return asn1.seq(
        asn1.encode_oid(ID_AUTH_ENVELOPED_DATA), asn1.explicit(0, asn1.seq(*body, asn1.tlv(asn1.OCTET_STRING, mac)))
    )


# --- SignedData --------------------------------------------------------------------------------------------


def parse_signed_data(der: bytes) -> SignedData:
    content_type, node = _content_info(der)
    if content_type != ID_SIGNED_DATA:
        raise CryptoError("Cannot check the signature: the data is not a CMS signature.")
    fields = asn1.Fields(node, "the signature")
    fields.take(asn1.INTEGER)
    fields.take(asn1.SET)  # digestAlgorithms only helps one-pass streaming; each SignerInfo names its own (§5.1).
    econtent_type, econtent = _encapsulated_content(fields.take(asn1.SEQUENCE))
    certificates = fields.optional(asn1.context(0))
    fields.optional(asn1.context(1))  # crls: revocation is not checked from data a signer chose to send.
    signers = tuple(_signer_info(item) for item in fields.take(asn1.SET).children)
    fields.end()
    # RFC 5652 §10.2.2: CertificateChoices; only the untagged X.509 alternative is a certificate Salus uses.
    certs = () if certificates is None else tuple(c.encoded for c in certificates.children if c.tag == asn1.SEQUENCE)
    return SignedData(econtent_type, econtent, certs, signers)


def _encapsulated_content(node: asn1.Node) -> tuple[str, bytes | None]:
    fields = asn1.Fields(node, "the signed content")
    content_type = asn1.decode_oid(fields.take(asn1.OID))
    wrapper = fields.optional(asn1.context(0))
    fields.end()
    if wrapper is None:
        return content_type, None
    if len(wrapper.children) != 1:
        raise asn1.malformed("the signed content")
    return content_type, asn1.octets(wrapper.children[0])


def _signer_info(node: asn1.Node) -> SignerInfo:
    fields = asn1.Fields(node, "a signer")
    fields.take(asn1.INTEGER)
    signer = parse_cert_id(fields.take())
    digest_algorithm = asn1.parse_algorithm(fields.take(asn1.SEQUENCE))
    attrs = fields.optional(asn1.context(0))
    signature_algorithm = asn1.parse_algorithm(fields.take(asn1.SEQUENCE))
    signature = asn1.octets(fields.take())
    fields.optional(asn1.context(1))  # unsignedAttrs (e.g. countersignatures) are not covered by the signature.
    fields.end()
    # RFC 5652 §5.4: the signature covers the attributes re-tagged with an EXPLICIT SET OF tag.
    signed_attrs = asn1.tlv(asn1.SET, attrs.body) if attrs is not None else None
    attributes = tuple(_attribute(item) for item in attrs.children) if attrs is not None else ()
    return SignerInfo(signer, digest_algorithm, signed_attrs, attributes, signature_algorithm, signature)


def _attribute(node: asn1.Node) -> Attribute:
    fields = asn1.Fields(node, "a signed attribute")
    oid = asn1.decode_oid(fields.take(asn1.OID))
    values = fields.take(asn1.SET).children
    fields.end()
    return Attribute(oid, values)


def single_attribute(attributes: Sequence[Attribute], oid: str) -> asn1.Node | None:
    """The one value of an attribute that RFC 5652 §11.1-11.3 allows only once, with one value; None if
    absent. A repeated attribute could let a signer show one value and prove another, so it is malformed."""
    found = [attribute for attribute in attributes if attribute.oid == oid]
    if not found:
        return None
    if len(found) > 1 or len(found[0].values) != 1:
        raise asn1.malformed("a signed attribute")
    return found[0].values[0]
