"""``tutorbook-eval-adapter ADAPTER_DIR HELDOUT.jsonl --shots-from TRAIN.jsonl``: score an adapter on a
held-out file against few-shot prompting of its base model on the same examples, and write both scores
into the adapter's card (the question Tutorbook exists to answer: when does fine-tuning beat prompting?).

Classifiers are scored as the gateway serves them (:mod:`tutorbook_training.label_scoring`): one that
answers with label codes in one step, each code's first token; one trained on whole labels by every
label's full token sequence; both normalised over the label set: accuracy, and the expected calibration
error of the confidence. A code classifier is scored the reference way too, every code's full sequence
(``reference`` in the report and the card). Generative adapters: the mean token F1 of the answer
against the reference. An embedding classifier (``--kind embedding-classifier``) is scored on the
retriever's embeddings, beside the same few-shot prompting.
"""

import argparse
import hashlib
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from tutorbook_adapter_format.card import CARD_FILE, encode_card, parse_card
from tutorbook_training.data import Dataset, Example, load_dataset, with_labels
from tutorbook_training.embedding_classifier import score_on
from tutorbook_training.label_scoring import LabelDistribution, expected_calibration_error, score_codes, score_labels
from tutorbook_training.model import default_base_model, load_base_model


@dataclass(frozen=True)
class PathScore:
    quality: float
    calibration_error: float | None = None  # classifiers: expected calibration error of the confidence


@dataclass(frozen=True)
class Scores:
    adapter: PathScore
    few_shot: PathScore
    examples: int
    shots: int
    metric: str
    reference: PathScore | None = None  # a code classifier scored by every code's full sequence


Scorer = Callable[[Any, Any, list[dict[str, str]], Dataset], LabelDistribution]


def whole_answers(model: Any, tokenizer: Any, messages: list[dict[str, str]], dataset: Dataset) -> LabelDistribution:
    return score_labels(model, tokenizer, messages, dataset.labels, dataset.codes or None)


def one_step(model: Any, tokenizer: Any, messages: list[dict[str, str]], dataset: Dataset) -> LabelDistribution:
    return score_codes(model, tokenizer, messages, dataset.labels, dataset.codes)


def few_shot_messages(example: Example, shots: list[Example]) -> list[dict[str, str]]:
    """The same system prompt, then solved examples as earlier turns, then the question."""
    system = [message for message in example.messages if message["role"] == "system"]
    turns = [
        turn
        for shot in shots
        for turn in (
            {"role": "user", "content": shot.messages[-1]["content"]},
            {"role": "assistant", "content": shot.answer},
        )
    ]
    return [*system, *turns, example.messages[-1]]


def pick_shots(pool: Dataset, per_label: int, total: int, seed: int) -> list[Example]:
    """For classifiers, ``per_label`` examples of every label; otherwise ``total`` examples."""
    rng = random.Random(seed)
    if pool.task_type == "classifier":
        chosen = []
        for label in pool.labels:
            candidates = [example for example in pool.examples if example.label == label]
            chosen += rng.sample(candidates, min(per_label, len(candidates)))
        rng.shuffle(chosen)
        return chosen
    return rng.sample(pool.examples, min(total, len(pool.examples)))


def token_f1(answer: str, reference: str) -> float:
    got, want = answer.lower().split(), reference.lower().split()
    common = sum(min(got.count(word), want.count(word)) for word in set(got))
    if not got or not want or not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


GENERATIVE_MAX_TOKENS = 128


