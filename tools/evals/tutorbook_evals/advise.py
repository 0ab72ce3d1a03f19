"""``tutorbook-advise``: which approach suits your use case (prompting, RAG, a fine-tuned adapter, or both)?

Asks the advisor's questions on the terminal, or takes the answers as flags (``--task classification``);
with ``--comparison DIR`` the figures ``tutorbook-compare`` measured on your data confirm or overrule it.
The same advice as ``POST /v1/advisor``.
"""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutorbook_gateway.advisor import recommend
from tutorbook_gateway.advisor.measured import best_measured, read_comparison
from tutorbook_gateway.advisor.questionnaire import QUESTIONS, Question, parse_answers


def flag(question: Question) -> str:
    return "--" + question.id.replace("_", "-")


def ask(question: Question, read: Callable[[str], str] = input) -> str:
    """One question on the terminal: a number or an answer's value; asked again until it is one."""
    print(f"\n{question.text}\n  ({question.why})")
    for number, choice in enumerate(question.choices, start=1):
        print(f"  {number}. {choice.label} [{choice.value}]")
    while True:
        reply = read("> ").strip()
        if reply.isdigit() and 1 <= int(reply) <= len(question.choices):
            return question.choices[int(reply) - 1].value
        if reply in question.values():
            return reply
        print(f"  answer 1-{len(question.choices)} or one of: {', '.join(question.values())}")


def render(advice: dict[str, Any]) -> str:
    lines = [f"Recommended: {advice['title']}"]
    measured = advice["measured"]
    if measured is not None:
        lines.append(f"  measured on {measured['dataset']}: {measured['reason']} ({measured['verdict']} the questions)")
    for reason in advice["reasons"]:
        lines.append(
            f"  {reason['effect']} {reason['approach']}: {reason['text']} ({reason['question']}={reason['answer']})"
        )
    lines.append(f"Next: {advice['next_step']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutorbook-advise", description=__doc__)
    for question in QUESTIONS:
        parser.add_argument(flag(question), dest=question.id, choices=question.values(), help=question.text)
    parser.add_argument("--comparison", type=Path, help="a tutorbook-compare output folder or its comparison.json")
    parser.add_argument("--json", action="store_true", help="print the advice as JSON (as POST /v1/advisor)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    answers = {question.id: getattr(args, question.id) for question in QUESTIONS}
    missing = [question for question in QUESTIONS if answers[question.id] is None]
    if missing and not sys.stdin.isatty():
        names = ", ".join(flag(question) for question in missing)
        parser().error(f"answer every question: missing {names} (or run on a terminal to be asked)")
    for question in missing:
        answers[question.id] = ask(question)
    measured = best_measured(read_comparison(args.comparison)) if args.comparison else None
    advice = recommend(parse_answers(answers), measured)
    print(json.dumps(advice, indent=2) if args.json else render(advice))


if __name__ == "__main__":
    main()
