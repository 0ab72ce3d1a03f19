"""Adapters on the real stack: a tiny adapter trained here in a few steps is uploaded, hot-loaded into the
real vLLM without a restart, served by name and chosen by the router, while chat traffic continues
without a failure; then a new version and a rollback."""

import itertools
import math
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from peft import PeftModel

from tests.conftest import eventually
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TICKET = "Which department should handle this ticket? I was charged twice for my order."


def chat(gateway_url: str, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 12}
    return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=120)


def upload(gateway_url: str, archive: bytes) -> httpx.Response:
    return httpx.post(f"{gateway_url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=120)


def served_as(uploaded: httpx.Response) -> str:
    return str(uploaded.json()["served_name"])


def first_token_logprobs(stack: Stack, model: str) -> dict[str, float]:
    """vLLM's log-probabilities of the first token it would answer a ticket with, asked directly."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "I was charged twice for my order."}],
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 5,
    }
    token = {"Authorization": f"Bearer {stack.config.internal_token}"}
    url = f"{stack.config.url(stack.config.generator_port)}/v1/chat/completions"
    choice = httpx.post(url, json=body, headers=token, timeout=120).json()["choices"][0]
    return {entry["token"]: entry["logprob"] for entry in choice["logprobs"]["content"][0]["top_logprobs"]}


def scored_by_the_training_tools(adapter_folder: Path, question: str) -> dict[str, float]:
    """The training tools' own scores (PEFT, float32) of the adapter's labels for ``question``: in one step
    for a code classifier, every label in full for one trained on whole labels (its card says which)."""
    from transformers import AutoTokenizer

    from tutorbook_adapter_format.card import CARD_FILE, parse_card
    from tutorbook_adapter_format.classification import classifier_messages
    from tutorbook_training.label_scoring import score_codes, score_labels
    from tutorbook_training.model import default_base_model, load_base_model

    card = parse_card((adapter_folder / CARD_FILE).read_bytes())
    model, _ = load_base_model(default_base_model())
    tuned = PeftModel.from_pretrained(model, adapter_folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    messages = classifier_messages(card.labels, question, card.label_codes or None)
    if card.label_codes:
        expected = score_codes(tuned, tokenizer, messages, card.labels, card.label_codes)
    else:
        expected = score_labels(tuned, tokenizer, messages, card.labels)
    return dict(zip(expected.labels, expected.probabilities, strict=True))


def assert_scored_as_by_the_training_tools(served: dict[str, Any], adapter_folder: Path, question: str) -> None:
    """vLLM's scores, through the gateway, match the training tools' own on the same question: the answer
    is the most probable label, and the probabilities are the same ones (to the precision vLLM computes in,
    bfloat16 where the CPU has it: on the tiny adapter trained here, the labels lie close together)."""
    probabilities = scored_by_the_training_tools(adapter_folder, question)
    # vLLM may compute in bfloat16, the tools in float32: the same scores agree within a factor of 2 (an
    # adapter that was not applied, or other tokens scored, are many times further off)
    best = max(probabilities.values())
    assert math.log(probabilities[served["label"]]) >= math.log(best) - math.log(2), (served, probabilities)
    for scored in [{"label": served["label"], "probability": served["confidence"]}, *served["runners_up"]]:
        assert scored["probability"] <= served["confidence"]
        ratio = scored["probability"] / probabilities[scored["label"]]
        assert abs(math.log(ratio)) <= math.log(2), (served, probabilities)


def with_card(folder: Path, target: Path, **changes: Any) -> Path:
    """A copy of an adapter folder whose card says otherwise (its weights the same)."""
    from tutorbook_adapter_format.card import CARD_FILE, encode_card, parse_card

    shutil.copytree(folder, target)
    card = parse_card((folder / CARD_FILE).read_bytes())
    (target / CARD_FILE).write_bytes(encode_card(msgspec.structs.replace(card, **changes)))
    return target


def test_an_upload_is_served_at_once_and_routed_to(
    stack: Stack,
    gateway_url: str,
    sample_knowledge_base: object,
    trained_adapter: bytes,
    trained_adapter_folder: Path,
) -> None:
    try:
        started = time.perf_counter()
        uploaded = upload(gateway_url, trained_adapter)
        assert uploaded.status_code == 201, uploaded.text
        assert all(load["ok"] for load in uploaded.json()["loads"])
        first = chat(gateway_url, "e2e-triage", "I was charged twice for my order.")
        seconds = time.perf_counter() - started
        assert first.status_code == 200, first.text
        print(f"upload to first answer through the new adapter: {seconds:.2f} s")
        answer = first.json()
        assert answer["tutorbook"]["route"] == "adapter" and answer["tutorbook"]["adapter"]["name"] == "e2e-triage"
        question = "I was charged twice for my order."
        assert_scored_as_by_the_training_tools(answer["tutorbook"]["classification"], trained_adapter_folder, question)
        base, tuned = (first_token_logprobs(stack, model) for model in ("smollm2-135m-instruct", served_as(uploaded)))
        shift = max(abs(base[token] - tuned.get(token, -100.0)) for token in base)
        assert shift > 0.05, (base, tuned)  # the LoRA weights are applied: the first token's odds move

        version = uploaded.json()["version"]
        expected = {"route": "adapter", "adapter": {"name": "e2e-triage", "version": version}}

        tries = itertools.count()

        def routed_to_it() -> bool:  # once the catalogue is re-read (once a second on every replica)
            routed = chat(gateway_url, "auto", f"{TICKET} (ticket {next(tries)})").json()["tutorbook"]
            return {key: routed[key] for key in expected} == expected

        eventually(routed_to_it, 30, "auto routing to the new adapter")
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def vllm_answered(stack: Stack) -> float:
    """Requests vLLM finished (its own counter)."""
    metrics = httpx.get(f"{stack.config.url(stack.config.generator_port)}/metrics", timeout=10).text
    pattern = r"^vllm:request_success_total\{[^}]*\} (\S+)$"
    return sum(float(value) for value in re.findall(pattern, metrics, re.M))


def test_chat_never_fails_during_uploads_hot_loads_and_rollbacks(
    stack: Stack, gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    """Traffic to the base model and to the adapter, every request new (so each reaches vLLM, never the
    cache), while a new version is uploaded and hot-loaded and then rolled back: not one failure, and
    answers from both versions in turn."""
    failures: list[str] = []
    versions: list[int] = []  # the adapter version of each adapter answer, in order
    misses = {"adapter": 0, "base": 0}
    stop = threading.Event()
    serial = itertools.count()

    def background_traffic(model: str, kind: str) -> None:
        while not stop.is_set():
            response = chat(gateway_url, model, f"I was charged twice for order {next(serial)}.")
            if response.status_code != 200:
                failures.append(f"{model}: {response.text}")
                continue
            misses[kind] += response.headers.get("x-tutorbook-cache") == "miss"
            if kind == "adapter":
                versions.append(response.json()["tutorbook"]["adapter"]["version"])

    first = upload(gateway_url, trained_adapter)
    assert first.status_code == 201
    version = first.json()["version"]
    threads = [
        threading.Thread(target=background_traffic, args=("smollm2-135m-instruct", "base")),
        threading.Thread(target=background_traffic, args=("e2e-triage", "adapter")),
    ]
    vllm_before = vllm_answered(stack)
    for thread in threads:
        thread.start()
    try:
        again = upload(gateway_url, trained_adapter)
        assert again.status_code == 201 and again.json()["version"] == version + 1
        eventually(lambda: version + 1 in versions[-1:], 120, "answers from the new version")
        back = httpx.post(
            f"{gateway_url}/v1/adapters/e2e-triage/activate", json={"version": version}, headers=ADMIN, timeout=120
        )
        assert back.status_code == 200 and back.json()["active_version"] == version
        eventually(lambda: version in versions[-1:], 120, "answers from the version rolled back to")
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
    assert not failures, failures[:3]
    assert misses["adapter"] == len(versions) and misses["base"] > 0  # every answer was generated now
    assert vllm_answered(stack) - vllm_before >= misses["adapter"] + misses["base"]
    swaps = [pair for pair in itertools.pairwise(versions) if pair[0] != pair[1]]
    assert (version + 1, version) in swaps, versions


def test_a_deleted_names_next_upload_is_new_to_the_cache(gateway_url: str, trained_adapter: bytes) -> None:
    """The same deterministic question to an adapter: answered, then from the cache; the adapter is deleted
    and an adapter uploaded under the same name: its answer is its own, never the cached one."""
    question = "I was charged twice for my order."
    try:
        first = upload(gateway_url, trained_adapter).json()["version"]
        assert chat(gateway_url, "e2e-triage", question).headers["x-tutorbook-cache"] == "miss"
        assert chat(gateway_url, "e2e-triage", question).headers["x-tutorbook-cache"] == "hit"
        assert httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60).status_code == 200
        second = upload(gateway_url, trained_adapter).json()["version"]
        assert second > first  # numbers are never given twice
        answer = chat(gateway_url, "e2e-triage", question)
        assert answer.headers["x-tutorbook-cache"] == "miss"
        assert answer.json()["tutorbook"]["adapter"] == {"name": "e2e-triage", "version": second}
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_a_classifier_among_24_labels_answers_in_one_pass_and_one_trained_on_labels_as_the_reference(
    stack: Stack, gateway_url: str, trained_adapter_folder: Path, tmp_path: Path
) -> None:
    """The demo adapter's weights under a card of 24 labels, answered by code: vLLM gets one request, and
    the answer's probabilities, over all 24 labels, are the training tools' own. The same weights under a
    card without codes are scored the reference way, every label's full sequence, one prompt each."""
    from tutorbook_training.upload import pack

    labels = ["account", "billing", "returns", "shipping", "technical"] + [f"topic-{n:02d}" for n in range(19)]
    codes = [chr(ord("A") + n) for n in range(24)]
    coded = with_card(trained_adapter_folder, tmp_path / "coded", name="e2e-intents", labels=labels, label_codes=codes)
    whole = with_card(trained_adapter_folder, tmp_path / "whole", name="e2e-whole-labels", label_codes=[])
    question = "The package never came and I want my money back."
    try:
        for folder in (coded, whole):
            assert upload(gateway_url, pack(folder)).status_code == 201
        before = vllm_answered(stack)
        answer = chat(gateway_url, "e2e-intents", question).json()
        assert vllm_answered(stack) - before == 1  # one pass, whatever the number of labels
        served = answer["tutorbook"]["classification"]
        assert served["label"] in labels and answer["usage"]["completion_tokens"] == 1
        assert_scored_as_by_the_training_tools(served, coded, question)
        before = vllm_answered(stack)
        reference = chat(gateway_url, "e2e-whole-labels", question).json()["tutorbook"]["classification"]
        assert vllm_answered(stack) - before == 5  # one prompt per label
        assert_scored_as_by_the_training_tools(reference, whole, question)
    finally:
        for name in ("e2e-intents", "e2e-whole-labels"):
            httpx.delete(f"{gateway_url}/v1/adapters/{name}", headers=ADMIN, timeout=60)
