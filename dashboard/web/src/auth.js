// The one login flow of every page that logs in (the command centre, the
// field page, supervision, accounts): who is logged in, the login form,
// logging in and out, and the form shown again when the login ends.
//
// Each page's markup has the form (#login or #login-form) with
// #username, #password and #login-error, and may have #whoami (filled
// with "user · role") and #logout. The session is an HttpOnly cookie: the
// page never sees it.
//
//   const login = loginFlow({ form: $("login"), loggedIn: ["main", "logout"] });
//   const me = await login.start(); // null: the form is shown
import { api, onUnauthorized } from "./api.js";

const $ = (id) => document.getElementById(id);

export const SESSION_ENDED = "Your session has ended. Log in again.";

// whoami is the logged-in user ({user, role, team, permissions, …}); it
// throws an ApiError (login: true) when nobody is.
export const whoami = () => api("api/v1/auth/me", { relogin: false });

// login resolves to the user, or throws an ApiError: 401 wrong user name or
// password, 429 locked out or throttled, 503 the directory is down — each
// with the server's message.
export const login = (username, password) => api("api/v1/auth/login", { method: "POST", body: { username, password }, relogin: false });

// logout ends the session. A page that was already logged out is logged
// out: only an unreachable server is an error.
export async function logout() {
  await api("api/v1/auth/logout", { method: "POST", relogin: false }).catch((err) => {
    if (err.status === undefined) throw err;
  });
}

// How a refused login is put. serverRefusal: the server's words (the
// lock-out's wait, the directory being down); briefRefusal: two plain
// sentences (the field page, supervision).
export const serverRefusal = (err) => (err.status ? err.message || "Login failed" : err.message);
export const briefRefusal = (err) =>
  err.status === 429 ? "Too many attempts; wait a minute." : err.status ? "Wrong user name or password." : err.message;

// loginFlow wires the page's login form and returns its controls.
//   form: the <form>; overlay: what is shown and hidden (the form itself,
//     or a box around it);
//   loggedIn: ids of elements shown only while logged in (hidden with the
//     form shown, shown by enter);
//   refusal: how a refused login is put (serverRefusal);
//   onLoggedIn(user): after a login (reload the page);
//   onShow(): after the form is shown (stop what needs a login).
// It also makes a 401 from any api() call show the form, saying the
// session has ended.
export function loginFlow({ form, overlay = form, loggedIn = [], refusal = serverRefusal, onLoggedIn = () => location.reload(), onShow } = {}) {
  const error = $("login-error");
  const flow = {
    get shown() {
      return !overlay.hidden;
    },
    // show shows the form, with why (nothing by default).
    show(why = "") {
      overlay.hidden = false;
      for (const id of loggedIn) $(id).hidden = true;
      error.textContent = why;
      onShow?.();
    },
    // ended shows the form when the login has ended (once: a second 401
    // leaves what the form says, e.g. a refused login, alone).
    ended(why = SESSION_ENDED) {
      if (!flow.shown) flow.show(why);
    },
    // enter hides the form and shows the page for user.
    enter(user) {
      overlay.hidden = true;
      for (const id of loggedIn) $(id).hidden = false;
      if ($("whoami")) $("whoami").textContent = `${user.user} · ${user.role}`;
    },
    // start resolves to the logged-in user (the page shown), or to null
    // with the form shown; other failures are thrown.
    async start() {
      try {
        const user = await whoami();
        flow.enter(user);
        return user;
      } catch (err) {
        if (!err.login) throw err;
        flow.show();
        return null;
      }
    },
    // check asks whether the login still holds (after the live feed
    // dropped); the form is shown when it does not.
    async check() {
      try {
        await whoami();
      } catch (err) {
        if (err.login) flow.ended();
      }
    },
  };
  form.onsubmit = async (e) => {
    e.preventDefault();
    error.textContent = "";
    let user;
    try {
      user = await login(form.querySelector("#username").value, form.querySelector("#password").value);
    } catch (err) {
      error.textContent = refusal(err);
      return;
    }
    onLoggedIn(user);
  };
  if ($("logout")) {
    $("logout").onclick = async () => {
      await logout();
      location.reload();
    };
  }
  onUnauthorized(() => flow.ended());
  return flow;
}
