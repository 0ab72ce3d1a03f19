"""The answer evaluation's report as Markdown tables (docs/answers.md quotes them)."""

import json
from collections.abc import Iterable, Sequence
from typing import Any

from tutorbook_grounding.policy import ClaimsPolicy


def figure(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def correctness_table(reports: dict[str, Any]) -> str:
    columns = ["run", "set", "answers", "routes", "token F1", "containment", "yes/no right", "hit the token limit",
               "repeat a sentence", "cut by the guard", "p50 latency (ms)"]  # fmt: skip
    rows = []
    for run, report in reports.items():
        for name, figures in report["sets"].items():
            seen, right = figures["behaviour"], figures["as_generated"]
            routes = ", ".join(f"{route} {count}" for route, count in sorted(seen["routes"].items()))
            yes_no = (
                f"{figure(right['yes_no_correct'])} of {right['yes_no_questions']}" if right["yes_no_questions"] else ""
            )
            scored = [figure(right["token_f1"]), figure(right["containment"])] if right["answers"] else ["", ""]
            cells = [run, name, seen["asked"], routes, *scored, yes_no, seen["hit_token_limit"],
                     seen["repeat_a_sentence"], seen["stopped_runaway"], round(seen["latency_ms_p50"])]  # fmt: skip
            rows.append(cells)
    return markdown_table(columns, rows)


def policy_table(reports: dict[str, Any]) -> str:
    rows = ["| run | set | policy | token F1 | containment | yes/no right |", "|---|---|---|---|---|---|"]
    for run, report in reports.items():
        for name, figures in report["sets"].items():
            for policy in ClaimsPolicy:
                got = figures[policy.value]
                if got["answers"]:
                    rows.append(f"| {run} | {name} | {policy.value} | {figure(got['token_f1'])} | "
                                f"{figure(got['containment'])} | {figure(got['yes_no_correct'])} |")  # fmt: skip
    return "\n".join(rows)


def catch_table(reports: dict[str, Any]) -> str:
    columns = ["run", "labelled", "wrong", "right", "policy", "wrong answers caught", "right answers changed"]
    rows = []
    for run, report in reports.items():
        caught = report.get("claims_policies")
        if not caught:
            continue
        for policy in ClaimsPolicy:
            got = caught[policy.value]
            caught_cell = f"{got['caught']} ({figure(got['catch_rate'])})"
            changed_cell = f"{got['false_flags']} ({figure(got['false_flag_rate'])})"
            rows.append([run, caught["labelled"], caught["wrong"], caught["right"], policy.value, caught_cell,
                         changed_cell])  # fmt: skip
    return markdown_table(columns, rows)


def covering(report: dict[str, Any]) -> str:
    """What the label-read figures of a run cover, for a table's caption ("" without labels)."""
    labels = report.get("labels")
    if labels is None:
        return ""
    return f" (right and wrong: the {labels['labelled']} of {labels['answers']} answers labelled for their exact text)"


def coverage_lines(reports: dict[str, Any]) -> str:
    """Per run: how many answers the labels cover, and the unlabelled ones, which no label-read figure
    counts (token F1, containment and yes/no are scored against the references, for every answer)."""
    lines = []
    for run, report in reports.items():
        labels = report.get("labels")
        if labels is None:
            continue
        unlabelled = labels["unlabelled"]
        lines.append(
            f"Labels on {run}: the figures read from labels (wrong answers caught, right answers changed, right and "
            f"wrong kept or lost) cover {labels['labelled']} of {labels['answers']} answers, those with a label for "
            f"their exact text (whitespace at both ends aside); {len(unlabelled)} unlabelled, not scored against labels"
            + (":" if unlabelled else ".")
        )
        for row in unlabelled:
            stale = " (labelled for another text)" if row["labelled_for_another_text"] else ""
            lines.append(f"- {row['set']}/{row['id']}{stale}: {json.dumps(row['answer'], ensure_ascii=False)}")
    return "\n".join(lines)


def markdown(reports: dict[str, Any]) -> str:
    parts = [correctness_table(reports), policy_table(reports), catch_table(reports), coverage_lines(reports)]
    return "\n\n".join(part for part in parts if part)
