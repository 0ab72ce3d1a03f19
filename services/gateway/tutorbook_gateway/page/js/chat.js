// Chat: ask, watch the answer stream in, see which approach answered and how sure it is, open the cited
// passages, rate the answer. A conversation keeps its session id in session storage.

import { call, streamChat } from "./api.js";
import { append, byId, clear, el, say } from "./dom.js";
import { answerPieces, askAbout, percent, quotedSegments, routeBadge } from "./text.js";

const SESSION_ITEM = "tutorbook.session";

function sessionId() {
  let id = sessionStorage.getItem(SESSION_ITEM);
  if (!id) {
    id = `page-${crypto.randomUUID()}`;
    sessionStorage.setItem(SESSION_ITEM, id);
  }
  return id;
}

export async function loadModels() {
  const select = byId("model-select");
  const listed = await call("GET", "/v1/models");
  const chosen = select.value || "auto";
  clear(select);
  for (const model of listed.data) {
    const details = model.tutorbook || {};
    let label = model.id;
    if (details.kind === "router") label = "auto (the router chooses)";
    else if (details.kind === "base") label = `${model.id} (base model)`;
    else if (details.kind === "adapter") label = `${model.id} (adapter v${details.version}, ${details.task_type})`;
    append(select, el("option", { value: model.id, text: label }));
  }
  select.value = [...select.options].some((option) => option.value === chosen) ? chosen : "auto";
}

function badge(tutorbook) {
  const shown = routeBadge(tutorbook);
  return el(
    "p",
    { className: `badge route-${shown.route.replace("+", "-")}`, "data-route": shown.route },
    el("strong", { text: shown.title }),
    shown.confidence ? el("span", { className: "confidence", text: ` confidence ${shown.confidence}` }) : null,
    shown.reason ? el("span", { className: "reason", text: ` · ${shown.reason}` }) : null,
  );
}

function classificationBars(classification) {
  const rows = [{ label: classification.label, probability: classification.confidence, top: true },
    ...(classification.runners_up || [])];
  const list = el("ul", { className: "bars" });
  rows.forEach((row, index) => {
    const id = `bar-${crypto.randomUUID()}`;
    append(list, el("li", { className: row.top ? "top" : "" },
      el("label", { for: id, text: `${row.label} ${percent(row.probability)}` }),
      el("meter", { id, min: 0, max: 1, value: row.probability, "aria-label": `${row.label} ${index ? "(related)" : ""}` })));
  });
  return el("figure", { className: "classification" },
    el("figcaption", { text: `${classification.label} (confidence ${classification.confidence.toFixed(2)})` }), list);
}

function openPassage(citation, number) {
  byId("passage-title").textContent = `[${number}] ${sourceName(citation)}`;
  byId("passage-source").textContent = `document ${citation.doc_id}`;
  const body = clear(byId("passage-text"));
  for (const segment of quotedSegments(citation.text || citation.snippet || "", citation.quotes)) {
    append(body, segment.quoted ? el("mark", { text: segment.text }) : segment.text);
  }
  byId("passage-dialog").showModal();
}

function citationLink(citations, number, label) {
  const citation = citations[number - 1];
  if (!citation) return document.createTextNode(label);
  return el("a", { href: `#source-${number}`, className: "cite", text: label,
    "aria-label": `source ${number}: ${citation.title || citation.doc_id}`,
    onclick: (event) => { event.preventDefault(); openPassage(citation, number); } });
}

function renderAnswer(node, text, tutorbook) {
  const citations = tutorbook.citations || [];
  const policy = tutorbook.answer_check ? tutorbook.answer_check.policy : null;
  clear(node);
  for (const piece of answerPieces(text, tutorbook.claims, policy)) {
    if (piece.unsupported) append(node, el("mark", { className: "unsupported", text: piece.text }));
    else if (piece.cite) append(node, piece.cite.map((n) => citationLink(citations, n, `[${n}]`)));
    else append(node, piece.text);
  }
}

function sourceName(citation) {
  const parts = [citation.title, citation.section].filter(Boolean);
  return [...new Set(parts)].join(" · ") || citation.doc_id;
}

function citationList(citations) {
  if (!citations || !citations.length) return null;
  return el("ol", { className: "citations", "aria-label": "Sources" }, citations.map((citation, index) =>
    el("li", {}, el("a", { href: `#source-${index + 1}`, className: "cite", text: sourceName(citation),
      onclick: (event) => { event.preventDefault(); openPassage(citation, index + 1); } }),
    citation.quotes && citation.quotes.length ? el("span", { className: "quoted", text: ` (${citation.quotes.length} quoted)` }) : null)));
}

