"""What the answer evaluation reports: correctness against the references (token F1, containment, yes/no),
runaway answers, and, against hand labels (each for one exact answer text: ``labels.py``), how many wrong
answers each claims policy catches and how many right ones it wrongly changes."""

from collections.abc import Sequence
from typing import Any

from tutorbook_evals.compare.metrics import contains_reference, mean, percentile, token_f1, yes_no_correct
from tutorbook_grounding.policy import NOT_SURE, ClaimsPolicy, apply_policy, cites_as_written
from tutorbook_grounding.sentences import normalised, split_sentences
from tutorbook_grounding.support import Claim, Passage


def repeats_a_sentence(answer: str) -> bool:
    sentences = [normalised(sentence) for sentence in split_sentences(answer)]
    return len(sentences) != len(set(sentences))


def generated_answer(record: dict[str, Any]) -> str:
    """The answer as the model wrote it, before the claims policy: what the labels record and what a label
    is matched to. The recorded answer when the policy left it as written (no claims; under ``flag`` or
    ``withhold``, every claim supported and citing as written); otherwise its claims' sentences joined by
    a space (``flag``, which ``make eval-answers`` asks for, marks unsupported sentences "(not found in the
    sources)", and the recorded answer carries the marks). An answer recorded under ``withhold`` or
    ``quote`` that lost a sentence cannot be rebuilt (its withheld claims carry no text): the recorded
    answer is returned, and no label for the text as generated will match it."""
    claims = record.get("claims")
    if not claims or any(claim.get("text") is None for claim in claims):
        return str(record["answer"])
    parsed = [Claim.from_dict(claim) for claim in claims]
    policy = (record.get("answer_check") or {}).get("policy")
    if policy != ClaimsPolicy.QUOTE and all(claim.supported and cites_as_written(claim) for claim in parsed):
        return str(record["answer"])
    return " ".join(claim.text for claim in parsed)


def policy_text(record: dict[str, Any], policy: ClaimsPolicy) -> str:
    """What the answer would have said under the policy, from the claims the gateway returned (answers
    were asked for under ``flag``; the gateway applies the same function)."""
    claims = record.get("claims")
    if not claims:
        return str(record["answer"])
    parsed = [Claim.from_dict(claim) for claim in claims]
    passages = [
        Passage(f"{c.get('title', '')} > {c.get('section', '')}", c.get("snippet", "")) for c in record["citations"]
    ]
    return apply_policy(generated_answer(record), parsed, passages, policy)


def correctness(records: Sequence[dict[str, Any]], text_of: Any = lambda r: r["answer"]) -> dict[str, Any]:
    """Token F1, containment and yes/no correctness over the answers that have a reference."""
    referenced = [r for r in records if r.get("reference")]
    yes_no = [ok for r in referenced if (ok := yes_no_correct(text_of(r), r["reference"])) is not None]
    return {
        "answers": len(referenced),
        "token_f1": round(mean([token_f1(text_of(r), r["reference"]) for r in referenced]), 3),
        "containment": round(mean([float(contains_reference(text_of(r), r["reference"])) for r in referenced]), 3),
        "yes_no_questions": len(yes_no),
        "yes_no_correct": round(mean([float(ok) for ok in yes_no]), 3) if yes_no else None,
    }


def behaviour(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Routes, runaway answers and latency, for every answer asked."""
    routes: dict[str, int] = {}
    for record in records:
        routes[str(record.get("route"))] = routes.get(str(record.get("route")), 0) + 1
    latency = [float(r["latency_ms"]) for r in records if not r.get("error")]
    checks = [r["answer_check"] for r in records if r.get("answer_check")]
    return {
        "asked": len(records),
        "errors": sum(bool(r.get("error")) for r in records),
        "routes": routes,
        "hit_token_limit": sum(r.get("finish_reason") == "length" for r in records),
        "repeat_a_sentence": sum(repeats_a_sentence(str(r["answer"])) for r in records),
        "stopped_runaway": sum(bool(c.get("stopped_runaway")) for c in checks),
        "latency_ms_p50": round(percentile(latency, 0.5), 1),
        "check_ms_p50": round(percentile([1000 * c["seconds"] for c in checks], 0.5), 2) if checks else None,
        "check_ms_p95": round(percentile([1000 * c["seconds"] for c in checks], 0.95), 2) if checks else None,
    }


def changed_by(record: dict[str, Any], policy: ClaimsPolicy) -> bool:
    """Whether the policy changed what the reader sees: ``flag`` marks, ``withhold`` drops (or says not
    sure) whenever a sentence is unsupported; ``quote`` always rewrites, so only its "not sure" counts."""
    if policy is ClaimsPolicy.QUOTE:
        return policy_text(record, policy).startswith(NOT_SURE)
    return any(not claim["supported"] for claim in record.get("claims") or [])


def catch_rates(labelled: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Per policy: the share of wrong answers it caught and of right answers it changed, over the checked
    answers with a label for their exact text (``Labels.labelled``: pairs of the answer and its label)."""
    judged = [(record, label) for record, label in labelled if record.get("claims") is not None]
    wrong = [record for record, label in judged if not label["correct"]]
    right = [record for record, label in judged if label["correct"]]
    report: dict[str, Any] = {"labelled": len(judged), "wrong": len(wrong), "right": len(right)}
    for policy in ClaimsPolicy:
        caught = sum(changed_by(r, policy) for r in wrong)
        flagged = sum(changed_by(r, policy) for r in right)
        report[policy.value] = {
            "caught": caught,
            "catch_rate": round(caught / len(wrong), 3) if wrong else None,
            "false_flags": flagged,
            "false_flag_rate": round(flagged / len(right), 3) if right else None,
        }
    return report


def key_of(record: dict[str, Any]) -> str:
    return f"{record['set']}/{record['id']}"
