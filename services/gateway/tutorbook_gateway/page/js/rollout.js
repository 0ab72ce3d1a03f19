// An adapter's rollout in the console: its state, the evidence for each version side by side, what the
// criteria say now (or the decision, with its reasons), and the controls (pause, resume, promote, abort).
// A stored version that is not active can be started as a candidate: a canary share, a shadow share.

import { call } from "./api.js";
import { el } from "./dom.js";

const percent = (share) => `${Math.round(share * 1000) / 10}%`;
const interval = (pair) => (pair ? `${pair[0].toFixed(2)}-${pair[1].toFixed(2)}` : "n/a");
const seconds = (value) => (value === null || value === undefined ? "n/a" : `${value.toFixed(3)} s`);

function evidenceTable(rollout, evidence) {
  const rows = [["active", rollout.active_version, evidence.active], ["candidate", rollout.candidate_version, evidence.candidate]];
  return el("table", { className: "evidence", "aria-label": "Evidence for each version" },
    el("thead", {}, el("tr", {}, ["version", "answers", "failed", "error rate (95%)", "p95", "rated unhelpful", "claims unsupported"]
      .map((name) => el("th", { scope: "col", text: name })))),
    el("tbody", {}, rows.map(([role, version, figures]) => el("tr", { "data-role": role },
      el("th", { scope: "row", text: `v${version} (${role})` }),
      el("td", { text: figures.answers }),
      el("td", { text: figures.failed }),
      el("td", { text: interval(figures.error_rate_95) }),
      el("td", { text: seconds(figures.p95_seconds) }),
      el("td", { text: `${figures.unhelpful} of ${figures.rated}` }),
      el("td", { text: `${figures.unsupported} of ${figures.claims}` })))));
}

function agreement(evidence) {
  if (!evidence.compared) return el("p", { className: "note", text: "No request answered by both versions yet." });
  return el("p", { className: "agreement", text: `Answered by both: ${evidence.compared}; the same answer ${percent(evidence.agreement)} ` +
    `(95%: ${interval(evidence.agreement_95)})` + (evidence.agreement_weighted_confidence === null ? "" :
    `; agreement-weighted confidence ${evidence.agreement_weighted_confidence.toFixed(2)} against ${evidence.active_confidence.toFixed(2)}`) });
}

function reasons(title, list) {
  return el("div", { className: "reasons" }, el("p", { text: title }), el("ul", {}, list.map((reason) => el("li", { text: reason }))));
}

function controls(name, rollout, act) {
  if (!["running", "paused"].includes(rollout.state)) return null;
  const button = (action, text, className) => el("button", { type: "button", className, text, "data-action": `rollout-${action}`,
    onclick: () => act(name, action) });
  return el("div", { className: "actions" },
    rollout.state === "running" ? button("pause", "Pause") : button("resume", "Resume"),
    button("promote", `Promote v${rollout.candidate_version} now`),
    button("abort", "Abort", "danger"));
}

export function rolloutSection(name, shown, act) {
  const { rollout, evidence, verdict } = shown;
  const shares = [rollout.canary_fraction ? `canary ${percent(rollout.canary_fraction)} of conversations` : null,
    rollout.shadow_fraction ? `shadow ${percent(rollout.shadow_fraction)} of answers` : null].filter(Boolean).join(", ");
  const decision = rollout.decision;
  return el("section", { className: "rollout", "data-state": rollout.state, "aria-label": `Rollout of ${name}` },
    el("h4", { text: `Rollout: v${rollout.active_version} to v${rollout.candidate_version} · ${rollout.state.replace("_", " ")} · ${shares}` }),
    evidenceTable(rollout, evidence),
    agreement(evidence),
    verdict ? reasons(`Now: ${verdict.now.replace("_", " ")}`, verdict.reasons) : null,
    decision ? reasons(`Decided by ${decision.by === "auto" ? "the evidence" : decision.by}: ${decision.state.replace("_", " ")}`, decision.reasons) : null,
    controls(name, rollout, act));
}

export function startForm(name, version, start) {
  const canary = el("input", { type: "number", min: "0", max: "100", step: "1", value: "10", "aria-label": `Canary share for v${version} (%)` });
  const shadow = el("input", { type: "number", min: "0", max: "100", step: "1", value: "0", "aria-label": `Shadow share for v${version} (%)` });
  return el("form", { className: "rollout-start", onsubmit: (event) => {
    event.preventDefault();
    start(name, { version, canary_fraction: Number(canary.value) / 100, shadow_fraction: Number(shadow.value) / 100 });
  } }, el("label", { text: "Canary %" }, canary), el("label", { text: "Shadow %" }, shadow),
  el("button", { type: "submit", text: `Roll out v${version}`, "data-action": "rollout-start", "data-version": version }));
}

export async function rolloutOf(name) {
  try {
    return await call("GET", `/v1/adapters/${encodeURIComponent(name)}/rollout`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}