function checkNote(check) {
  if (!check) return null;
  if (!check.checked) return el("p", { className: "check warn", text: "This answer could not be checked against its sources." });
  const notes = [];
  if (check.unsupported && check.policy === "flag") notes.push(`${check.unsupported} sentence(s) marked: not found in the sources`);
  if (check.withheld) notes.push(`${check.withheld} sentence(s) withheld: not found in the sources`);
  if (check.stopped_runaway) notes.push("the answer was stopped where it began to repeat itself");
  if (!notes.length) notes.push(`every sentence was found in the sources (${check.claims} checked)`);
  return el("p", { className: `check ${check.unsupported ? "warn" : "ok"}`, text: `Checked: ${notes.join("; ")}.` });
}

function suggestionButtons(suggestions, question) {
  if (!suggestions || !suggestions.length) return null;
  return el("div", { className: "suggestions", role: "group", "aria-label": "Ask about a closest topic" },
    el("span", { text: "Ask again about: " }),
    suggestions.map((topic) => el("button", { type: "button", className: "suggestion", text: topic,
      onclick: () => ask(askAbout(topic, question)) })));
}

function feedbackButtons(responseId) {
  const status = el("span", { className: "feedback-status", role: "status" });
  const send = async (rating, button) => {
    try {
      await call("POST", "/v1/feedback", { response_id: responseId, rating });
      group.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      status.textContent = rating === "up" ? "Thanks: marked helpful." : "Thanks: marked not helpful.";
    } catch (error) {
      status.textContent = `Feedback not recorded: ${error.message}`;
    }
  };
  const group = el("div", { className: "feedback", role: "group", "aria-label": "Was this answer helpful?" });
  const up = el("button", { type: "button", "aria-pressed": "false", text: "Helpful", onclick: () => send("up", up) });
  const down = el("button", { type: "button", "aria-pressed": "false", text: "Not helpful", onclick: () => send("down", down) });
  return append(group, up, down, status);
}

function chatRequest(question) {
  const request = { model: byId("model-select").value || "auto", messages: [{ role: "user", content: question }],
    tutorbook: { session_id: sessionId() } };
  const policy = byId("policy-select").value;
  if (policy) request.tutorbook.claims_policy = policy;
  return request;
}

let chatCalls = new AbortController();  // the question being answered: a new conversation stops it

async function streamInto(card, text, question) {
  let answer = "";
  let tutorbook = {};
  let responseId = null;
  await streamChat(chatRequest(question), (chunk) => {
    responseId = chunk.id || responseId;
    if (chunk.tutorbook && !tutorbook.route) {
      tutorbook = { ...chunk.tutorbook };
      append(card, badge(tutorbook), text);
      if (tutorbook.classification) append(card, classificationBars(tutorbook.classification));
    } else if (chunk.tutorbook) {
      tutorbook = { ...tutorbook, ...chunk.tutorbook };
    }
    for (const choice of chunk.choices || []) {
      if (choice.delta && choice.delta.content) {
        answer += choice.delta.content;
        text.textContent = answer;
      }
    }
  }, chatCalls.signal);
  renderAnswer(text, answer, tutorbook);
  if (responseId) card.dataset.responseId = responseId;  // support staff can quote it
  append(card, checkNote(tutorbook.answer_check), citationList(tutorbook.citations),
    tutorbook.route === "abstain" ? suggestionButtons(tutorbook.suggestions, question) : null,
    responseId ? feedbackButtons(responseId) : null);
}

let busy = false;  // one question at a time: a second would share the session while the first streams

export async function ask(question) {
  if (busy) return;
  busy = true;
  const status = byId("chat-status");
  const button = byId("ask-button");
  append(byId("messages"), el("div", { className: "message user" }, el("p", { text: question })));
  const card = el("div", { className: "message assistant" });
  const text = el("p", { className: "answer", "aria-busy": "true" });
  append(byId("messages"), card);
  button.disabled = true;
  say(status, "Answering…");
  try {
    await streamInto(card, text, question);
    say(status, "Answer complete.");
  } catch (error) {
    if (error.name === "AbortError") return;
    append(card, el("p", { className: "error", role: "alert", text: error.message }));
    say(status, `The question was not answered: ${error.message}`, "error");
  } finally {
    text.removeAttribute("aria-busy");
    busy = false;
    button.disabled = false;
    card.scrollIntoView({ block: "nearest" });
  }
}

// Forget the conversation shown and its session (a new conversation, or another key in this tab).
export function forgetConversation() {
  chatCalls.abort();
  chatCalls = new AbortController();
  sessionStorage.removeItem(SESSION_ITEM);
  clear(byId("messages"));
}

export function setUpChat() {
  byId("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("question");
    const question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    ask(question);
  });
  byId("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      byId("ask-form").requestSubmit();
    }
  });
  byId("new-conversation").addEventListener("click", () => {
    forgetConversation();
    say(byId("chat-status"), "New conversation started.");
    byId("question").focus();
  });
}
