"""docs/settings.md is every setting of every service, as the code declares and groups it (regenerate it with
``make settings-docs``), and every renamed variable names settings that exist."""

from tests.conftest import REPO_ROOT
from tutorbook_config.renamed import RENAMED
from tutorbook_devstack.settings_reference import OUTPUT, every_variable, render


def test_the_settings_reference_is_what_the_code_declares() -> None:
    committed = (REPO_ROOT / OUTPUT).read_text()
    assert committed == render(), "docs/settings.md is stale: make settings-docs"
    for variable in every_variable():
        assert f"`{variable}`" in committed, variable


def test_every_renamed_variable_names_a_setting_and_no_setting_kept_an_old_name() -> None:
    variables = every_variable()
    for old, news in RENAMED.items():
        assert old not in variables, old
        assert set(news) <= variables, (old, news)
