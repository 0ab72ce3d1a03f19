# Tutorbook: `make run` starts the whole stack; `make test` runs lint, types and every test tier.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint typecheck unit integration e2e clean

install:
	@bash scripts/install.sh

run: install
	@$(PY) -m tutorbook_devstack run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

e2e: install
	$(PY) -m pytest tests/e2e

test: lint typecheck
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Retrieval quality and speed (read-only use of ../shared/eval-data; nothing is copied).
EVAL_DATA ?= ../shared/eval-data/emanual-qa

.PHONY: eval-retrieval eval-routing eval-semantic-cache bench-retrieval bench-gateway bench-cache
eval-retrieval: install
	$(PY) -m tutorbook_retriever.evaluate emanual-s10 --data $(EVAL_DATA) --plot docs/images/eval-emanual-s10.png
	$(PY) -m tutorbook_retriever.evaluate emanual-tv --data $(EVAL_DATA)
	$(PY) -m tutorbook_retriever.evaluate samples --data samples

# Routing accuracy and confusion matrix (CLINC150 from ../shared/eval-data, or TUTORBOOK_EVAL_DATA).
eval-routing: install
	$(PY) -m tutorbook_evals.routing --split test

# How often the (optional) semantic cache would answer with another question's answer, per threshold.
eval-semantic-cache: install
	$(PY) -m tutorbook_evals.semantic_cache

bench-retrieval: install
	$(PY) -m tutorbook_retriever.benchmark --data $(EVAL_DATA) --plot docs/images/search-latency.png

# Gateway overhead against vLLM directly (starts its own stack on ports 18000-18379).
bench-gateway: install
	$(PY) -m tutorbook_devstack.bench_gateway

# Response cache: a hit against a miss end to end, and what Redis adds to a miss (ports 18100-18479).
bench-cache: install
	$(PY) -m tutorbook_devstack.bench_cache
