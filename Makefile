# Tutorbook: `make run` starts the whole stack; `make test` runs lint, types and every test tier.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint typecheck unit integration e2e clean settings-docs doc-figures

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

# The unit and integration tiers run beside the e2e tier (logs in data/test-logs/), then the time by tier.
test: lint typecheck
	$(PY) -m tutorbook_devstack.test_tiers

# docs/settings.md from the settings classes (a test fails when it is stale).
settings-docs: install
	$(PY) -m tutorbook_devstack.settings_reference

# The figure tables in the docs from the committed result files in data/bench and data/eval (a test fails
# when a page differs from its files).
doc-figures: install
	$(PY) -m tutorbook_evals.doc_figures

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Retrieval quality and speed (read-only use of ../shared/eval-data; nothing is copied).
EVAL_DATA ?= ../shared/eval-data/emanual-qa
# A checkout of github.com/pashaAbri/mt-rag-benchmark at 8bb7127 (docs/retriever.md: the held-out corpus)
MTRAG_DATA ?= ../mt-rag-benchmark

.PHONY: capacity tier-costs eval-claims eval-retrieval eval-retrieval-mtrag eval-second-stages eval-tutors eval-embedding-classifiers eval-routing eval-semantic-cache eval-answers grounded-reader bench bench-retrieval bench-search-index bench-gateway bench-cache bench-tutor bench-rollout demo-adapter compare compare-all
eval-retrieval: install
	$(PY) -m tutorbook_evals.retrieval emanual-s10 --data $(EVAL_DATA) --precision fp32 int8 \
		--plot docs/images/eval-emanual-s10.png --json data/eval/retrieval-emanual-s10.json
	$(PY) -m tutorbook_evals.retrieval emanual-tv --data $(EVAL_DATA) --precision int8 fp32 \
		--json data/eval/retrieval-emanual-tv.json
	$(PY) -m tutorbook_evals.retrieval samples --data samples --precision int8 fp32 --json data/eval/retrieval-samples.json
	$(PY) -m tutorbook_evals.retrieval emanual-tv-held-out --data $(EVAL_DATA) --precision int8 fp32 \
		--json data/eval/retrieval-held-out.json
	$(PY) -m tutorbook_evals.doc_figures

# A LoRA classifier answering by label against two answering by code (letters, then words, the default):
# held-out accuracy and calibration on support triage, support intents, 20 and 5 banking77 intents
# (about 2 hours: twelve adapters trained).
eval-tutors: install
	$(PY) -m tutorbook_evals.tutors --codes letters
	$(PY) -m tutorbook_evals.tutors --answers code --codes words --json data/eval/tutors-word-codes.json
	$(PY) -m tutorbook_evals.doc_figures

# The documentation corpus held out of every retrieval choice (needs the MTRAG checkout, docs/retriever.md).
eval-retrieval-mtrag: install
	$(PY) -m tutorbook_evals.retrieval mtrag-cloud --data $(MTRAG_DATA) --precision int8 fp32 \
		--json data/eval/retrieval-mtrag-cloud.json
	$(PY) -m tutorbook_evals.doc_figures

# Second stages over the default hybrid search (the heading as its own field, page-level evidence, a
# cross-encoder trained on each corpus's own headings), side by side on every corpus (about 40 minutes).
eval-second-stages: install
	$(PY) -m tutorbook_evals.retrieval_rerank emanual-s10 --data $(EVAL_DATA) --cross-encoder --json data/eval/rerank-emanual-s10.json
	$(PY) -m tutorbook_evals.retrieval_rerank emanual-tv --data $(EVAL_DATA) --cross-encoder --json data/eval/rerank-emanual-tv.json
	$(PY) -m tutorbook_evals.retrieval_rerank emanual-tv-held-out --data $(EVAL_DATA) --cross-encoder \
		--json data/eval/rerank-emanual-tv-held-out.json
	$(PY) -m tutorbook_evals.retrieval_rerank mtrag-cloud --data $(MTRAG_DATA) --cross-encoder \
		--json data/eval/rerank-mtrag-cloud.json
	$(PY) -m tutorbook_evals.doc_figures

# The embedding classifier's held-out accuracy and calibration, before and after its fitted temperature.
eval-embedding-classifiers: install
	$(PY) -m tutorbook_evals.embedding_classifiers
	$(PY) -m tutorbook_evals.doc_figures

