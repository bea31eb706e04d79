// The portal page: check the link, verify the recipient, decrypt and show the message, send a reply.
//
// Rules:
// - K1 is read from the fragment, which browsers never send to a server (RFC 3986 §3.5). Without a complete
//   fragment the page says so and asks the portal nothing.
// - Everything from the message reaches the page through textContent, never as HTML.
// - K1, K2 and the access token live in this module's memory only; nothing is stored in the browser.

import * as api from "./api.js";
import { EnvelopeError, b64urlDecode, openMessage, replyKeyOf, sealReply } from "./envelope.js";
import { buildReply, parseMessage, safeName } from "./mime.js";

const $ = (id) => document.getElementById(id);
const STEPS = ["step-loading", "step-code", "step-passphrase", "message", "reply"];
const session = { id: "", k1: null, access: "", recipient: "", replyKey: null, message: null };

function show(...ids) {
  for (const step of STEPS) $(step).hidden = !ids.includes(step);
}

function focusHeading(id) {
  const heading = $(id);
  if (heading) heading.focus();
}

function alertProblem(text) {
  $("alert").textContent = text;
  $("alert").hidden = !text;
  if (text) $("status").textContent = "";
}

function say(text) {
  $("status").textContent = text;
}

function stop(text) {
  show();
  alertProblem(text);
}

function explain(error) {
  if (!(error instanceof api.ApiError)) return "Something went wrong. Reload the page and try again.";
  if (error.code === "wrong_secret" && error.attemptsLeft !== undefined) {
    return `${error.message} ${error.attemptsLeft} attempt${error.attemptsLeft === 1 ? "" : "s"} left.`;
  }
  if (error.retryAfter) {
    const minutes = Math.ceil(error.retryAfter / 60);
    return `${error.message} (You can try again in ${error.retryAfter < 120 ? `${error.retryAfter} seconds` : `${minutes} minutes`}.)`;
  }
  return error.message;
}

async function start() {
  const match = /^\/m\/([A-Za-z0-9_-]{22})$/.exec(window.location.pathname);
  const fragment = window.location.hash.slice(1);
  let k1 = null;
  try { k1 = fragment ? b64urlDecode(fragment) : null; } catch (error) { k1 = null; }
  if (!match || !k1 || k1.length !== 32) {
    stop("This link is incomplete. Open the link exactly as it appears in the email, including everything " +
      "after the # sign. If it still does not work, ask the sender to send the message again.");
    return;
  }
  session.id = match[1];
  session.k1 = k1;
  try {
    const info = await api.openInfo(session.id);
    show(info.verification === "passphrase" ? "step-passphrase" : "step-code");
    focusHeading(info.verification === "passphrase" ? "passphrase-title" : "code-title");
  } catch (error) {
    stop(explain(error));
  }
}

async function busy(button, work) {
  button.disabled = true;
  try { await work(); } finally { button.disabled = false; }
}

async function onSendCode(event) {
  alertProblem("");
  await busy(event.currentTarget, async () => {
    try {
      const answer = await api.requestCode(session.id);
      $("send-code").hidden = true;
      $("code-form").hidden = false;
      say(`We emailed you a code. It works for ${Math.round(answer.expires_in / 60)} minutes.`);
      $("code").focus();
    } catch (error) {
      alertProblem(explain(error));
    }
  });
}

async function onCode(event) {
  event.preventDefault();
  const code = $("code").value.replace(/\s+/g, "");
  if (!/^[0-9]{6}$/.test(code)) {
    alertProblem("Enter the 6 digits of the code from the email.");
    $("code").focus();
    return;
  }
  await unlock(event.submitter || $("code-form").querySelector("button[type=submit]"), { code });
}

async function onPassphrase(event) {
  event.preventDefault();
  const passphrase = $("passphrase").value;
  if (!passphrase) {
    alertProblem("Enter the passphrase the sender gave you.");
    return;
  }
  await unlock(event.submitter || $("passphrase-form").querySelector("button"), { passphrase });
}

async function unlock(button, secret) {
  alertProblem("");
  await busy(button, async () => {
    let granted;
    try {
      granted = await api.verify(session.id, secret);
    } catch (error) {
      alertProblem(explain(error));
      if (error.code === "locked" || error.code === "no_code") { $("code").value = ""; }
      return;
    }
    session.access = granted.access;
    session.recipient = granted.recipient;
    $("code").value = "";
    $("passphrase").value = "";
    await reveal(b64urlDecode(granted.k2));
  });
}

async function reveal(k2) {
  say("Decrypting the message in your browser…");
  let envelope;
  try {
    envelope = await api.fetchEnvelope(session.id, session.access);
  } catch (error) {
    stop(explain(error));
    return;
  }
  try {
    const plain = await openMessage(envelope, session.k1, k2);
    session.replyKey = replyKeyOf(envelope);
    session.message = parseMessage(plain);
  } catch (error) {
    const why = error instanceof EnvelopeError ? "" : " (it is not a readable email)";
    stop("This message could not be decrypted" + why + ". The link may be incomplete or changed, or the " +
      "stored message was altered. Nothing was shown. Ask the sender to send it again.");
    return;
  }
  render(session.message);
}

function render(message) {
  $("subject").textContent = message.subject || "(no subject)";
  $("from").textContent = message.from;
  $("to").textContent = message.to;
  const date = new Date(message.date);
  $("date").textContent = Number.isNaN(date.getTime()) ? message.date : date.toLocaleString();
  $("body").textContent = message.text;
  const list = $("attachment-list");
  list.replaceChildren(...message.attachments.map(attachmentItem));
  $("attachments").hidden = message.attachments.length === 0;
  show("message", "reply");
  say("");
  focusHeading("subject");
}

function attachmentItem(attachment) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `Download ${attachment.filename} (${formatSize(attachment.data.length)})`;
  button.addEventListener("click", () => download(attachment));
  item.append(button);
  return item;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function download(attachment) {
  // application/octet-stream and the download attribute make the browser save the file, never render it here.
  const url = URL.createObjectURL(new Blob([attachment.data], { type: "application/octet-stream" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = safeName(attachment.filename);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function onReply(event) {
  event.preventDefault();
  const text = $("reply-text").value;
  const chosen = Array.from($("reply-files").files || []);
  if (!text.trim() && chosen.length === 0) {
    $("reply-status").textContent = "";
    alertProblem("Write a reply or attach a file first.");
    $("reply-text").focus();
    return;
  }
  alertProblem("");
  await busy($("reply-send"), async () => {
    $("reply-status").textContent = "Encrypting your reply…";
    try {
      const files = await Promise.all(chosen.map(async (file) => ({
        name: file.name, type: file.type, data: new Uint8Array(await file.arrayBuffer()),
      })));
      const mime = buildReply({ from: session.recipient, original: session.message, text, files, now: new Date() });
      await api.sendReply(session.id, session.access, await sealReply(mime, session.replyKey));
      $("reply-form").reset();
      $("reply-status").textContent = "Your reply was encrypted and sent. Only the sender can read it.";
    } catch (error) {
      $("reply-status").textContent = "";
      alertProblem(`Your reply was not sent. ${explain(error)}`);
    }
  });
}

$("send-code").addEventListener("click", onSendCode);
$("resend-code").addEventListener("click", onSendCode);
$("code-form").addEventListener("submit", onCode);
$("passphrase-form").addEventListener("submit", onPassphrase);
$("reply-form").addEventListener("submit", onReply);
start();
