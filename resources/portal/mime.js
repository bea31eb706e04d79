// Reading the decrypted MIME message, and writing the reply, in the browser.
//
// Rules:
// - Nothing from the message is ever inserted as HTML: the caller shows text with textContent. An HTML-only
//   message is reduced to its text by removing tags; the markup is never parsed by the browser.
// - Parsing works on bytes; header text is decoded as Latin-1 and then RFC 2047 (encoded words) and RFC 2231
//   (parameter sections) are undone; bodies by their Content-Transfer-Encoding (RFC 2045 §6) and charset.
// - Nesting is bounded (16 levels) so a hostile message cannot exhaust the page.

const CRLF = "\r\n";
const MAX_DEPTH = 16;

function latin1(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}

function bytesOfLatin1(text) {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

function decodeText(bytes, charset) {
  try {
    return new TextDecoder(charset || "utf-8").decode(bytes);
  } catch (error) {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

function indexOf(haystack, needle, from) {
  const first = needle[0];
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= haystack.length - needle.length;
    i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j += 1;
    if (j === needle.length) return i;
  }
  return -1;
}

function splitEntity(bytes) {
  for (let i = 0; i < bytes.length; i += 1) {
    if (bytes[i] === 10 && (bytes[i + 1] === 10 || (bytes[i + 1] === 13 && bytes[i + 2] === 10))) {
      const end = bytes[i + 1] === 10 ? i + 2 : i + 3;
      return [bytes.subarray(0, i), bytes.subarray(end)];
    }
  }
  return [bytes, new Uint8Array(0)];
}

function parseHeaders(bytes) {
  const unfolded = latin1(bytes).replace(/\r?\n(?=[ \t])/g, "");
  const fields = new Map();
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  return fields;
}

export function decodeWords(text) {
  // RFC 2047 §6.2: white space between adjacent encoded words is not displayed.
  const joined = text.replace(/(\?=)\s+(=\?)/g, "$1$2");
  return joined.replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (whole, charset, encoding, data) => {
    try {
      const bytes = encoding.toUpperCase() === "B"
        ? bytesOfLatin1(atob(data))
        : bytesOfLatin1(data.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g,
          (_, hex) => String.fromCharCode(parseInt(hex, 16))));
      return decodeText(bytes, charset.split("*")[0]);
    } catch (error) {
      return whole;
    }
  });
}

function parseParams(value) {
  const [main, ...rest] = splitOutsideQuotes(value, ";");
  const raw = new Map();
  for (const piece of rest) {
    const eq = piece.indexOf("=");
    if (eq <= 0) continue;
    let v = piece.slice(eq + 1).trim();
    if (v.startsWith("\"")) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    raw.set(piece.slice(0, eq).trim().toLowerCase(), v);
  }
  return { main: main.trim().toLowerCase(), params: joinSections(raw) };
}

function splitOutsideQuotes(text, separator) {
  const out = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === "\\" && quoted) { current += c + (text[i + 1] || ""); i += 1; continue; }
    if (c === "\"") quoted = !quoted;
    if (c === separator && !quoted) { out.push(current); current = ""; } else { current += c; }
  }
  out.push(current);
  return out;
}

function joinSections(raw) {
  // RFC 2231 §3-4: name*0*=utf-8''..., name*1*=..., or name*=utf-8''... (percent-encoded bytes).
  const params = new Map();
  const sections = new Map();
  for (const [key, value] of raw) {
    const match = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(key);
    if (!match) continue;
    const [, name, index, encoded] = match;
    if (index === undefined && !encoded) { if (!params.has(name)) params.set(name, decodeWords(value)); continue; }
    if (!sections.has(name)) sections.set(name, []);
    sections.get(name)[Number(index || 0)] = { value, encoded: Boolean(encoded) };
  }
  for (const [name, parts] of sections) {
    let charset = "utf-8";
    const bytes = [];
    parts.forEach((part, i) => {
      if (!part) return;
      let v = part.value;
      if (part.encoded && i === 0) {
        const quote = v.split("'");
        if (quote.length >= 3) { charset = quote[0] || "utf-8"; v = quote.slice(2).join("'"); }
      }
      const text = part.encoded ? v.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))) : v;
      bytes.push(bytesOfLatin1(text));
    });
    params.set(name, decodeText(concatBytes(bytes), charset));
  }
  return params;
}

