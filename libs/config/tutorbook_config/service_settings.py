"""The base of each service's one settings class: a few groups of settings (each a :class:`SettingsGroup`)
plus :class:`~tutorbook_config.shared.SharedSettings`, read once, when the service starts.

Where a value comes from, first match wins: the keyword arguments (tests), the environment
(:mod:`tutorbook_config.variables` names each variable), the configuration file that ``TUTORBOOK_CONFIG``
names (:mod:`tutorbook_config.config_file`), the default. An unknown variable or key stops the service.
"""

import os
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tutorbook_config.config_file import read_config_file
from tutorbook_config.shared import SharedSettings
from tutorbook_config.variables import (
    CONFIG_FILE_VARIABLE,
    UnknownSettingError,
    group_variable,
    refuse_unknown_variables,
    shared_variable,
)

SHARED = "shared"


class SettingsGroup(BaseModel):
    """One concern's settings (the router's thresholds, the cache, ...); the docstring under each field is
    its documentation, in docs/settings.md."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


def groups_of(settings: type["ServiceSettings"]) -> dict[str, type[BaseModel]]:
    """The settings class's groups by name, the shared group first."""
    groups: dict[str, type[BaseModel]] = {}
    for name, info in settings.model_fields.items():
        annotation = info.annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), name
        groups[name] = annotation
    return groups


def variables_of(settings: type["ServiceSettings"]) -> Iterator[tuple[str, str, str]]:
    """Every (variable, group, field) the settings class reads."""
    for group, model in groups_of(settings).items():
        for field in model.model_fields:
            if group == SHARED:
                yield shared_variable(field), group, field
            else:
                yield group_variable(settings.service, group, field), group, field


class EnvironmentSource(PydanticBaseSettingsSource):
    """The service's variables, grouped; an unknown ``TUTORBOOK_*`` variable is refused."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every group at once

    def __call__(self) -> dict[str, Any]:
        settings = self.settings_cls
        assert issubclass(settings, ServiceSettings)
        names = list(variables_of(settings))
        refuse_unknown_variables(self._environ, settings.service, [name for name, _, _ in names])
        values: dict[str, dict[str, str]] = {}
        for name, group, field in names:
            if name in self._environ:
                values.setdefault(group, {})[field] = self._environ[name]
        return values


class ConfigFileSource(PydanticBaseSettingsSource):
    """The tables of the TOML file ``TUTORBOOK_CONFIG`` names that belong to this service (none when unset)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._path = environ.get(CONFIG_FILE_VARIABLE, "")

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        settings = self.settings_cls
        assert issubclass(settings, ServiceSettings)
        if not self._path:
            return {}
        fields = {group: list(model.model_fields) for group, model in groups_of(settings).items()}
        return read_config_file(self._path, settings.service, fields)


class ServiceSettings(BaseSettings):
    """A service's settings: ``shared`` plus the groups its subclass declares."""

    service: ClassVar[str]
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    shared: SharedSettings = Field(default_factory=SharedSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = dict(os.environ)  # the one place a service reads its environment
        return init_settings, EnvironmentSource(settings_cls, environ), ConfigFileSource(settings_cls, environ)


Settings = TypeVar("Settings", bound=ServiceSettings)


def grouped(fields: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"router__rag_min_score": 0.5}`` as ``{"router": {"rag_min_score": 0.5}}``: settings named as their
    variables name them (``TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE``), lower case and without the prefix."""
    groups: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        group, separator, field = name.partition("__")
        if not separator:
            raise TypeError(f"{name!r}: name a setting as group__field (shared__data_dir, router__rag_min_score)")
        groups.setdefault(group, {})[field] = value
    return groups


def configured(settings: type[Settings], **fields: Any) -> Settings:
    """The settings with a few ``group__field`` values set over the environment's (tests, tools)."""
    values: dict[str, Any] = grouped(fields)
    return settings(**values)


def settings_or_exit(settings: type[Settings]) -> Settings:
    """The settings a service's main starts with; wrong ones stop it with one line that says why."""
    try:
        return settings()
    except (UnknownSettingError, ValidationError) as exc:
        raise SystemExit(f"tutorbook-{settings.service}: {exc}") from None


def from_variables(settings: type[Settings], variables: Mapping[str, str]) -> Settings:
    """What a process with these variables (and no other) reads, unknown ones refused: the deployment files'
    environments checked as the services would check them."""
    values: dict[str, Any] = EnvironmentSource(settings, variables)()
    return settings(**values)


def replaced(settings: Settings, **fields: Any) -> Settings:
    """A copy with a few ``group__field`` values changed (unvalidated, as ``model_copy``)."""
    changes = {group: getattr(settings, group).model_copy(update=values) for group, values in grouped(fields).items()}
    return settings.model_copy(update=changes)