# Routing accuracy and confusion matrix (CLINC150 from ../shared/eval-data, or TUTORBOOK_EVAL_DATA).
eval-routing: install
	$(PY) -m tutorbook_evals.routing --split test --json data/eval/routing.json
	$(PY) -m tutorbook_evals.doc_figures

# How often the (optional) semantic cache would answer with another question's answer, per threshold.
eval-semantic-cache: install
	$(PY) -m tutorbook_evals.semantic_cache

# Answer correctness and the claim check against the stack `make run` started (about 5 minutes here):
# 91 questions through "auto", scored against the hand labels (docs/answers.md).
eval-answers: install
	$(PY) -m tutorbook_evals.answers run --ingest --policy flag --output data/answers/latest.json
	$(PY) -m tutorbook_evals.answers score data/answers/latest.json --labels docs/answers/labelled-answers.jsonl \
		--output data/eval/answers.json
	$(PY) -m tutorbook_evals.doc_figures

# The claim check on answers its development never saw (needs `make run` in another terminal and the eval
# data): 40 new sample questions and the 29 E-Manual S10 questions outside the development sample, scored
# with docs/answers/held-out-labels.jsonl into data/eval/claims-held-out.json (docs/answers.md).
eval-claims: install
	$(PY) -m tutorbook_evals.answers run --sets emanual-s10-held-out --ingest --policy flag \
		--output data/answers/held-out-s10.json
	$(PY) -m tutorbook_evals.answers run --sets held-out --policy flag --output data/answers/held-out-samples.json
	$(PY) -m tutorbook_evals.answers score data/answers/held-out-samples.json data/answers/held-out-s10.json \
		--labels docs/answers/held-out-labels.jsonl --output data/eval/claims-held-out.json
	$(PY) -m tutorbook_evals.doc_figures

# The grounded reader: RAFT-style examples from the Smart TV manual, then a LoRA adapter (about 13 minutes
# on 2 CPU cores); upload it and set TUTORBOOK_GATEWAY_ANSWERS__READER_ADAPTER=grounded-reader (docs/answers.md).
grounded-reader: install
	$(VENV)/bin/tutorbook-build-reader-data $(EVAL_DATA) --output data/reader/train.jsonl
	$(VENV)/bin/tutorbook-train-adapter data/reader/train.jsonl --name grounded-reader --max-length 512 --epochs 2 \
		--no-route-examples --output data/reader/adapter

# Search latency by index size and ingestion speed (its own retriever on port 18201); writes
# data/bench/retrieval.json and overwrites docs/images/search-latency.png (in git).
bench-retrieval: install
	$(PY) -m tutorbook_evals.bench_retrieval --data $(EVAL_DATA) --manuals $(EVAL_DATA) --plot docs/images/search-latency.png

# Where a large index's search time goes on Qdrant Edge (dense, sparse, hybrid) and what building its HNSW
# graph with optimize() changes, at 100,000 and 250,000 chunks; writes data/bench/search-index.json (in git).
bench-search-index: install
	$(PY) -m tutorbook_evals.bench_search_index --data $(EVAL_DATA)

# Gateway overhead against vLLM directly (starts its own stack on ports 18000-18379).
bench-gateway: install
	$(PY) -m tutorbook_devstack.bench_gateway
	$(PY) -m tutorbook_evals.doc_figures

# Response cache: a hit against a miss end to end, and what Redis adds to a miss (ports 18100-18479).
bench-cache: install
	$(PY) -m tutorbook_devstack.bench_cache

# A LoRA classifier (5, 24, 77 labels) against one generated token, and answers/s at 8 clients (ports 18600-18603).
bench-tutor: install
	$(PY) -m tutorbook_evals.bench_tutor
	$(PY) -m tutorbook_evals.doc_figures

# Every benchmark on the real stack, one after the other (each starting its own stack, ports 18000-18603), then
# docs/benchmarks.md from their figures: JSON in data/bench/, plots in docs/images/ (--quick, --only: see --help).
# Overwrites docs/benchmarks.md and docs/images/bench-*.png (in git) and data/bench/*.json (not git-ignored).
bench: install
	$(PY) -m tutorbook_devstack.bench_all
	$(PY) -m tutorbook_evals.doc_figures

