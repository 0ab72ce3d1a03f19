"""``tutorbook-eval-answers``: ask the running stack questions through ``auto`` and score its answers.

    tutorbook-eval-answers run --sets samples,contrast,emanual-s10 --ingest --output data/answers/after.json
    tutorbook-eval-answers score data/answers/after.json --labels docs/answers/labelled-answers.jsonl \
        --unlabelled data/answers/unlabelled.jsonl

``run`` records every answer (its text, route, citations, claims, latency); ``score`` reports correctness
against the references, runaway answers, the claim check's time and, with hand labels, how many wrong
answers each claims policy catches and how many right ones it wrongly changes. A label counts only for the
exact answer text it was written for (``labels.py``); the other answers are listed as unlabelled, and
``--unlabelled`` writes them out to be labelled by hand.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tutorbook_config.local_keys import MissingKeyError, admin_key
from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.answers.judge_replay import judge_sweep, judge_table
from tutorbook_evals.answers.labels import Labels, coverage, read_labels, unlabelled_rows, write_unlabelled
from tutorbook_evals.answers.questions import ANSWER_SETS, DEVELOPMENT_SAMPLE, HELD_OUT_SETS, Question, questions_of
from tutorbook_evals.answers.scoring import behaviour, catch_rates, correctness, policy_text
from tutorbook_evals.answers.tables import covering, markdown
from tutorbook_evals.answers.thresholds import sweep_table, threshold_sweep
from tutorbook_evals.compare.datasets import builtin_qa
from tutorbook_evals.compare.runner import gateway_client
from tutorbook_evals.compare.runs import ingest
from tutorbook_evals.routing_set import default_eval_data
from tutorbook_grounding.policy import ClaimsPolicy

REPO_ROOT = Path(__file__).resolve().parents[4]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-answers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="ask the stack and record its answers")
    every = ", ".join(ANSWER_SETS + HELD_OUT_SETS)
    run.add_argument("--sets", default=",".join(ANSWER_SETS), help=f"comma-separated, of: {every}")
    run.add_argument("--samples", type=Path, default=REPO_ROOT / "samples")
    run.add_argument("--eval-data", type=Path, help="where emanual-qa lies (default: ../shared/eval-data)")
    limit, seed = DEVELOPMENT_SAMPLE
    run.add_argument("--emanual-limit", type=int, default=limit, help="E-Manual questions asked (a seeded sample)")
    run.add_argument("--seed", type=int, default=seed)
    run.add_argument("--limit", type=int, help="ask at most this many questions of each set")
    run.add_argument("--ingest", action="store_true", help="ingest the E-Manual S10 manual into the stack first")
    run.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    run.add_argument(
        "--key", help="an admin key (default: $TUTORBOOK_ADMIN_KEY, $TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS, .env)"
    )
    run.add_argument("--policy", choices=[p.value for p in ClaimsPolicy], help="ask for this claims policy")
    run.add_argument("--output", type=Path, required=True)
    score = commands.add_parser("score", help="report on recorded answers")
    score.add_argument("runs", type=Path, nargs="+", help="answers recorded by run (a report per file)")
    score.add_argument(
        "--labels", type=Path, action="append", default=[],
        help="JSONL {set, id, answer, correct, reason}: a label counts for that exact answer text only",
    )  # fmt: skip
    score.add_argument(
        "--unlabelled", type=Path,
        help="write the answers no label covers here (JSONL, the labels' format, label empty) to label by hand",
    )  # fmt: skip
    score.add_argument("--output", type=Path, help="write the report as a result file (JSON) here")
    score.add_argument(
        "--rag-thresholds",
        help="replay the router's RAG threshold at these values (comma-separated, e.g. 0.36,0.45,0.5)",
    )
    score.add_argument(
        "--judge-thresholds",
        help="on answers recorded with a judge model: replay its threshold at these values, and no judge",
    )
    return parser


def ask(client: Any, question: Question, policy: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": question.text}]}
    if policy:
        body["tutorbook"] = {"claims_policy": policy}
    response = client.post("/v1/chat/completions", json=body)
    latency_ms = response.elapsed.total_seconds() * 1000
    record = {"set": question.set, "id": question.id, "question": question.text, "reference": question.reference}
    record["latency_ms"] = latency_ms
    if response.status_code != 200:
        return {**record, "answer": "", "error": f"HTTP {response.status_code}: {response.text[:200]}"}
    body = response.json()
    block, choice = body.get("tutorbook") or {}, body["choices"][0]
    return {
        **record,
        "answer": choice["message"]["content"] or "",
        "finish_reason": choice.get("finish_reason"),
        "completion_tokens": (body.get("usage") or {}).get("completion_tokens"),
        "route": block.get("route"),
        "reason": block.get("reason"),
        "citations": block.get("citations") or [],
        "claims": block.get("claims"),
        "answer_check": block.get("answer_check"),
    }


def run(args: argparse.Namespace) -> None:
    key = admin_key(args.key, os.environ)
    eval_data: Path = args.eval_data or default_eval_data(REPO_ROOT) or REPO_ROOT.parent / "shared" / "eval-data"
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    questions = questions_of(sets, args.samples, eval_data, args.emanual_limit, args.seed)
    if args.limit is not None:
        questions = [q for name in sets for q in [q for q in questions if q.set == name][: args.limit]]
    if args.ingest:
        ingest(builtin_qa("emanual-s10", args.samples, eval_data), args.gateway_url, key)
    with gateway_client(args.gateway_url, key) as client:
        records = [
            ask(client, q, args.policy) for q in tqdm(questions, desc="answers", unit="question", file=sys.stderr)
        ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"answers": records}, indent=1) + "\n", encoding="utf-8")
    print(f"{len(records)} answers written to {args.output}", file=sys.stderr)


def report_of(records: list[dict[str, Any]], labels: Labels | None) -> dict[str, Any]:
    """Correctness and behaviour per set for every answer; with labels, how far they cover the answers
    and the policies' catches over the labelled ones only."""
    by_set: dict[str, Any] = {}
    for name in sorted({r["set"] for r in records}):
        chosen = [r for r in records if r["set"] == name]
        by_set[name] = {
            "behaviour": behaviour(chosen),
            "as_generated": correctness(chosen),
            **{policy.value: correctness(chosen, lambda r, p=policy: policy_text(r, p)) for policy in ClaimsPolicy},
        }
    if labels is None:
        return {"sets": by_set, "labels": None, "claims_policies": None}
    labelled = labels.labelled(records)
    return {
        "sets": by_set,
        "labels": coverage(records, labels),
        "claims_policies": catch_rates(labelled) if labelled else None,
    }


