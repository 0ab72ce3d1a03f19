"""The names of Tutorbook's environment variables, and the check that refuses one nobody reads.

A service's own setting is ``TUTORBOOK_<SERVICE>_<GROUP>__<FIELD>`` (``TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE``);
a setting every service shares is ``TUTORBOOK_<FIELD>`` (:mod:`tutorbook_config.shared`). One environment
may serve all three services (``make run`` does that), so a service leaves the other services' variables to
them, and refuses, at start, any ``TUTORBOOK_*`` variable that is neither its own, shared, nor one of
:data:`OTHER_VARIABLES`: a typo, or a name from before the rename, would otherwise be ignored in silence.
"""

import difflib
from collections.abc import Collection, Mapping

from tutorbook_config.renamed import RENAMED

PREFIX = "TUTORBOOK_"
SERVICES = ("gateway", "retriever", "generator")
GROUP_SEPARATOR = "__"
CONFIG_FILE_VARIABLE = "TUTORBOOK_CONFIG"
REFERENCE = "docs/settings.md"

# Read by the tools, the dev stack or Compose, never by a service (a service accepts them beside its own).
OTHER_VARIABLES: dict[str, str] = {
    CONFIG_FILE_VARIABLE: "a TOML file every service reads its settings from, below the environment",
    "TUTORBOOK_ADMIN_KEY": "the admin key the command-line tools send (tutorbook-ingest, tutorbook-upload-adapter, "
    "tutorbook-compare, tutorbook-eval-answers); else the first of .env's admin keys",
    "TUTORBOOK_EVAL_DATA": "where the evaluations find the shared evaluation data (default: ../shared/eval-data)",
    "TUTORBOOK_REDIS_PORT": "the port `make run` starts its Redis on",
    "TUTORBOOK_RECORDS_REDIS_PORT": "the port `make run` starts the access records' Redis on (6380)",
    "TUTORBOOK_SCREENSHOTS": "where the browser tests write the page's screenshots",
    "TUTORBOOK_GPU_BASE_MODEL": "Compose: the GPU profile's base model (substituted into the generator's setting)",
    "TUTORBOOK_GPU_SERVED_MODEL_NAME": "Compose: the GPU profile's served model name (for the gateway and the "
    "generator)",
}


def shared_variable(field: str) -> str:
    return f"{PREFIX}{field.upper()}"


def group_variable(service: str, group: str, field: str) -> str:
    return f"{PREFIX}{service.upper()}_{group.upper()}{GROUP_SEPARATOR}{field.upper()}"


# The variables the dev stack and the command-line tools read as well as the gateway.
API_KEYS_VARIABLE = group_variable("gateway", "keys", "api_keys")
ADMIN_KEYS_VARIABLE = group_variable("gateway", "keys", "admin_keys")
INTERNAL_TOKEN_VARIABLE = shared_variable("internal_token")
ADMIN_KEY_VARIABLE = "TUTORBOOK_ADMIN_KEY"


class UnknownSettingError(ValueError):
    """A ``TUTORBOOK_*`` variable (or a configuration file's key) that no service reads."""


def another_service_owns(name: str, service: str) -> bool:
    return any(name.startswith(f"{PREFIX}{other.upper()}_") for other in SERVICES if other != service)


def why_unknown(name: str, service: str, known: Collection[str]) -> str:
    """One line: what the variable was renamed to, or the closest known name."""
    if name in RENAMED:
        return f"{name} was renamed: set {' or '.join(RENAMED[name])} instead"
    closest = difflib.get_close_matches(name, [*known, *OTHER_VARIABLES], n=1, cutoff=0.6)
    if closest:
        return f"{name} is no setting of the {service}; did you mean {closest[0]}?"
    return f"{name} is no setting of the {service}"


def refuse_unknown_variables(environ: Mapping[str, str], service: str, known: Collection[str]) -> None:
    """Raise :class:`UnknownSettingError` naming every ``TUTORBOOK_*`` variable this service does not read
    and no other service or tool claims."""
    unknown = [
        name
        for name in sorted(environ)
        if name.startswith(PREFIX)
        and name not in known
        and name not in OTHER_VARIABLES
        and not another_service_owns(name, service)
    ]
    if unknown:
        lines = "; ".join(why_unknown(name, service, known) for name in unknown)
        raise UnknownSettingError(f"the {service} does not start with unknown settings: {lines} ({REFERENCE})")
