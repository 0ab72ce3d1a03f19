"""Each service, started as its own process with a variable it does not know, stops at once and says which
variable and what was meant, before it opens a port or loads a model."""

import os
import subprocess
import sys

import pytest

COMMANDS = {
    "gateway": [sys.executable, "-m", "tutorbook_gateway"],
    "retriever": [sys.executable, "-m", "tutorbook_retriever"],
    "generator": [sys.executable, "-m", "tutorbook_generator.launcher"],
}


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_a_service_with_a_mistyped_variable_stops_and_names_the_setting(service: str) -> None:
    mistyped = f"TUTORBOOK_{service.upper()}_SERVER__PROT"
    env = {**os.environ, mistyped: "9999", "TUTORBOOK_INTERNAL_TOKEN": "tests-internal-token-0123456789"}
    finished = subprocess.run(COMMANDS[service], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    said = finished.stderr.strip().splitlines()[-1]
    assert said.startswith(f"tutorbook-{service}: the {service} does not start with unknown settings"), said
    assert f"{mistyped} is no setting of the {service}; did you mean TUTORBOOK_{service.upper()}_SERVER__PORT?" in said
    assert "Traceback" not in finished.stderr


def test_a_name_from_before_the_rename_says_its_new_name() -> None:
    env = {**os.environ, "TUTORBOOK_EMBEDDING_MODEL": "all-MiniLM-L6-v2"}
    finished = subprocess.run(COMMANDS["retriever"], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert "TUTORBOOK_EMBEDDING_MODEL was renamed: set TUTORBOOK_RETRIEVER_EMBEDDING__MODEL instead" in finished.stderr
