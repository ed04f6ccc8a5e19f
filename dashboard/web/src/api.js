// The one way the pages talk to smarteye's API. The login is an HttpOnly
// session cookie the page never sees; the server refuses a state-changing
// request from another origin (Origin, Sec-Fetch-Site) and wants JSON
// bodies, so no extra header is needed beyond Content-Type.
//
//   const users = await api("api/v1/users");
//   await api("api/v1/users", { method: "POST", body: { name, role } });
//   const r = await api(url, { raw: true }); // the Response, for streams and binaries
//
// A refused request throws an ApiError with the server's message and the
// status; a 401 first calls the page's hook (onUnauthorized), which shows
// its login form.

// ApiError is an answer other than 2xx: message is the server's own
// ({"error": …}) when it gave one.
export class ApiError extends Error {
  constructor(message, status, url, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.url = url;
    this.body = body;
  }

  // login: the request needs a login (the page shows its login form).
  get login() {
    return this.status === 401;
  }
}

let unauthorized = null;

// onUnauthorized sets what a 401 does (once per page: show the login form).
export function onUnauthorized(fn) {
  unauthorized = fn;
}

const passThrough = (b) => typeof b === "string" || b instanceof Blob || b instanceof ArrayBuffer || ArrayBuffer.isView(b) || b instanceof FormData || b instanceof URLSearchParams;

// api fetches url (relative to the page: smarteye may be served under a
// path). opts: method (GET), body (an object is sent as JSON; a string or
// binary as is, with opts.type as its Content-Type), headers, raw (resolve
// to the Response instead of its body), relogin (false: a 401 is the
// caller's business and does not call the hook — the login itself), and
// fetch's own signal and cache. It resolves to the parsed JSON, the text of
// other answers, or null for an empty one.
export async function api(url, { method = "GET", body, type, headers = {}, raw = false, relogin = true, signal, cache } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin", signal, cache };
  if (body !== undefined) {
    if (passThrough(body)) {
      init.body = body;
      if (type) init.headers["Content-Type"] = type;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const r = await fetch(url, init);
  if (r.ok && raw) return r;
  const text = await r.text();
  let parsed = text;
  if (text && /json/i.test(r.headers.get("Content-Type") || "")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!r.ok) {
    const said = typeof parsed === "object" && parsed?.error ? parsed.error : "";
    const msg = said || (text.trim() && !/^\s*</.test(text) ? `${r.status} ${text.trim().slice(0, 200)}` : `${r.status} ${r.statusText}`.trim());
    const err = new ApiError(msg, r.status, url, parsed);
    if (r.status === 401 && relogin) unauthorized?.(err);
    throw err;
  }
  return text ? parsed : null;
}

// sitesOr401 lists the sites, or null when the page needs a login first
// (the pages without a login form of their own then say so).
export async function sitesOr401() {
  try {
    return (await api("api/v1/sites")).sites;
  } catch (err) {
    if (err.login) return null;
    throw err;
  }
}
