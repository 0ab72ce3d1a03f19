"""The adapter folder's layout, one owner for the gateway (which writes it) and the generator (whose vLLM
serves from it)::

    <root>/<name>@<version>/   one version: a LoRA adapter (adapter_config.json) or an embedding classifier
    <root>/.active/<name>      the active version's number
"""

from pathlib import Path

VERSION_SEPARATOR = "@"
ACTIVE_FOLDER = ".active"
LORA_CONFIG_FILE = "adapter_config.json"


def served_name(name: str, version: int) -> str:
    """The name vLLM serves a version under (and the folder it is stored in)."""
    return f"{name}{VERSION_SEPARATOR}{version}"


def active_pointer(root: Path, name: str) -> Path:
    return root / ACTIVE_FOLDER / name


def active_version(root: Path, name: str) -> int | None:
    """The pointer's version; None when there is none, or it cannot be read as one."""
    try:
        text = active_pointer(root, name).read_text().strip()
    except (OSError, UnicodeDecodeError):  # no pointer, or not a pointer (a folder, unreadable)
        return None
    return int(text) if text.isascii() and text.isdigit() else None


def active_lora_folders(root: Path) -> dict[str, Path]:
    """Every active version that is a LoRA adapter, by served name: what a generator should hold loaded."""
    pointers = root / ACTIVE_FOLDER
    found = {}
    for pointer in sorted(pointers.iterdir()) if pointers.is_dir() else []:
        version = None if pointer.name.startswith(".") else active_version(root, pointer.name)  # . : half-written
        if version is None:
            continue
        name = served_name(pointer.name, version)
        if (root / name / LORA_CONFIG_FILE).is_file():
            found[name] = root / name
    return found
