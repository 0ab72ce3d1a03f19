"""docs/settings.md is every setting of every service, as the code declares it (regenerate it with
``python -m tutorbook_devstack.settings_reference``)."""

from tests.conftest import REPO_ROOT
from tutorbook_devstack.settings_reference import OUTPUT, SERVICES, render


def test_the_settings_reference_is_what_the_code_declares() -> None:
    committed = (REPO_ROOT / OUTPUT).read_text()
    assert committed == render(), "docs/settings.md is stale: python -m tutorbook_devstack.settings_reference"
    for settings in SERVICES.values():
        for name in settings.model_fields:
            assert f"`TUTORBOOK_{name.upper()}`" in committed, name
