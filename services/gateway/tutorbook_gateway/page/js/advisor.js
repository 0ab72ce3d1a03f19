// The approach advisor: the questionnaire as a form, the recommendation with its reasons, and the
// measured comparison (a table, bars and the comparison's own plots) when one exists for the dataset.

import { blobUrl, call } from "./api.js";
import { append, byId, clear, el, say } from "./dom.js";
import { percent } from "./text.js";

let plotsByDataset = {};
let plotUrls = [];  // blob URLs of the plots shown, released when they are replaced

export function forgetAdvice() {
  for (const url of plotUrls) URL.revokeObjectURL(url);
  plotUrls = [];
  clear(byId("advisor-result"));
  say(byId("advisor-status"), "");
}

function questionFieldset(question) {
  const hint = `why-${question.id}`;
  return el("fieldset", { className: "question", "aria-describedby": hint },
    el("legend", { text: question.question }),
    question.answers.map((answer, index) => {
      const id = `q-${question.id}-${answer.value}`;
      return el("div", { className: "choice" },
        el("input", { type: "radio", id, name: question.id, value: answer.value, required: index === 0 }),
        el("label", { for: id, text: answer.label }));
    }),
    el("p", { id: hint, className: "why", text: question.why }));
}

export async function loadAdvisor() {
  const [questionnaire, comparisons] = await Promise.all([
    call("GET", "/v1/advisor"),
    call("GET", "/v1/advisor/comparisons"),
  ]);
  append(clear(byId("advisor-questions")), questionnaire.questions.map(questionFieldset));
  const datasets = clear(byId("advisor-dataset"));
  append(datasets, el("option", { value: "", text: "none" }));
  plotsByDataset = {};
  for (const comparison of comparisons.data) {
    plotsByDataset[comparison.dataset] = comparison.plots;
    append(datasets, el("option", { value: comparison.dataset, text: comparison.dataset }));
  }
}

function answersOf(form) {
  const answers = {};
  for (const input of form.querySelectorAll("input[type=radio]:checked")) answers[input.name] = input.value;
  return answers;
}

function qualityBars(measured) {
  const best = measured.best_path;
  return el("ul", { className: "bars" }, measured.paths.map((path) => {
    const id = `path-${path.path}`;
    const cost = path.prompt_tokens != null ? `, ${Math.round(path.prompt_tokens)} prompt tokens` : "";
    const speed = path.p50_ms != null ? `, p50 ${Math.round(path.p50_ms)} ms` : "";
    return el("li", { className: path.path === best ? "top" : "" },
      el("label", { for: id, text: `${path.path.replace(/_/g, "-")}: ${measured.metric} ${percent(path.quality)}${cost}${speed}` }),
      el("meter", { id, min: 0, max: 1, value: path.quality }));
  }));
}

async function plots(dataset) {
  const figures = el("div", { className: "plots" });
  for (const plot of plotsByDataset[dataset] || []) {
    try {
      const src = await blobUrl(`/v1/advisor/comparisons/${encodeURIComponent(dataset)}/${encodeURIComponent(plot.file)}`);
      plotUrls.push(src);
      append(figures, el("figure", {}, el("img", { src, alt: plot.title }), el("figcaption", { text: plot.title })));
    } catch (error) {
      append(figures, el("p", { className: "error", text: `${plot.title}: ${error.message}` }));
    }
  }
  return figures;
}

async function measuredSection(advice, dataset) {
  if (!advice.measured) {
    return advice.measured_note ? el("p", { className: "note", text: advice.measured_note }) : null;
  }
  const measured = advice.measured;
  return el("section", { className: "measured", "aria-label": "Measured comparison" },
    el("h4", { text: `Measured on ${measured.dataset}: ${measured.verdict}` }),
    el("p", { text: measured.reason }),
    qualityBars(measured),
    await plots(dataset));
}

async function showAdvice(advice, dataset) {
  forgetAdvice();
  const result = byId("advisor-result");
  append(result,
    el("h3", { className: "recommendation", text: `Recommended: ${advice.title}` }),
    el("p", { className: "next-step", text: advice.next_step }),
    el("ul", { className: "reasons" }, advice.reasons.map((reason) => el("li", { text: reason.text }))),
    await measuredSection(advice, dataset));
  result.focus();
}

export function setUpAdvisor() {
  byId("advisor-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = byId("advisor-status");
    const dataset = byId("advisor-dataset").value;
    try {
      say(status, "Thinking…");
      const advice = await call("POST", "/v1/advisor", { answers: answersOf(event.target), ...(dataset ? { dataset } : {}) });
      await showAdvice(advice, dataset);
      say(status, `Recommendation: ${advice.title}.`);
    } catch (error) {
      say(status, error.message, "error");
    }
  });
}
