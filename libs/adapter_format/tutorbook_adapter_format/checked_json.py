"""Reading a JSON file of a known shape, with every problem named after the file: the schema's own
(types, unknown fields) and the rules it cannot express (a function listing them)."""

from collections.abc import Callable
from typing import TypeVar

import msgspec

T = TypeVar("T")


def decode_checked(
    raw: bytes, shape: type[T], file: str, problems: Callable[[T], list[str]], error: type[ValueError]
) -> T:
    try:
        value = msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        raise error(f"{file}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise error(f"{file} is not valid JSON: {exc}") from exc
    found = problems(value)
    if found:
        raise error(f"{file}: " + "; ".join(found))
    return value
