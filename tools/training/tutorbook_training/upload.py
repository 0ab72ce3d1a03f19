"""``tutorbook-upload-adapter DIR``: pack an adapter folder and upload it to a running gateway
(admin key from ``--key``, ``TUTORBOOK_ADMIN_KEYS`` or the ``.env`` that ``make run`` writes)."""

import argparse
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import httpx

PACKED = ("adapter_config.json", "adapter_model.safetensors", "tutorbook.json", "README.md")


def pack(folder: Path) -> bytes:
    """A .tar.gz of the adapter's files, at the archive's top level."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in PACKED:
            if (folder / name).is_file():
                archive.add(folder / name, arcname=name)
    return buffer.getvalue()


def admin_key(given: str | None) -> str:
    if given:
        return given
    keys = os.environ.get("TUTORBOOK_ADMIN_KEYS", "")
    env_file = Path(".env")
    if not keys and env_file.is_file():
        for line in env_file.read_text().splitlines():
            if line.startswith("TUTORBOOK_ADMIN_KEYS="):
                keys = line.split("=", 1)[1].strip().strip("'\"")
    key = keys.split(",")[0].strip()
    if not key:
        sys.exit("no admin key: pass --key, or set TUTORBOOK_ADMIN_KEYS")
    return key


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-upload-adapter", description=__doc__)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--key", help="an admin key")
    args = parser.parse_args()
    response = httpx.post(
        f"{args.url}/v1/adapters",
        files={"file": (f"{args.adapter.name}.tar.gz", pack(args.adapter))},
        headers={"Authorization": f"Bearer {admin_key(args.key)}"},
        timeout=300,
    )
    body = response.json()
    if response.status_code != 201:
        sys.exit(f"refused ({response.status_code}): {body.get('error', {}).get('message', body)}")
    print(json.dumps({key: body[key] for key in ("name", "version", "activated", "loads") if key in body}, indent=2))


if __name__ == "__main__":
    main()
