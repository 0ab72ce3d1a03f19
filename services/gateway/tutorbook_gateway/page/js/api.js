// The gateway's API, with the key from session storage. The key goes in the Authorization header only:
// never in a URL, a cookie or local storage.

import { errorMessage, EventStreamReader } from "./text.js";

const KEY_ITEM = "tutorbook.key";

export class ApiError extends Error {
  constructor(status, body) {
    super(errorMessage(status, body));
    this.status = status;
    this.body = body;
  }
}

export const keys = {
  get: () => sessionStorage.getItem(KEY_ITEM),
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  forget: () => sessionStorage.removeItem(KEY_ITEM),
};

// Every call in flight, so that forgetting the key (or starting a new conversation) stops them all.
let calls = new AbortController();

export function abortCalls() {
  calls.abort();
  calls = new AbortController();
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${keys.get() || ""}`, ...extra };
}

async function bodyOf(response) {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { error: { message: text.slice(0, 300) || `HTTP ${response.status}` } };
  }
}

export async function call(method, path, body) {
  const init = { method, signal: calls.signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const parsed = await bodyOf(response);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export async function blobUrl(path) {
  const response = await fetch(path, { headers: headers(), signal: calls.signal });
  if (!response.ok) throw new ApiError(response.status, await bodyOf(response));
  return URL.createObjectURL(await response.blob());
}

// A streamed chat completion: onChunk gets each parsed chunk; resolves with the response headers once the
// stream says [DONE]. An error event, or a stream that ends without [DONE], is an error. ``signal`` stops
// it (a new conversation); forgetting the key stops it too.
export async function streamChat(request, onChunk, signal) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    signal: AbortSignal.any([calls.signal, signal]),
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ ...request, stream: true }),
  });
  if (!response.ok) throw new ApiError(response.status, await bodyOf(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const events = new EventStreamReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new ApiError(502, { error: { message: "the answer stopped before its end" } });
      for (const data of events.feed(value)) {
        if (data === "[DONE]") return response.headers;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(502, chunk);
        onChunk(chunk);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// An upload with progress (fetch cannot report an upload's progress; XMLHttpRequest can).
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", headers().Authorization);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = { error: { message: request.responseText.slice(0, 300) } };
      }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new ApiError(request.status, body));
    });
    const failed = (message) => () => reject(new ApiError(0, { error: { message } }));
    request.addEventListener("error", failed("the upload did not reach the gateway"));
    request.addEventListener("abort", failed("the upload was stopped"));
    calls.signal.addEventListener("abort", () => request.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}