def generate(model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    text: str = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return text


def score(
    examples: list[Example], messages: Callable[[Example], list[dict[str, str]]], model: Any, tokenizer: Any,
    dataset: Dataset, description: str, scorer: Scorer = whole_answers,
) -> PathScore:  # fmt: skip
    """Classifiers: accuracy and calibration of the label scores; otherwise the mean token F1."""
    confidences, correct, total = [], [], 0.0
    for example in tqdm(examples, desc=description, unit="example", file=sys.stderr):
        if dataset.task_type == "classifier":
            label, confidence = scorer(model, tokenizer, messages(example), dataset).best
            confidences.append(confidence)
            correct.append(label == example.label)
        else:
            total += token_f1(generate(model, tokenizer, messages(example), GENERATIVE_MAX_TOKENS), example.answer)
    if dataset.task_type == "classifier":
        return PathScore(sum(correct) / len(correct), expected_calibration_error(confidences, correct))
    return PathScore(total / len(examples))


def evaluate(adapter_dir: Path, heldout: Dataset, shots: list[Example], base_model: Path) -> Scores:
    model, tokenizer = load_base_model(base_model)
    model.eval()
    few_shot = score(
        heldout.examples, lambda example: few_shot_messages(example, shots), model, tokenizer, heldout,
        "few-shot prompting",
    )  # fmt: skip
    metric = "accuracy" if heldout.task_type == "classifier" else "token_f1"
    card = parse_card((adapter_dir / CARD_FILE).read_bytes())
    if card.kind == "embedding_classifier":
        adapter = PathScore(*score_on(adapter_dir, heldout))  # no language model: the retriever's embeddings
        return Scores(adapter, few_shot, len(heldout.examples), len(shots), metric)
    adapter, reference = adapter_scores(model, tokenizer, adapter_dir, heldout)
    return Scores(adapter, few_shot, len(heldout.examples), len(shots), metric, reference)


def adapter_scores(
    model: Any, tokenizer: Any, adapter_dir: Path, heldout: Dataset
) -> tuple[PathScore, PathScore | None]:
    """The LoRA adapter's score as served and, for a code classifier, the reference way (every code in
    full), with the held-out data prompted as its card says (its labels in its order, its codes)."""
    from peft import PeftModel

    card = parse_card((adapter_dir / CARD_FILE).read_bytes())
    tuned = PeftModel.from_pretrained(model, adapter_dir)
    tuned.eval()
    served = with_labels(heldout, card.labels, card.label_codes) if card.labels else heldout
    if not served.codes:
        return score(served.examples, lambda e: e.messages, tuned, tokenizer, served, "adapter"), None
    adapter = score(served.examples, lambda e: e.messages, tuned, tokenizer, served, "adapter, one step", one_step)
    reference = score(served.examples, lambda e: e.messages, tuned, tokenizer, served, "adapter, reference")
    return adapter, reference


def record(adapter_dir: Path, scores: Scores, heldout_path: Path) -> None:
    card_path = adapter_dir / CARD_FILE
    card = parse_card(card_path.read_bytes())
    card.eval.update(
        metric=scores.metric,
        adapter_accuracy=round(scores.adapter.quality, 4),
        few_shot_accuracy=round(scores.few_shot.quality, 4),
        examples=scores.examples,
        shots=scores.shots,
        heldout_sha256=hashlib.sha256(heldout_path.read_bytes()).hexdigest(),
    )
    if scores.adapter.calibration_error is not None and scores.few_shot.calibration_error is not None:
        card.eval.update(
            adapter_calibration_error=round(scores.adapter.calibration_error, 4),
            few_shot_calibration_error=round(scores.few_shot.calibration_error, 4),
        )
    if scores.reference is not None and scores.reference.calibration_error is not None:
        card.eval.update(
            reference_accuracy=round(scores.reference.quality, 4),
            reference_calibration_error=round(scores.reference.calibration_error, 4),
        )
    card_path.write_bytes(encode_card(card))


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-adapter", description=__doc__)
    parser.add_argument("adapter", type=Path, help="the adapter folder (written by tutorbook-train-adapter)")
    parser.add_argument("heldout", type=Path, help="held-out JSONL in the training format")
    parser.add_argument("--shots-from", type=Path, required=True, help="JSONL the few-shot examples come from")
    parser.add_argument("--shots-per-label", type=int, default=1, help="classifiers: solved examples per label")
    parser.add_argument("--shots", type=int, default=4, help="generative adapters: solved examples")
    parser.add_argument("--limit", type=int, help="score only the first N held-out examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-model", type=Path)
    args = parser.parse_args()
    heldout = load_dataset(args.heldout)
    if args.limit:
        rng = random.Random(args.seed)
        heldout = Dataset(heldout.task_type, rng.sample(heldout.examples, min(args.limit, len(heldout.examples))),
                          heldout.labels, heldout.sha256)  # fmt: skip
    shots = pick_shots(load_dataset(args.shots_from), args.shots_per_label, args.shots, args.seed)
    scores = evaluate(args.adapter, heldout, shots, args.base_model or default_base_model())
    record(args.adapter, scores, args.heldout)
    print(f"{scores.examples} held-out examples, {scores.metric}:")
    paths = [("adapter", scores.adapter), (f"few-shot prompting ({scores.shots} shots)", scores.few_shot)]
    if scores.reference is not None:
        paths[0] = ("adapter, one step (served)", scores.adapter)
        paths.insert(1, ("adapter, every code in full", scores.reference))
    for name, path in paths:
        calibration = "" if path.calibration_error is None else f" (calibration error {path.calibration_error:.3f})"
        print(f"  {name:<28} {path.quality:.3f}{calibration}")
    print(f"scores written to {args.adapter / CARD_FILE}")


if __name__ == "__main__":
    main()