# The demo adapter (Brightleaf support triage, samples/support_triage): train with PEFT, score it against
# few-shot prompting on the held-out requests (both scores go into its card), upload it to the stack that
# `make run` serves (start that first, in another terminal); then a second version trained for more epochs,
# uploaded as a candidate and rolled out (a canary and shadow answers) until the evidence decides.
ADAPTER_OUT ?= data/adapters-built/support-triage
demo-adapter: install
	$(PY) -m tutorbook_training.train samples/support_triage/train.jsonl --name support-triage --output $(ADAPTER_OUT)
	$(PY) -m tutorbook_training.evaluate $(ADAPTER_OUT) samples/support_triage/test.jsonl \
		--shots-from samples/support_triage/train.jsonl
	$(PY) -m tutorbook_training.upload $(ADAPTER_OUT)
	$(PY) -m tutorbook_training.train samples/support_triage/train.jsonl --name support-triage --epochs 15 \
		--output $(ADAPTER_OUT)-more-epochs
	$(PY) -m tutorbook_training.upload $(ADAPTER_OUT)-more-epochs --no-activate
	$(PY) -m tutorbook_devstack.rollout_demo support-triage

# Rollouts on the real stack: a shuffled-label candidate's canary, a more-epochs candidate's, and users'
# latency with and without shadow answers (ports 18500-18503; data/bench/rollout.json, docs/adapters.md).
bench-rollout: install
	$(PY) -m tutorbook_devstack.bench_rollout
	$(PY) -m tutorbook_evals.doc_figures

# Every path side by side on a dataset, through the stack `make run` serves (start it first, in another
# terminal): `make compare COMPARE_DATASET=support-triage COMPARE_ARGS=--train` (docs/compare.md).
COMPARE_DATASET ?= support-triage
COMPARE_ARGS ?= --train
compare: install
	$(PY) -m tutorbook_evals.compare.cli $(COMPARE_DATASET) $(COMPARE_ARGS)

# The three comparisons docs/compare.md quotes (about an hour on 2 CPU cores).
compare-all: install
	$(PY) -m tutorbook_evals.compare.cli support-triage --train
	$(PY) -m tutorbook_evals.compare.cli banking77 --labels 20 --train-per-label 15 --test-per-label 5 --train
	$(PY) -m tutorbook_evals.compare.cli emanual-s10 --ingest


# Load, soak and generated input against a stack each starts for itself (see docs/reliability.md).
.PHONY: load soak fuzz ha-check
# The request mix at 1, 8, 32 and 50 concurrent, 60 s each (ports 18500-18503).
# The capacity model (docs/scaling.md): one user's service times, CPU and vLLM's batching measured, then
# p50 and p95 predicted at 8 and 32 users before they are measured (ports 18500-18503; about 8 minutes).
# Overwrites data/bench/capacity.json and the table docs/scaling.md quotes from it.
capacity: install
	$(PY) -m tutorbook_devstack.capacity
	$(PY) -m tutorbook_evals.doc_figures

# What one request of the mix costs each tier (CPU, Redis round trips, tokens), and each tier's needs per rate.
tier-costs: install
	$(PY) -m tutorbook_devstack.tier_costs
	$(PY) -m tutorbook_evals.doc_figures

load: install
	$(PY) -m tutorbook_devstack.load --levels 1,8,32,50 --seconds 60 --json data/bench/load.json \
		--plot data/bench/load-memory.png

# 10 minutes at 50 concurrent (SOAK_MINUTES=30 for longer); memory of every process sampled each
# second, with its slope. Overwrites docs/images/soak-memory-$(SOAK_MINUTES)min.png (in git; docs/reliability.md
# shows it) and writes data/bench/soak-$(SOAK_MINUTES)min.json.
SOAK_MINUTES ?= 10
soak: install
	$(PY) -m tutorbook_devstack.load --levels '' --soak-minutes $(SOAK_MINUTES) --soak-concurrency 50 \
		--json data/bench/soak-$(SOAK_MINUTES)min.json --plot docs/images/soak-memory-$(SOAK_MINUTES)min.png

# schemathesis against every operation of the gateway's and the retriever's schemas: 500 cases that fit
# the schema and 500 that do not, per operation (ports 18510-18513).
fuzz: install
	$(PY) -m tutorbook_devstack.fuzz --cases 500

# Redis Sentinel's failover under traffic on the real stack (a primary, a replica, three sentinels; the
# primary killed): requests, 5xx, acknowledged writes lost, seconds without Redis. Writes data/bench/ha-check.json.
ha-check: install
	$(PY) -m tutorbook_devstack.ha_check
	$(PY) -m tutorbook_evals.doc_figures
