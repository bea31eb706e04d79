// The recipient's half of the portal API (docs/portal-protocol.md §3), with fetch. No cookies are used: the
// access token from a successful verification is kept in memory only and sent as a bearer token.

const ENVELOPE = "application/vnd.salus.portal-envelope";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The portal answered ${status}.`);
    this.status = status;
    this.code = (body && body.error) || "http_error";
    this.retryAfter = (body && body.retry_after) || 0;
    this.attemptsLeft = body ? body.attempts_left : undefined;
  }
}

async function call(path, { method = "GET", json, bytes, token } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify({ v: 1, ...json });
  } else if (bytes !== undefined) {
    headers["Content-Type"] = ENVELOPE;
    body = bytes;
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit", redirect: "error" });
  } catch (error) {
    throw new ApiError(0, { message: "The portal could not be reached. Check your connection and try again." });
  }
  if (!response.ok) {
    let detail = null;
    try { detail = await response.json(); } catch (error) { detail = null; }
    throw new ApiError(response.status, detail);
  }
  return response;
}

export async function openInfo(id) {
  return (await call(`/api/v1/open/${id}`)).json();
}

export async function requestCode(id) {
  return (await call(`/api/v1/open/${id}/code`, { method: "POST", json: {} })).json();
}

export async function verify(id, secret) {
  return (await call(`/api/v1/open/${id}/verify`, { method: "POST", json: secret })).json();
}

export async function fetchEnvelope(id, token) {
  return new Uint8Array(await (await call(`/api/v1/open/${id}/message`, { token })).arrayBuffer());
}

export async function sendReply(id, token, envelope) {
  return (await call(`/api/v1/open/${id}/replies`, { method: "POST", bytes: envelope, token })).json();
}
