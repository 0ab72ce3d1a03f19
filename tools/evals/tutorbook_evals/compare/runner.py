"""Sending a path's requests through the running gateway, one at a time (so latency is the path's own),
and reading what came back: the answer, its route, label and confidence, citations, latency and tokens."""

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tqdm import tqdm

from tutorbook_evals.compare.paths import PathRequest

RETRIES = 5  # a 429 or 503 is waited out (Retry-After) this many times before it counts as an error
LONGEST_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Observation:
    answer: str
    route: str | None
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    label: str | None = None  # a classifier adapter's label
    confidence: float | None = None
    citations: list[str] = field(default_factory=list)  # cited document ids, in order
    cache: str | None = None
    error: str | None = None


def observed(response: httpx.Response, latency_ms: float) -> Observation:
    if response.status_code != 200:
        return Observation("", None, latency_ms, 0, 0, error=f"HTTP {response.status_code}: {response.text[:200]}")
    body: dict[str, Any] = response.json()
    block = body.get("tutorbook") or {}
    usage = body.get("usage") or {}
    classification = block.get("classification") or {}
    return Observation(
        answer=body["choices"][0]["message"]["content"] or "",
        route=block.get("route"),
        latency_ms=latency_ms,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        label=classification.get("label"),
        confidence=classification.get("confidence"),
        citations=[str(citation.get("doc_id")) for citation in block.get("citations") or []],
        cache=response.headers.get("x-tutorbook-cache"),
    )


def ask(client: httpx.Client, body: dict[str, Any]) -> Observation:
    for _ in range(RETRIES):
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", json=body)
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code not in (429, 503):
            return observed(response, latency_ms)
        wait = float(response.headers.get("retry-after") or 1)
        time.sleep(min(wait, LONGEST_WAIT_SECONDS))
    return observed(response, latency_ms)


def run_path(client: httpx.Client, path: PathRequest, texts: list[str], title: str) -> list[Observation]:
    return [ask(client, path.body(text)) for text in tqdm(texts, desc=title, unit="request", file=sys.stderr)]


def gateway_client(url: str, key: str, timeout_seconds: float = 300.0) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout_seconds)