def score(args: argparse.Namespace) -> None:
    labels = read_labels(args.labels) if args.labels else None
    thresholds = [float(value) for value in args.rag_thresholds.split(",")] if args.rag_thresholds else []
    judge_thresholds = [float(value) for value in args.judge_thresholds.split(",")] if args.judge_thresholds else []
    reports, runs = {}, {}
    for path in args.runs:
        records = runs[str(path)] = json.loads(path.read_text(encoding="utf-8"))["answers"]
        reports[str(path)] = report_of(records, labels)
        if thresholds:
            reports[str(path)]["rag_thresholds"] = threshold_sweep(records, labels or Labels(), thresholds)
        if judge_thresholds:
            reports[str(path)]["judge_thresholds"] = judge_sweep(records, labels or Labels(), judge_thresholds)
    print(markdown(reports))
    for path, report in reports.items():
        if thresholds:
            table = sweep_table(report["rag_thresholds"])
            print(f"\nThe router's RAG threshold replayed on {path}{covering(report)}:\n\n{table}")
        if judge_thresholds:
            table = judge_table(report["judge_thresholds"])
            print(f"\nThe judge's threshold replayed on {path}{covering(report)}:\n\n{table}")
    if args.output:  # the reports by run, with the command, the date, the commit and the machine
        every = [record for records in runs.values() for record in records]
        labelled = labels.labelled(every) if labels is not None else []
        overall = {"claims_policies": catch_rates(labelled) if labelled else None}  # every run's answers
        write_results("answers", {"runs": reports, "all": overall}, args.output)
    if labels is not None:
        to_label = unlabelled_rows([r for records in runs.values() for r in records], labels)
        if args.unlabelled:
            write_unlabelled(args.unlabelled, to_label)
            print(f"{len(to_label)} unlabelled answers written to {args.unlabelled}", file=sys.stderr)
        elif to_label:
            print(f"{len(to_label)} answers have no label for their exact text: --unlabelled PATH writes them out "
                  "to label by hand (docs/answers.md, 'The labelled answer set')", file=sys.stderr)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        run(args) if args.command == "run" else score(args)
    except (MissingKeyError, ValueError, OSError) as exc:
        sys.exit(str(exc))
