"""Keys a service refuses to start with: short ones, and the placeholders of examples and docs."""

from collections.abc import Iterable

MIN_KEY_CHARS = 16
PLACEHOLDER_WORDS = ("replace", "change", "example", "placeholder", "your-", "secret", "password", "xxxx")


class WeakKeyError(ValueError):
    """A configured key is too short or a placeholder (the key itself is never in the message)."""


def weak_key_reason(key: str) -> str | None:
    if len(key) < MIN_KEY_CHARS:
        return f"shorter than {MIN_KEY_CHARS} characters"
    lowered = key.lower()
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f"a placeholder (contains {word!r})"
    return None


def require_strong_keys(setting: str, keys: Iterable[str]) -> None:
    """Raise for the first weak key of ``setting`` (an environment variable's name), saying which one."""
    for position, key in enumerate(keys, start=1):
        reason = weak_key_reason(key)
        if reason is not None:
            raise WeakKeyError(f"{setting}: key {position} is {reason}; generate one with: openssl rand -hex 24")