function concatBytes(list) {
  const out = new Uint8Array(list.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of list) { out.set(b, at); at += b.length; }
  return out;
}

function decodeTransfer(bytes, encoding) {
  if (encoding === "base64") {
    // Padding is dropped with the line breaks and added back; a stray last character (length % 4 == 1) is junk.
    let clean = latin1(bytes).replace(/[^A-Za-z0-9+/]/g, "");
    clean = clean.slice(0, clean.length - (clean.length % 4 === 1 ? 1 : 0));
    return bytesOfLatin1(atob(clean + "==".slice(0, (4 - (clean.length % 4)) % 4)));
  }
  if (encoding === "quoted-printable") {
    const text = latin1(bytes).replace(/=\r?\n/g, "");
    return bytesOfLatin1(text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))));
  }
  return bytes;
}

function multipartParts(body, boundary) {
  const marker = bytesOfLatin1("--" + boundary);
  const parts = [];
  let start = -1;
  let at = 0;
  for (;;) {
    const found = indexOf(body, marker, at);
    if (found === -1) break;
    const atLineStart = found === 0 || body[found - 1] === 10;
    at = found + marker.length;
    if (!atLineStart) continue;
    if (start !== -1) {
      let end = found - 1;
      if (end > start && body[end - 1] === 13) end -= 1;
      parts.push(body.subarray(start, Math.max(start, end)));
    }
    if (body[at] === 45 && body[at + 1] === 45) return parts;
    const newline = body.indexOf(10, at);
    if (newline === -1) break;
    start = newline + 1;
  }
  return parts;
}

function walk(bytes, depth, out) {
  if (depth > MAX_DEPTH) return;
  const [headBytes, body] = splitEntity(bytes);
  const headers = parseHeaders(headBytes);
  const type = parseParams(headers.get("content-type") || "text/plain; charset=us-ascii");
  const disposition = parseParams(headers.get("content-disposition") || "");
  const encoding = (headers.get("content-transfer-encoding") || "7bit").trim().toLowerCase();
  if (type.main.startsWith("multipart/") && type.params.get("boundary")) {
    const parts = multipartParts(body, type.params.get("boundary"));
    const chosen = type.main === "multipart/alternative" ? preferPlain(parts) : parts;
    for (const part of chosen) walk(part, depth + 1, out);
    return;
  }
  const filename = disposition.params.get("filename") || type.params.get("name") || "";
  const data = decodeTransfer(body, encoding);
  const isText = type.main === "text/plain" || type.main === "text/html";
  if (isText && disposition.main !== "attachment" && out.text === null) {
    const text = decodeText(data, type.params.get("charset"));
    out.text = type.main === "text/html" ? htmlToText(text) : text;
    return;
  }
  out.attachments.push({
    filename: safeName(filename || (type.main === "message/rfc822" ? "message.eml" : "attachment")),
    contentType: type.main,
    data,
  });
}

function preferPlain(parts) {
  const plain = parts.find((part) => {
    const type = parseParams(parseHeaders(splitEntity(part)[0]).get("content-type") || "text/plain");
    return type.main === "text/plain";
  });
  return plain ? [plain] : parts.slice(-1);
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: "\u00a0" };

function htmlToText(html) {
  // Text only, by pattern: DOMParser would be a Trusted Types sink, which this page's CSP forbids. The result
  // goes to textContent, so anything this misses shows up as characters, never as markup.
  return html
    .replace(/<(script|style|head)[\s\S]*?<\/\1\s*>/gi, "")
    .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])\s*>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
      if (name[0] !== "#") return ENTITIES[name.toLowerCase()] ?? whole;
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : whole;
    })
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

export function safeName(name) {
  const cleaned = name.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, "_").replace(/^[.\s]+/, "").slice(0, 180);
  return cleaned || "attachment";
}

