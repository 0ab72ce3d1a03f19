// Pure functions over answers and passages (no DOM, no network): tested in the browser suite.

export const ROUTE_TITLES = {
  rag: "RAG",
  adapter: "Adapter",
  "adapter+rag": "Adapter + RAG",
  prompt: "Prompt",
  abstain: "Not sure",
};

// Citation marks as the gateway reads them (CITATION_MARK in tutorbook_grounding.sentences).
const CITATION = /\[\s*([0-9]{1,2}(?:\s*[,\u2013-]\s*[0-9]{1,2})*)\s*\]/g;
const CITATION_WITH_SPACE = /\s*\[\s*([0-9]{1,2}(?:\s*[,\u2013-]\s*[0-9]{1,2})*)\s*\]/g;
// How the gateway marks an unsupported sentence under the flag policy (UNSUPPORTED_MARK in policy.py).
export const UNSUPPORTED_MARK = "(not found in the sources)";

// Server-sent events: feed it text as it arrives, get back each complete event's data.
export class EventStreamReader {
  constructor() {
    this.buffer = "";
  }

  feed(text) {
    this.buffer += text.replace(/\r\n?/g, "\n");
    const events = [];
    let end;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""));
      if (data.length) events.push(data.join("\n"));
    }
    return events;
  }
}

export function squash(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

// The passage with its whitespace squashed, and where each squashed character came from.
function squashedWithOrigins(text) {
  let squashed = "";
  const origins = [];
  for (let i = 0; i < text.length; i++) {
    const space = /\s/.test(text[i]);
    if (space && (!squashed || squashed.endsWith(" "))) continue;
    squashed += space ? " " : text[i];
    origins.push(i);
  }
  return { squashed, origins };
}

// The passage as pieces, the quoted spans marked: [{text, quoted}]. Quotes are found with whitespace read
// loosely; the passage keeps its own line breaks.
export function quotedSegments(passage, quotes) {
  const text = String(passage);
  const { squashed, origins } = squashedWithOrigins(text);
  const spans = [];
  for (const quote of quotes || []) {
    const wanted = squash(quote);
    const start = wanted ? squashed.indexOf(wanted) : -1;
    if (start >= 0) spans.push([origins[start], origins[start + wanted.length - 1] + 1]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const segments = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (end <= at) continue;
    if (start > at) segments.push({ text: text.slice(at, start), quoted: false });
    segments.push({ text: text.slice(Math.max(start, at), end), quoted: true });
    at = end;
  }
  if (at < text.length) segments.push({ text: text.slice(at), quoted: false });
  return segments;
}

// The source numbers a mark names, as the gateway reads them (tutorbook_grounding.sentences):
// "[2]" -> [2], "[1, 3]" -> [1, 3], "[1-3]" -> [1, 2, 3]; a backwards range ("[3-1]") names none.
export function citationNumbers(mark) {
  const numbers = [];
  for (const part of mark.replace(/[[\]\s]/g, "").split(",")) {
    const ends = part.split(/[\u2013-]/).map((n) => parseInt(n, 10));
    for (let n = ends[0]; n <= ends[ends.length - 1]; n++) numbers.push(n);  // at most 99: two digits
  }
  return numbers;
}

function citedNumbersOf(sentence) {
  return [...sentence.matchAll(CITATION)].flatMap((match) => citationNumbers(match[0]));
}

function withoutCitations(sentence) {
  return sentence.replace(CITATION_WITH_SPACE, "").trim();
}

function citesAsWritten(claim) {
  return claim.citation == null || citedNumbersOf(claim.text).includes(claim.citation + 1);
}

// A supported sentence citing the passage that supports it (the gateway's as_cited).
function asCited(claim) {
  if (claim.citation == null || citesAsWritten(claim)) return claim.text;
  const text = withoutCitations(claim.text);
  const end = /[.!?]$/.test(text) ? text.slice(-1) : "";
  return `${text.slice(0, text.length - end.length)} [${claim.citation + 1}]${end}`;
}

// An unsupported sentence, its marks dropped and the mark the gateway gives it added (flagged()).
function flagged(sentence) {
  const text = withoutCitations(sentence);
  const end = /[.!?]$/.test(text) ? text.slice(-1) : ".";
  return `${text.replace(/[.!?]$/, "")} ${UNSUPPORTED_MARK}${end}`;
}

// The answer as pieces to show: text, citation marks ({cite: [numbers]}) and unsupported sentences
// ({unsupported: true}). Under the flag policy it is what the gateway's apply_policy writes, from the
// claims: a streamed answer arrives as the model wrote it, its claims last. Under the other policies the
// gateway already wrote the final text (what was withheld is not in it).
export function answerPieces(answer, claims, policy) {
  const checked = Array.isArray(claims) && claims.length && claims.every((claim) => typeof claim.text === "string");
  if (policy !== "flag" || !checked || claims.every((claim) => claim.supported && citesAsWritten(claim))) {
    return citedPieces(answer, false);
  }
  const pieces = [];
  claims.forEach((claim, index) => {
    if (index) pieces.push({ text: " ", unsupported: false });
    if (claim.supported) pieces.push(...citedPieces(asCited(claim), false));
    else pieces.push({ text: flagged(claim.text), unsupported: true });
  });
  return pieces.filter((piece) => piece.cite || piece.text);
}

function citedPieces(text, unsupported) {
  const pieces = [];
  let at = 0;
  for (const match of text.matchAll(CITATION)) {
    pieces.push({ text: text.slice(at, match.index), unsupported });
    pieces.push({ text: match[0], cite: citationNumbers(match[0]), unsupported });
    at = match.index + match[0].length;
  }
  pieces.push({ text: text.slice(at), unsupported });
  return pieces.filter((piece) => piece.cite || piece.text);
}

export function percent(value) {
  return `${Math.round(Number(value) * 100)}%`;
}

// What the route badge says: the route, how sure the router was, and why.
export function routeBadge(tutorbook) {
  const route = tutorbook.route || "prompt";
  const adapter = tutorbook.adapter ? ` (${tutorbook.adapter.name} v${tutorbook.adapter.version})` : "";
  return {
    route,
    title: (ROUTE_TITLES[route] || route) + adapter,
    confidence: typeof tutorbook.confidence === "number" ? percent(tutorbook.confidence) : "",
    reason: tutorbook.reason || "",
  };
}

// A question asked again about a suggested topic.
export function askAbout(topic, question) {
  return `About ${topic}: ${question}`;
}

export function errorMessage(status, body) {
  const error = body && body.error;
  const message = error && error.message ? error.message : `the gateway answered HTTP ${status}`;
  return error && error.param ? `${message} (${error.param})` : message;
}
