"""``python -m tutorbook_devstack.settings_reference``: write docs/settings.md, every setting of every
service, from the settings classes themselves (names, defaults, and the comments written next to them),
so the reference cannot drift from the code: a test compares the committed file with this rendering."""

import ast
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from tutorbook_gateway.settings import GatewaySettings
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_retriever.settings import RetrieverSettings

SERVICES: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "retriever": RetrieverSettings,
    "generator": GeneratorSettings,
}
OUTPUT = Path("docs/settings.md")


@dataclass
class Group:
    """Settings written together under one comment (or none)."""

    comment: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)  # name, its inline comment


def comment_text(line: str) -> str:
    return line.strip().removeprefix("#").strip()


def inline_comment(line: str) -> str:
    """The comment after a field's value (outside any quotes)."""
    quote = ""
    for index, character in enumerate(line):
        if quote:
            quote = "" if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character == "#":
            return line[index + 1 :].strip()
    return ""


def groups_of(settings: type[BaseSettings]) -> list[Group]:
    source = inspect.getsource(settings)
    lines = source.splitlines()
    [definition] = ast.parse(source).body
    assert isinstance(definition, ast.ClassDef)
    groups: list[Group] = []
    previous_end = definition.body[0].lineno - 1
    for node in definition.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            previous_end = node.end_lineno or node.lineno
            continue
        between = lines[previous_end : node.lineno - 1]
        comment = [comment_text(line) for line in between if line.strip().startswith("#")]
        if comment or any(not line.strip() for line in between) or not groups:
            groups.append(Group(comment))
        groups[-1].fields.append((node.target.id, inline_comment(lines[node.lineno - 1])))
        previous_end = node.end_lineno or node.lineno
    return [group for group in groups if group.fields]


def shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"`{value:,}`"
    return f"`{value}`"


def render_service(service: str, settings: type[BaseSettings]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    module = inspect.getsourcefile(settings) or ""
    relative = module[module.index("services/") :] if "services/" in module else module
    lines = [f"## {service}", "", f"`{settings.__name__}` in `{relative}`.", ""]
    for group in groups_of(settings):
        if group.comment:
            lines += [" ".join(group.comment), ""]
        noted = any(note for _, note in group.fields)
        lines += (
            ["| variable | default | note |", "|---|---|---|"] if noted else ["| variable | default |", "|---|---|"]
        )
        for name, note in group.fields:
            row = f"| `{prefix}{name.upper()}` | {shown(settings.model_fields[name].default)} |"
            lines.append(f"{row} {note} |" if noted else row)
        lines.append("")
    return lines


def render() -> str:
    lines = [
        "# Settings reference",
        "",
        "Every setting of every service, generated from the settings classes by",
        "`python -m tutorbook_devstack.settings_reference` (a test fails when this file and the code differ).",
        "Each service reads its variables from the environment once, at start.",
        "",
    ]
    for service, settings in SERVICES.items():
        lines += render_service(service, settings)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
