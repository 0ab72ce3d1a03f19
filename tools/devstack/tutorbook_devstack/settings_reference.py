"""``python -m tutorbook_devstack.settings_reference`` (``make settings-docs``): write docs/settings.md, every
setting of every service grouped as the settings classes group them, with each field's own docstring, the
variables no service reads, and the renamed ones; a test compares the committed file with this rendering."""

import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tutorbook_config.renamed import RENAMED
from tutorbook_config.service_settings import SHARED, ServiceSettings, groups_of, variables_of
from tutorbook_config.shared import SharedSettings
from tutorbook_config.variables import OTHER_VARIABLES, group_variable, shared_variable
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_retriever.settings import RetrieverSettings

SERVICES: dict[str, type[ServiceSettings]] = {
    "gateway": GatewaySettings,
    "retriever": RetrieverSettings,
    "generator": GeneratorSettings,
}
OUTPUT = Path("docs/settings.md")
INTRODUCTION = """# Settings reference

Every setting of every service, generated from the settings classes by `make settings-docs`
(`python -m tutorbook_devstack.settings_reference`; a test fails when this file and the code differ).

- **Names.** A service's own setting is `TUTORBOOK_<SERVICE>_<GROUP>__<FIELD>`, for example
  `TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE`: the service, the group (a concern: the router, the cache, ...)
  and the field. A setting that means the same in every service that reads it is `TUTORBOOK_<FIELD>`
  ([shared](#shared)).
- **Where values come from**, first match wins: the environment; the TOML file `TUTORBOOK_CONFIG` names
  (tables `[shared]` and `[<service>.<group>]`, keys as the fields below); the default. Each service reads
  them once, at start.
- **Unknown names stop the service.** A `TUTORBOOK_*` variable that is no setting of the service reading it
  (another service's own variables are left to that service), or a key of the file that is no setting,
  stops it at start, naming the closest setting, or the new name of a [renamed](#renamed-variables) one.
  `make run` checks the environment for all three services before it starts any.

```toml
# tutorbook.toml (TUTORBOOK_CONFIG=tutorbook.toml); the environment overrides it
[shared]
data_dir = "/var/lib/tutorbook"

[gateway.router]
rag_min_score = 0.4

[retriever.search]
fusion = "rrf"
```
"""


def shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"`{value:,}`"
    return f"`{value}`"


def cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def field_rows(model: type[BaseModel], variable: Any) -> list[str]:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        lines.append(f"| `{variable(name)}` | {shown(default)} | {cell(info.description)} |")
    return [*lines, ""]


def render_shared() -> list[str]:
    lines = [
        "## shared",
        "",
        f"`SharedSettings` in `libs/config/tutorbook_config/shared.py`. {SharedSettings.__doc__}",
        "",
    ]
    return lines + field_rows(SharedSettings, shared_variable)


def render_service(service: str, settings: type[ServiceSettings]) -> list[str]:
    module = inspect.getsourcefile(settings) or ""
    relative = module[module.index("services/") :] if "services/" in module else module
    lines = [
        f"## {service}",
        "",
        f"`{settings.__name__}` in `{relative}`: the groups below, and [shared](#shared).",
        "",
    ]
    for group, model in groups_of(settings).items():
        if group == SHARED:
            continue
        lines += [f"### {service}: {group}", "", cell(model.__doc__), ""]
        lines += field_rows(model, lambda field, group=group: group_variable(service, group, field))
    return lines


def render_others() -> list[str]:
    lines = [
        "## Variables no service reads",
        "",
        "Read by the tools, `make run` or Compose; every service accepts them.",
        "",
    ]
    lines += ["| variable | what it is |", "|---|---|"]
    lines += [f"| `{name}` | {cell(what)} |" for name, what in OTHER_VARIABLES.items()]
    return [*lines, ""]


def render_renamed() -> list[str]:
    lines = [
        "## Renamed variables",
        "",
        "The names from before the settings were grouped by concern. A service that finds one refuses to start",
        "and names its replacement (`TUTORBOOK_HOST` is now one variable per service).",
        "",
        "| before | now |",
        "|---|---|",
    ]
    lines += [f"| `{old}` | {', '.join(f'`{new}`' for new in news)} |" for old, news in RENAMED.items()]
    return [*lines, ""]


def render() -> str:
    lines = [INTRODUCTION, *render_shared()]
    for service, settings in SERVICES.items():
        lines += render_service(service, settings)
    lines += render_others() + render_renamed()
    return "\n".join(lines).rstrip() + "\n"


def every_variable() -> set[str]:
    return {name for settings in SERVICES.values() for name, _, _ in variables_of(settings)}


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
