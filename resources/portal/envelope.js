// Portal envelopes, format 1 (docs/portal-protocol.md §2), with WebCrypto only (w3.org/TR/WebCryptoAPI).
//
// Message: "SALUSPM1" || reply public key (65) || nonce (12) || AES-256-GCM(K = K1 xor K2), AAD = first 85 bytes.
// Reply:   "SALUSPR1" || ephemeral P-256 point (65) || nonce (12) || AES-256-GCM(R), AAD = first 85 bytes,
//          R = HKDF-SHA-256(ECDH x-coordinate, salt empty, info "salus portal reply v1").
// The Python side is app/crypto/portal_keys.py; both must change together, with the format version.

const MESSAGE_MAGIC = "SALUSPM1";
const REPLY_MAGIC = "SALUSPR1";
const POINT_BYTES = 65;
const NONCE_BYTES = 12;
const HEADER_BYTES = 8 + POINT_BYTES + NONCE_BYTES;
const TAG_BYTES = 16;
const REPLY_INFO = new TextEncoder().encode("salus portal reply v1");

export class EnvelopeError extends Error {}

export function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new EnvelopeError("not base64url");
  }
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function concat(...arrays) {
  const out = new Uint8Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function magicOf(bytes) {
  return String.fromCharCode(...bytes.subarray(0, 8));
}

function checkEnvelope(bytes, magic) {
  if (bytes.length < HEADER_BYTES + TAG_BYTES || magicOf(bytes) !== magic) {
    throw new EnvelopeError("This is not an envelope this page can open (unknown format or truncated).");
  }
}

export function replyKeyOf(envelope) {
  checkEnvelope(envelope, MESSAGE_MAGIC);
  return envelope.slice(8, 8 + POINT_BYTES);
}

export async function openMessage(envelope, k1, k2) {
  checkEnvelope(envelope, MESSAGE_MAGIC);
  if (k1.length !== 32 || k2.length !== 32) throw new EnvelopeError("A key share has the wrong length.");
  const raw = k1.map((byte, i) => byte ^ k2[i]);
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["decrypt"]);
  const header = envelope.subarray(0, HEADER_BYTES);
  const iv = envelope.subarray(HEADER_BYTES - NONCE_BYTES, HEADER_BYTES);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: header, tagLength: 128 }, key, envelope.subarray(HEADER_BYTES));
    return new Uint8Array(plain);
  } catch (error) {
    // WebCrypto reports a failed tag check as OperationError; that is all it can say (NIST SP 800-38D §7.2).
    throw new EnvelopeError("The message could not be decrypted.");
  }
}

export async function sealReply(mime, replyPoint) {
  if (replyPoint.length !== POINT_BYTES || replyPoint[0] !== 4) throw new EnvelopeError("Bad reply key.");
  const curve = { name: "ECDH", namedCurve: "P-256" };
  const recipient = await crypto.subtle.importKey("raw", replyPoint, curve, false, []);
  const ephemeral = await crypto.subtle.generateKey(curve, false, ["deriveBits"]);
  const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: recipient }, ephemeral.privateKey, 256);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: REPLY_INFO },
    ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  const point = new Uint8Array(await crypto.subtle.exportKey("raw", ephemeral.publicKey));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const header = concat(new TextEncoder().encode(REPLY_MAGIC), point, nonce);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, key, mime);
  return concat(header, new Uint8Array(sealed));
}
