"""``python -m tutorbook_devstack run``: the whole stack on embedded defaults, until Ctrl-C (``make run``)."""

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from tutorbook_config.variables import ADMIN_KEYS_VARIABLE as ADMIN_KEYS
from tutorbook_config.variables import API_KEYS_VARIABLE as API_KEYS
from tutorbook_config.variables import UnknownSettingError
from tutorbook_devstack.keys import RenamedInEnvFileError, ensure_internal_token, ensure_keys
from tutorbook_devstack.stack import StackConfig, ingest_folder, running_stack
from tutorbook_devstack.supervision import ServiceKeepsFailingError, Supervisor
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_retriever.settings import RetrieverSettings

SAMPLE_QUESTION = "How long is the warranty on Brightleaf products?"


def curl_example(gateway_url: str, api_key: str) -> str:
    body = '{"model": "auto", "messages": [{"role": "user", "content": "' + SAMPLE_QUESTION + '"}]}'
    return (
        f"curl -s {gateway_url}/v1/chat/completions \\\n"
        f"  -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


def refuse_unknown_settings() -> None:
    """Each service's settings read from this environment now, so that a typo (or a variable's name from
    before the settings were grouped) stops `make run` before anything starts, with the service's message."""
    for settings in (GatewaySettings, RetrieverSettings, GeneratorSettings):
        try:
            settings()
        except (UnknownSettingError, ValidationError) as exc:
            sys.exit(f"{settings.service}: {exc}")


def stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def config_from_environment(
    environ: dict[str, str], api: list[str], admin: list[str], internal_token: str
) -> StackConfig:
    return StackConfig(
        data_dir=Path(environ.get("TUTORBOOK_DATA_DIR", "data")).resolve(),
        api_keys=tuple(api),
        admin_keys=tuple(admin),
        internal_token=internal_token,
        host=environ.get("TUTORBOOK_GATEWAY_SERVER__HOST", "127.0.0.1"),
        gateway_port=int(environ.get("TUTORBOOK_GATEWAY_SERVER__PORT", "8000")),
        retriever_port=int(environ.get("TUTORBOOK_RETRIEVER_SERVER__PORT", "8001")),
        generator_port=int(environ.get("TUTORBOOK_GENERATOR_SERVER__PORT", "8002")),
        redis_port=int(environ.get("TUTORBOOK_REDIS_PORT", "6379")),
        records_redis_port=int(environ.get("TUTORBOOK_RECORDS_REDIS_PORT", "6380")),
    )


def run(samples: Path | None) -> None:
    environ = dict(os.environ)
    try:
        api, admin, created = ensure_keys(Path(".env"), environ)
    except RenamedInEnvFileError as exc:
        sys.exit(str(exc))
    if not api:
        sys.exit(f"{API_KEYS} is empty: set it, or unset both key variables to generate keys into .env")
    if not admin:
        sys.exit(f"{ADMIN_KEYS} is empty: set it, or unset both key variables to generate keys into .env")
    refuse_unknown_settings()
    config = config_from_environment(environ, api, admin, ensure_internal_token(Path(".env"), environ))
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Ctrl-C must stop everything even when the shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"Starting Tutorbook (data in {config.data_dir}, logs in {config.data_dir / 'logs'}) ...", flush=True)
    started = time.monotonic()
    try:
        with running_stack(config) as stack:
            for name, seconds in stack.ready_seconds().items():
                print(f"  {name:<10} ready after {seconds:.1f} s" if seconds is not None else f"  {name}", flush=True)
            if samples is not None:
                documents, chunks = ingest_folder(config.gateway_url, admin[0], samples)
                print(f"Loaded the sample knowledge base: {documents} documents, {chunks} chunks.")
            print(f"\nTutorbook is ready after {time.monotonic() - started:.0f} s at {config.gateway_url}")
            print(f"API key:   {api[0]}" + ("  (new, saved in .env)" if created else "  (from .env or environment)"))
            print(f"Admin key: {admin[0]}")
            print(f"\nTry it:\n{curl_example(config.gateway_url, api[0])}\n\nCtrl-C stops everything.", flush=True)
            supervisor = Supervisor(stack.services, stack.restart, say=lambda line: print(line, file=sys.stderr))
            try:
                while True:
                    supervisor.check()
                    time.sleep(1)
            except ServiceKeepsFailingError as exc:
                print(f"Stopping: {exc}", file=sys.stderr)
                sys.exit(1)
    except KeyboardInterrupt:
        print("\nStopped.")


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start the whole stack and keep it running until Ctrl-C")
    run_parser.add_argument("--samples", type=Path, default=Path("samples/knowledge_base"))
    run_parser.add_argument("--no-samples", action="store_true", help="do not load the sample knowledge base")
    args = parser.parse_args()
    if args.command == "run":
        run(None if args.no_samples else args.samples)


if __name__ == "__main__":
    main()
