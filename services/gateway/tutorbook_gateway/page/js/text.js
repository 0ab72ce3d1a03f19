// Pure functions over answers and passages (no DOM, no network): tested in the browser suite.

export const ROUTE_TITLES = {
  rag: "RAG",
  adapter: "Adapter",
  "adapter+rag": "Adapter + RAG",
  prompt: "Prompt",
  abstain: "Not sure",
};

const CITATION = /\[(\d+(?:\s*[,\u2013-]\s*\d+)*)\]/g;

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

// The citation numbers a mark names: "[2]" -> [2], "[1, 3]" -> [1, 3], "[1-3]" -> [1, 2, 3].
export function citationNumbers(mark) {
  const numbers = [];
  for (const part of mark.replace(/[[\]]/g, "").split(",")) {
    const [low, high] = part.split(/[\u2013-]/).map((n) => parseInt(n, 10));
    for (let n = low; n <= (Number.isNaN(high) || high === undefined ? low : Math.min(high, low + 20)); n++) {
      numbers.push(n);
    }
  }
  return numbers;
}

// The answer as pieces: plain text, citation marks ({cite: [numbers]}) and the sentences the claim check
// did not find in the sources ({unsupported: true}).
// Under the flag policy the gateway wrote each such sentence without its marks and followed by
// UNSUPPORTED_MARK; under the others it is no longer in the answer.
export const UNSUPPORTED_MARK = "(not found in the sources)";

export function answerSegments(answer, claims) {
  const marked = [];
  for (const claim of claims || []) {
    if (claim.supported || !claim.text) continue;
    const core = sentenceCore(claim.text);
    const start = core ? answer.indexOf(core) : -1;
    if (start < 0) continue;
    let end = start + core.length;
    const rest = answer.slice(end).match(/^\s*(\(not found in the sources\))?[.!?]?/);
    end += rest ? rest[0].length : 0;
    marked.push([start, end]);
  }
  marked.sort((a, b) => a[0] - b[0]);
  const pieces = [];
  let at = 0;
  for (const [start, end] of marked) {
    if (start < at) continue;
    pieces.push(...citedPieces(answer.slice(at, start), false));
    pieces.push(...citedPieces(answer.slice(start, end), true));
    at = end;
  }
  pieces.push(...citedPieces(answer.slice(at), false));
  return pieces.filter((piece) => piece.cite || piece.text);
}

function sentenceCore(sentence) {
  return sentence.replace(CITATION, "").replace(/\s+/g, " ").trim().replace(/[.!?]$/, "").trim();
}

// A supported sentence the model wrote without a mark gets the mark of the passage the check found it in
// (a streamed answer under the flag policy is shown as the model wrote it, then linked to its sources).
export function withFoundCitations(answer, claims) {
  const inserts = [];
  for (const claim of claims || []) {
    if (!claim.supported || claim.citation == null || !claim.text || claim.text.match(CITATION)) continue;
    const core = sentenceCore(claim.text);
    const start = core ? answer.indexOf(core) : -1;
    if (start >= 0) inserts.push([start + core.length, ` [${claim.citation + 1}]`]);
  }
  inserts.sort((a, b) => b[0] - a[0]);
  let text = answer;
  for (const [at, mark] of inserts) text = text.slice(0, at) + mark + text.slice(at);
  return text;
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
  return pieces;
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