export function parseMessage(bytes) {
  const [headBytes] = splitEntity(bytes);
  const headers = parseHeaders(headBytes);
  const out = { text: null, attachments: [] };
  walk(bytes, 0, out);
  const header = (name) => decodeWords(headers.get(name) || "");
  return {
    subject: header("subject"),
    from: header("from"),
    to: header("to"),
    date: headers.get("date") || "",
    messageId: (headers.get("message-id") || "").replace(/^\s*<|>\s*$/g, ""),
    text: out.text || "",
    attachments: out.attachments,
  };
}

// Writing the reply (RFC 5322 / RFC 2045): 7-bit only, CRLF line ends, base64 bodies.

function encodeBase64(bytes) {
  const text = btoa(latin1(bytes));
  return text.replace(/.{1,76}/g, (line) => line + CRLF);
}

function encodeWords(text) {
  if (/^[\x20-\x7e]*$/.test(text) && !text.includes("=?")) return text;
  const words = [];
  let chunk = "";
  for (const char of text) {
    if (new TextEncoder().encode(chunk + char).length > 45) { words.push(chunk); chunk = ""; }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => "=?utf-8?b?" + btoa(latin1(new TextEncoder().encode(w))) + "?=").join(CRLF + " ");
}

function encodeParam(name, value) {
  const bytes = new TextEncoder().encode(value);
  const encoded = Array.from(bytes, (b) => /[A-Za-z0-9!#$&+.^_`|~-]/.test(String.fromCharCode(b))
    ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0")).join("");
  return `${name}*=utf-8''${encoded}`;
}

function dateField(now) {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const two = (n) => String(n).padStart(2, "0");
  return `${days[now.getUTCDay()]}, ${now.getUTCDate()} ${months[now.getUTCMonth()]} ${now.getUTCFullYear()} ` +
    `${two(now.getUTCHours())}:${two(now.getUTCMinutes())}:${two(now.getUTCSeconds())} +0000`;
}

const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const MESSAGE_ID = /^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$/;

export function addressIn(text) {
  const angle = /<([^<>]+)>/.exec(text);
  const candidate = (angle ? angle[1] : text).trim();
  return ADDRESS.test(candidate) ? candidate : "";
}

function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function buildReply({ from, original, text, files, now }) {
  const to = addressIn(original.from);
  const subject = /^re:/i.test(original.subject) ? original.subject : `Re: ${original.subject}`;
  const boundary = `=_salus-reply-${randomHex(16)}`;
  const lines = [
    `Date: ${dateField(now)}`,
    `Message-ID: <${randomHex(16)}@portal.invalid>`,
  ];
  if (MESSAGE_ID.test(original.messageId)) {
    lines.push(`In-Reply-To: <${original.messageId}>`, `References: <${original.messageId}>`);
  }
  if (ADDRESS.test(from)) lines.push(`From: ${from}`);
  if (to) lines.push(`To: ${to}`);
  lines.push(`Subject: ${encodeWords(subject.replace(/[\r\n]+/g, " "))}`, "MIME-Version: 1.0",
    `Content-Type: multipart/mixed; boundary="${boundary}"`, "", "");
  const parts = [
    "Content-Type: text/plain; charset=utf-8" + CRLF + "Content-Transfer-Encoding: base64" + CRLF + CRLF +
      encodeBase64(new TextEncoder().encode(text.replace(/\r?\n/g, CRLF))),
  ];
  for (const file of files) {
    const type = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i.test(file.type) ? file.type : "application/octet-stream";
    parts.push(`Content-Type: ${type}` + CRLF + `Content-Disposition: attachment; ${encodeParam("filename", file.name)}` +
      CRLF + "Content-Transfer-Encoding: base64" + CRLF + CRLF + encodeBase64(file.data));
  }
  const body = parts.map((p) => `--${boundary}${CRLF}${p}`).join(CRLF) + `${CRLF}--${boundary}--${CRLF}`;
  return new TextEncoder().encode(lines.join(CRLF) + body);
}
