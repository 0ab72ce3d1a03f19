"""``tutorbook-keys``: teams, keys and the audit log through a running gateway's admin API.

    tutorbook-keys team support                        # a team
    tutorbook-keys create helpdesk --team support --scopes chat --rpm 60 --expires-in 90d
    export HELPDESK_KEY=$(tutorbook-keys create helpdesk --team support --secret-only)
    tutorbook-keys list --team support                 # never a secret: ids, names, scopes, state
    tutorbook-keys rotate tbk_1a2b3c4d5e --grace 1h    # a new secret; the old one works for an hour
    tutorbook-keys revoke tbk_1a2b3c4d5e               # refused by every gateway within a second
    tutorbook-keys audit --action key.

The admin key comes from ``--key``, ``$TUTORBOOK_ADMIN_KEY``, ``$TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS`` or
the ``.env`` that ``make run`` writes. A new key's secret is printed once: store it then.
"""

import argparse
import json
import os
import sys
from typing import Any

import httpx

from tutorbook_config.local_keys import MissingKeyError, admin_key

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str) -> float:
    """``90d``, ``12h``, ``30m``, ``45s`` or a number of seconds."""
    unit = DURATION_UNITS.get(text[-1:])
    try:
        return float(text[:-1]) * unit if unit else float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 90d, 12h, 30m or 45s)") from exc


def names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def key_body(args: argparse.Namespace) -> dict[str, Any]:
    limits = {"requests_per_minute": args.rpm, "tokens_per_minute": args.tpm, "in_flight": args.in_flight,
              "state_bytes": args.state_bytes}  # fmt: skip
    body = {"name": args.name, "team": args.team, "scopes": names(args.scopes), "models": names(args.models),
            "limits": limits}  # fmt: skip
    return body if args.expires_in is None else {**body, "expires_in_seconds": args.expires_in}


def request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """The admin API call the command line asks for: method, path, body."""
    if args.command == "team":
        return "POST", "/v1/admin/teams", {"name": args.name, "description": args.description}
    if args.command == "teams":
        return "GET", "/v1/admin/teams", None
    if args.command == "create":
        return "POST", "/v1/admin/keys", key_body(args)
    if args.command == "list":
        return "GET", "/v1/admin/keys" + (f"?team={args.team}" if args.team else ""), None
    if args.command == "rotate":
        return "POST", f"/v1/admin/keys/{args.key_id}/rotate", {"grace_seconds": args.grace}
    if args.command == "revoke":
        return "DELETE", f"/v1/admin/keys/{args.key_id}", None
    action = f"&action={args.action}" if args.action else ""
    return "GET", f"/v1/admin/audit?limit={args.limit}{action}", None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutorbook-keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--key", help="an admin key (default: $TUTORBOOK_ADMIN_KEY, ..._ADMIN_KEYS, .env)")
    commands = parser.add_subparsers(dest="command", required=True)
    team = commands.add_parser("team", help="create a team")
    team.add_argument("name")
    team.add_argument("--description", default="")
    commands.add_parser("teams", help="list the teams")
    create = commands.add_parser("create", help="create a key (its secret is printed once)")
    create.add_argument("name")
    create.add_argument("--team", default="default")
    create.add_argument("--scopes", default="chat", help="comma-separated: chat, documents, adapters, admin")
    create.add_argument("--models", default="", help="comma-separated adapters and models it may name (default any)")
    for flag in ("--rpm", "--tpm", "--in-flight", "--state-bytes"):
        create.add_argument(flag, type=int, default=0, help="its own limit (0: the gateway's default)")
    create.add_argument("--expires-in", type=seconds, help="e.g. 90d (default: never)")
    create.add_argument("--secret-only", action="store_true", help="print only the new key (for a variable)")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--team")
    rotate = commands.add_parser("rotate", help="a new secret for a key")
    rotate.add_argument("key_id", help="tbk_<id>")
    rotate.add_argument("--grace", type=seconds, default=0.0, help="how long the old secret keeps working")
    revoke = commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", help="tbk_<id>")
    audit = commands.add_parser("audit", help="the newest admin actions")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--action", help="those starting with this (key., adapter., documents.)")
    return parser


def main() -> None:
    args = parser().parse_args()
    try:
        key = admin_key(args.key, os.environ)
    except MissingKeyError as exc:
        sys.exit(str(exc))
    method, path, body = request(args)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        response = httpx.request(method, f"{args.url}{path}", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        sys.exit(f"the gateway at {args.url} did not answer: {exc}")
    answer = response.json() if response.content else {}
    if response.is_error:
        sys.exit(f"refused ({response.status_code}): {answer.get('error', {}).get('message', answer)}")
    print(answer["key"] if getattr(args, "secret_only", False) else json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
