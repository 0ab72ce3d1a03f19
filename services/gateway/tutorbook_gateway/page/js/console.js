// The adapter console (admin keys only): every adapter with its versions, their status on each generator
// replica, card and evaluation scores; upload with progress; activate a version (rollback) or delete; a
// version's rollout (rollout.js): start one, watch its evidence and decision, pause, promote or abort it.

import { call, upload } from "./api.js";
import { append, byId, clear, confirmed, el, say } from "./dom.js";
import { rolloutOf, rolloutSection, startForm } from "./rollout.js";

function scores(evaluation) {
  const entries = Object.entries(evaluation || {}).filter(([, value]) => typeof value === "number");
  if (!entries.length) return el("p", { className: "note", text: "No evaluation scores on its card." });
  return el("dl", { className: "scores" }, entries.map(([name, value]) =>
    [el("dt", { text: name.replace(/_/g, " ") }), el("dd", { text: Number.isInteger(value) ? value : value.toFixed(3) })]));
}

function replicaStatus(version, replicas) {
  if (version.card.kind !== "lora") return el("p", { className: "note", text: "Served by the gateway itself (embedding classifier): no generator needed." });
  return el("ul", { className: "replicas", "aria-label": "Status on each generator replica" }, replicas.map((replica) => {
    const served = replica.models.includes(version.served_name);
    const text = !replica.reachable ? `${replica.replica}: unreachable (${replica.detail})` : `${replica.replica}: ${served ? "loaded" : "not loaded"}`;
    return el("li", { className: !replica.reachable ? "warn" : served ? "ok" : "idle", text });
  }));
}

const underWay = (shown) => shown && ["running", "paused", "promoting"].includes(shown.rollout.state);

function versionRow(adapter, version, replicas, shown) {
  const card = version.card;
  const actions = el("div", { className: "actions" });
  if (!version.active && !underWay(shown)) append(actions, startForm(adapter.name, version.version, startRollout));
  if (!version.active) {
    append(actions,
      el("button", { type: "button", text: `Activate v${version.version}`, "data-action": "activate", "data-version": version.version,
        onclick: () => activate(adapter.name, version.version) }),
      el("button", { type: "button", className: "danger", text: `Delete v${version.version}`, "data-action": "delete", "data-version": version.version,
        onclick: () => remove(adapter.name, version.version) }));
  }
  return el("li", { className: version.active ? "version active" : "version" },
    el("h4", { text: `v${version.version}${version.active ? " (active)" : ""} · ${card.task_type} · ${card.kind}` }),
    card.labels && card.labels.length ? el("p", { className: "labels", text: `Labels: ${card.labels.join(", ")}` }) : null,
    scores(card.eval),
    replicaStatus(version, replicas),
    actions);
}

function adapterCard(adapter, replicas, shown) {
  const errors = adapter.generation_errors_last_minute;
  return el("article", { className: "adapter", "data-adapter": adapter.name, "aria-labelledby": `adapter-${adapter.name}` },
    el("h3", { id: `adapter-${adapter.name}`, text: adapter.name }),
    errors ? el("p", { className: "warn", text: `${errors} generation error(s) in the last minute` }) : null,
    shown ? rolloutSection(adapter.name, shown, actOnRollout) : null,
    el("ol", { className: "versions" }, adapter.versions.slice().reverse().map((version) => versionRow(adapter, version, replicas, shown))),
    el("button", { type: "button", className: "danger", text: `Delete ${adapter.name}`, "data-action": "delete-all",
      onclick: () => remove(adapter.name, null) }));
}

export function forgetAdapters() {
  clear(byId("adapter-list"));
  say(byId("console-status"), "");
}

// The list again after a change; a failure (the key was just forgotten, the gateway is away) is said, not thrown.
async function reloadAdapters(status) {
  try {
    await loadAdapters();
  } catch (error) {
    if (error.name !== "AbortError") say(status, `${status.textContent} The list could not be refreshed: ${error.message}`, "warn");
  }
}

export async function loadAdapters() {
  const listed = await call("GET", "/v1/adapters");
  const list = clear(byId("adapter-list"));
  if (!listed.data.length) append(list, el("p", { className: "note", text: "No adapters yet: upload one above." }));
  const rollouts = await Promise.all(listed.data.map((adapter) => rolloutOf(adapter.name)));
  append(list, listed.data.map((adapter, index) => adapterCard(adapter, listed.replicas || [], rollouts[index])));
}

async function startRollout(name, body) {
  const status = byId("console-status");
  try {
    say(status, `Starting the rollout of ${name} v${body.version}…`);
    await call("POST", `/v1/adapters/${encodeURIComponent(name)}/rollout`, body);
    say(status, `${name} v${body.version} is rolling out.`, "ok");
  } catch (error) {
    say(status, `Not started: ${error.message}`, "error");
  }
  await reloadAdapters(status);
  status.focus();
}

async function actOnRollout(name, action) {
  const status = byId("console-status");
  if (["promote", "abort"].includes(action) && !(await confirmed(`${action === "promote" ? "Promote" : "Abort"} the rollout of ${name} now?`))) return;
  try {
    const rollout = await call("POST", `/v1/adapters/${encodeURIComponent(name)}/rollout/${action}`);
    say(status, `The rollout of ${name} is ${rollout.state.replace("_", " ")}.`, "ok");
  } catch (error) {
    say(status, `Not done: ${error.message}`, "error");
  }
  await reloadAdapters(status);
  status.focus();
}

async function activate(name, version) {
  const status = byId("console-status");
  if (!(await confirmed(`Make version ${version} of ${name} the active one?`))) return;
  try {
    say(status, `Activating ${name} v${version}…`);
    await call("POST", `/v1/adapters/${encodeURIComponent(name)}/activate`, { version });
    say(status, `${name} v${version} is active.`, "ok");
  } catch (error) {
    say(status, `Not activated: ${error.message}`, "error");
  }
  await reloadAdapters(status);
  status.focus();
}

async function remove(name, version) {
  const status = byId("console-status");
  const what = version === null ? `${name} and all its versions` : `version ${version} of ${name}`;
  if (!(await confirmed(`Delete ${what}? This cannot be undone.`))) return;
  try {
    const query = version === null ? "" : `?version=${version}`;
    await call("DELETE", `/v1/adapters/${encodeURIComponent(name)}${query}`);
    say(status, `Deleted ${what}.`, "ok");
  } catch (error) {
    say(status, `Not deleted: ${error.message}`, "error");
  }
  await reloadAdapters(status);
  status.focus();
}

function uploadOutcome(stored) {
  const name = `${stored.name} v${stored.version}`;
  if (stored.activated) return [`Uploaded ${name}: validated, stored and active.`, "ok"];
  return [`Uploaded ${name} but not activated: ${stored.gate || stored.why || "see its status"}.`, "warn"];
}

async function uploadChosen(event) {
  event.preventDefault();
  const file = byId("upload-file").files[0];
  const status = byId("console-status");
  const progress = byId("upload-progress");
  if (!file) return say(status, "Choose an archive first.", "error");
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;  // one upload at a time: a second click would store a second version
  progress.hidden = false;
  progress.value = 0;
  say(status, `Uploading ${file.name}…`);
  try {
    const stored = await upload("/v1/adapters", file, (share) => { progress.value = Math.round(share * 100); });
    progress.value = 100;
    say(status, ...uploadOutcome(stored));
    event.target.reset();
  } catch (error) {
    say(status, `Refused: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
  await reloadAdapters(status);
}

export function setUpConsole() {
  byId("upload-form").addEventListener("submit", uploadChosen);
}
