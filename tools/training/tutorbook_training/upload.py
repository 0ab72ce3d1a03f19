"""``tutorbook-upload-adapter DIR``: pack an adapter folder and upload it to a running gateway
(the admin key as every tool finds it: :mod:`tutorbook_config.local_keys`); ``--no-activate`` stores it as
a candidate for a rollout (docs/adapters.md)."""

import argparse
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import httpx

from tutorbook_config.local_keys import MissingKeyError, admin_key

PACKED = ("adapter_config.json", "adapter_model.safetensors", "classifier.json", "tutorbook.json", "README.md")


def pack(folder: Path) -> bytes:
    """A .tar.gz of the adapter's files, at the archive's top level."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in PACKED:
            if (folder / name).is_file():
                archive.add(folder / name, arcname=name)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-upload-adapter", description=__doc__)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument(
        "--key", help="an admin key (default: $TUTORBOOK_ADMIN_KEY, $TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS, .env)"
    )
    parser.add_argument(
        "--no-activate", action="store_true", help="store it without activating it: a candidate for a rollout"
    )
    args = parser.parse_args()
    try:
        key = admin_key(args.key, os.environ)
    except MissingKeyError as exc:
        sys.exit(str(exc))
    response = httpx.post(
        f"{args.url}/v1/adapters" + ("?activate=false" if args.no_activate else ""),
        files={"file": (f"{args.adapter.name}.tar.gz", pack(args.adapter))},
        headers={"Authorization": f"Bearer {key}"},
        timeout=300,
    )
    body = response.json()
    if response.status_code != 201:
        sys.exit(f"refused ({response.status_code}): {body.get('error', {}).get('message', body)}")
    print(json.dumps({key: body[key] for key in ("name", "version", "activated", "loads") if key in body}, indent=2))


if __name__ == "__main__":
    main()
