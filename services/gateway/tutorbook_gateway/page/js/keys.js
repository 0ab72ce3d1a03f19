// The keys console (admin keys only): teams, and keys with their team, scopes and state; create a team;
// create a key (its secret shown once, here, then never again); revoke a key.

import { call } from "./api.js";
import { append, byId, clear, confirmed, el, say } from "./dom.js";

const SCOPES = ["chat", "documents", "adapters", "admin"];
const DAY = 86400;

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") : "never";
}

function state(key) {
  if (key.revoked) return `revoked ${when(key.revoked)}`;
  if (key.expires && key.expires * 1000 < Date.now()) return `expired ${when(key.expires)}`;
  return key.expires ? `active until ${when(key.expires)}` : "active";
}

function keyRow(key) {
  // named apart from the function it calls: a const named `revoke` would be what the handler calls
  const revokeButton = key.revoked ? null : el("button", { type: "button", className: "danger",
    text: `Revoke ${key.prefix}`, "data-action": "revoke", onclick: () => revoke(key) });
  return el("tr", { "data-key": key.prefix },
    el("td", { text: key.prefix }), el("td", { text: key.name }), el("td", { text: key.team }),
    el("td", { text: key.scopes.join(", ") }), el("td", { text: state(key) }), el("td", {}, revokeButton));
}

function keyTable(listed) {
  if (!listed.length) return el("p", { className: "note", text: "No keys made here yet (the configured keys are not listed)." });
  const head = el("tr", {}, ["Key", "Name", "Team", "Scopes", "State", ""].map((text) => el("th", { scope: "col", text })));
  return el("table", { className: "keys" }, el("caption", { text: "Keys (never their secrets)" }),
    el("thead", {}, head), el("tbody", {}, listed.map(keyRow)));
}

export function forgetKeys() {
  clear(byId("key-list"));
  clear(byId("new-key-secret"));
  say(byId("keys-status"), "");
}

export async function loadKeys() {
  const [teams, listed] = await Promise.all([call("GET", "/v1/admin/teams"), call("GET", "/v1/admin/keys")]);
  const select = clear(byId("new-key-team"));
  append(select, ["default", ...teams.data.map((team) => team.name)].map((name) => el("option", { value: name, text: name })));
  append(clear(byId("key-list")), keyTable(listed.data));
}

async function reload(status) {
  try {
    await loadKeys();
  } catch (error) {
    if (error.name !== "AbortError") say(status, `${status.textContent} The list could not be refreshed: ${error.message}`, "warn");
  }
}

async function revoke(key) {
  const status = byId("keys-status");
  if (!(await confirmed(`Revoke ${key.prefix} (${key.name})? Every gateway refuses it within a second.`))) return;
  try {
    await call("DELETE", `/v1/admin/keys/${encodeURIComponent(key.prefix)}`);
    say(status, `Revoked ${key.prefix}.`, "ok");
  } catch (error) {
    say(status, `Not revoked: ${error.message}`, "error");
  }
  await reload(status);
  status.focus();
}

function newKeyRequest(form) {
  const scopes = SCOPES.filter((scope) => form.querySelector(`input[name=scope][value=${scope}]`).checked);
  const days = Number(byId("new-key-days").value);
  const request = { name: byId("new-key-name").value.trim(), team: byId("new-key-team").value, scopes };
  return days > 0 ? { ...request, expires_in_seconds: days * DAY } : request;
}

async function createKey(event) {
  event.preventDefault();
  const status = byId("keys-status");
  const shown = clear(byId("new-key-secret"));
  try {
    const made = await call("POST", "/v1/admin/keys", newKeyRequest(event.target));
    say(status, `Made ${made.prefix} for team ${made.team}.`, "ok");
    append(shown, el("p", { text: "Its key, shown this once (copy it now; only its hash is kept):" }),
      el("code", { className: "secret-once", text: made.key }));
    event.target.reset();
  } catch (error) {
    say(status, `Not made: ${error.message}`, "error");
  }
  await reload(status);
}

async function createTeam(event) {
  event.preventDefault();
  const status = byId("keys-status");
  try {
    const team = await call("POST", "/v1/admin/teams", { name: byId("new-team-name").value.trim() });
    say(status, `Team ${team.name} made.`, "ok");
    event.target.reset();
  } catch (error) {
    say(status, `Not made: ${error.message}`, "error");
  }
  await reload(status);
}

export function setUpKeys() {
  byId("new-key-form").addEventListener("submit", createKey);
  byId("new-team-form").addEventListener("submit", createTeam);
}
