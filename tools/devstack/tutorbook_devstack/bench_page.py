"""The page ``docs/benchmarks.md`` from one run of ``bench_all``: the date, the machine and the command at
the top, a line per benchmark, then one section per comparison (:mod:`bench_sections`). Plain functions:
the run's record and the benchmarks' JSON documents in, Markdown out.

A benchmark that failed still gets its sections, saying how it failed and how its output ended; so does
one whose figures cannot be read. Either way it is listed in ``RenderedPage.failed``.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from tutorbook_devstack.bench_report import machine_words
from tutorbook_devstack.bench_sections import SECTIONS, Images, Section, table

Record = dict[str, Any]
# What a section meets when a benchmark's JSON does not have the shape it reads.
UNREADABLE_FIGURES = (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError)


@dataclass(frozen=True)
class RenderedPage:
    markdown: str
    failed: tuple[str, ...]  # benchmarks that failed, or whose figures could not be read


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60)} min"


def when(iso_date: str) -> str:
    moment = datetime.datetime.fromisoformat(iso_date).astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def machine_line(machine: Record) -> str:
    memory = machine.get("memory_gib")
    parts = [
        str(machine.get("cpu") or "unknown CPU"),
        f"{machine.get('cores')} cores",
        f"{memory:.1f} GiB memory" if memory else "memory unknown",
        str(machine.get("system", "")),
    ]
    return ", ".join(part for part in parts if part)


def versions_line(machine: Record) -> str:
    parts = [f"Python {machine.get('python')}", machine.get("torch") or "torch not installed"]
    return ", ".join([*parts, machine.get("vllm") or "vLLM not installed"])


def header_lines(run: Record) -> list[str]:
    machine = run.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        "<!-- Written by `python -m tutorbook_devstack.bench_all` (`make bench`) from its JSON files; "
        "run it again rather than editing this page. -->",
        "",
        "Each benchmark ran as its own process, one after the other (never two at once on the same cores); "
        "those that measure the stack started the real services of their own (vLLM on CPU, the retriever with "
        "the real embedder, the gateway, Redis). Every comparison was measured side by side in the same run "
        "and is given as a ratio.",
        "",
        f"- **Date**: {when(run['date'])} (the run took {duration(run.get('seconds', 0.0))})",
        f"- **Command**: `{run['command']}`",
        f"- **Machine**: {machine_line(machine)}",
        f"- **Versions**: {versions_line(machine)}",
        *([f"- **Code**: commit {run['code']}"] if run.get("code") else []),
        "",
    ]
    if run.get("quick"):
        lines += [
            "> **Quick run** (`--quick`): few requests and short levels, a test of the command. Do not quote.",
            "",
        ]
    return lines


def failure(entry: Record, documents: dict[str, Record]) -> str | None:
    """Why a benchmark has no figures to show, or None when it has."""
    if entry.get("error"):
        return str(entry["error"])
    if entry["name"] not in documents:
        return f"it wrote no figures to `{entry.get('json')}`"
    return None


def runs_table(runs: list[Record], documents: dict[str, Record]) -> list[str]:
    rows = []
    for entry in runs:
        why = failure(entry, documents)
        result = "ok" if why is None else f"**failed**: {why}"
        ports = entry.get("ports") or "none"
        rows.append([entry["name"], result, duration(entry.get("seconds", 0.0)), f"`{entry['command']}`", ports])
    return table(["benchmark", "result", "time", "command", "ports"], rows, left=5)


def failed_lines(entry: Record, why: str) -> list[str]:
    lines = [f"**Failed**: {why}. No figures from this run.", ""]
    tail = str(entry.get("output_tail") or "").strip()
    if tail:
        lines += ["Its output ended with:", "", "```text", tail, "```", ""]
    if entry.get("log"):
        lines += [f"Whole output: `{entry['log']}`.", ""]
    return lines


# Dates are kept to the second, and the last benchmark's file is dated as the run ends: a file dated within
# this of the run's end is the run's own, not a later run on its own (those are minutes apart at least).
DATE_SLACK = datetime.timedelta(seconds=60)


def measured_after(run: Record, document: Record | None) -> list[str]:
    """A benchmark run again on its own after this page's run (its file is newer than the run's end): the
    line that says when, at which commit and on what, since the page's header no longer does."""
    if not document or "date" not in document or "date" not in run:
        return []
    ended = datetime.datetime.fromisoformat(run["date"]) + datetime.timedelta(seconds=run.get("seconds", 0.0))
    if datetime.datetime.fromisoformat(document["date"]) <= ended + DATE_SLACK:
        return []
    return [
        f"*Measured again on its own after this run: `{document.get('command', '?')}` on "
        f"{when(document['date'])}, commit {document.get('commit', 'not recorded')}, on "
        f"{machine_words(document.get('machine') or {})}.*",
        "",
    ]


def section_lines(
    section: Section, entry: Record, documents: dict[str, Record], images: Images, run: Record | None = None
) -> tuple[list[str], bool]:
    """The section's lines, and whether it shows figures (False: failed, or its figures unreadable)."""
    lines = [f"## {section.title}", "", f"`{entry['command']}`", ""]
    lines += measured_after(run or {}, documents.get(entry["name"]))
    why = failure(entry, documents)
    if why is not None:
        return lines + failed_lines(entry, why), False
    try:
        return lines + section.render(documents[entry["name"]]["figures"], images), True
    except UNREADABLE_FIGURES as exc:
        problem = f"its figures (`{entry.get('json')}`) could not be read: {type(exc).__name__} {exc}"
        return lines + failed_lines({}, problem), False


def render_page(run: Record, documents: dict[str, Record], images: Images) -> RenderedPage:
    """``run``: bench_all's record (date, command, machine, and per benchmark: name, command, ports, json,
    seconds, error, output_tail, log); ``documents``: each benchmark's JSON from this run, by name;
    ``images``: plots by what they show, as paths relative to the page."""
    runs = {entry["name"]: entry for entry in run["benchmarks"]}
    lines = header_lines(run) + runs_table(run["benchmarks"], documents)
    failed = [name for name, entry in runs.items() if failure(entry, documents) is not None]
    for section in SECTIONS:
        if section.benchmark not in runs:
            continue
        shown, ok = section_lines(section, runs[section.benchmark], documents, images, run)
        lines += shown
        if not ok and section.benchmark not in failed:
            failed.append(section.benchmark)
    return RenderedPage("\n".join(lines).rstrip() + "\n", tuple(failed))
