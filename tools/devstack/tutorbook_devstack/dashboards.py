"""The Grafana dashboards, as code: ``python -m tutorbook_devstack.dashboards`` writes
``deploy/grafana/dashboards/*.json`` (used as they are by docker-compose and the Kubernetes manifests).

Every panel's queries are evaluated against a live Prometheus scraping the real stack in
``tests/e2e/test_observability.py``: a query that returns nothing fails the test. Ratios use
``or vector(0)`` on their numerator so that "nothing went wrong" reads 0, not "No data".
"""

import json
from pathlib import Path

from tutorbook_devstack.dashboard_parts import (
    RATE,
    Dashboard,
    Panel,
    Query,
    dashboard_json,
    quantile,
    quantiles,
    ratio,
)

REPO = Path(__file__).resolve().parents[3]
OUTPUTS = (REPO / "deploy" / "grafana" / "dashboards", REPO / "k8s" / "base" / "dashboards")


CHAT = "tutorbook_gateway_chat_requests_total"
CLAIMS = "tutorbook_gateway_answer_claims_total"

OVERVIEW = Dashboard(
    uid="tutorbook-overview",
    title="Tutorbook overview",
    file_name="tutorbook-overview.json",
    panels=(
        Panel(
            "Traffic by route",
            "How many chat requests per second, on which path?",
            (Query(f"sum by (route) (rate({CHAT}[{RATE}]))", "{{route}}"),),
            "reqps",
        ),
        Panel(
            "Route mix",
            "Which share of answers does each path serve (last hour)?",
            (Query(f"sum by (route) (increase({CHAT}[1h]))", "{{route}}"),),
            "short",
            "piechart",
        ),
        Panel(
            "Latency by route (p50, p95, p99)",
            "How long do answers take end to end, per path?",
            quantiles("tutorbook_gateway_chat_request_duration_seconds", "route"),
            "s",
        ),
        Panel(
            "Redis round trips per request by route",
            "How many Redis round trips does an answer cost (the capacity model's Redis load per request)?",
            (
                Query(
                    f"sum by (route) (rate(tutorbook_gateway_redis_round_trips_sum[{RATE}])) / "
                    f"sum by (route) (rate(tutorbook_gateway_redis_round_trips_count[{RATE}]))",
                    "mean {{route}}",
                ),
            ),
            "short",
        ),
        Panel(
            "Time to first token by route (p95)",
            "How soon does a streamed answer start?",
            quantiles("tutorbook_gateway_time_to_first_token_seconds", "route")[1:2],
            "s",
        ),
        Panel(
            "Error rate",
            "Which share of chat requests fail (4xx and 5xx)?",
            (Query(ratio(f'{CHAT}{{status=~"4..|5.."}}', CHAT), "errors"),),
            "percentunit",
        ),
        Panel(
            "Abstain rate",
            "How often does the router say it is not sure?",
            (Query(ratio(f'{CHAT}{{route="abstain"}}', CHAT), "abstain"),),
            "percentunit",
        ),
        Panel(
            "Cache hit rate",
            "Which share of cacheable requests are answered from the cache?",
            (
                Query(
                    ratio(
                        'tutorbook_gateway_cache_lookups_total{result=~"hit|semantic_hit"}',
                        'tutorbook_gateway_cache_lookups_total{result!="bypass"}',
                    ),
                    "hit rate",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Feedback by route",
            "Which path do users rate up or down (last hour)?",
            (Query("sum by (route, rating) (increase(tutorbook_gateway_feedback_total[1h]))", "{{route}} {{rating}}"),),
            "short",
            "barchart",
        ),
        Panel(
            "Unsupported claims by route and model",
            "Which share of checked sentences do the passages not support, per route and answering model?",
            (
                Query(
                    f'sum by (route, model) (rate({CLAIMS}{{verdict="unsupported"}}[{RATE}])) / '
                    f'sum by (route, model) (rate({CLAIMS}{{verdict!="hedge"}}[{RATE}]))',
                    "{{route}} {{model}}",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Answers withheld and runaway answers",
            "How many answers lost sentences to the claim check, said not sure, or were cut at a repeat?",
            (
                Query(f"sum by (outcome) (rate(tutorbook_gateway_answers_withheld_total[{RATE}]))", "{{outcome}}"),
                Query(f"sum(rate(tutorbook_gateway_runaway_answers_total[{RATE}]))", "cut at a repeat or budget"),
            ),
            "reqps",
        ),
        Panel(
            "Judge model verdicts",
            "With a judge model set: how many claims did it uphold, overrule, or fail to judge?",
            (Query(f"sum by (outcome) (rate(tutorbook_gateway_claims_judged_total[{RATE}]))", "{{outcome}}"),),
            "reqps",
        ),
        Panel(
            "Feedback by claim check",
            "Do users rate answers with unsupported sentences down more often (last hour)?",
            (
                Query(
                    "sum by (claims, rating) (increase(tutorbook_gateway_feedback_by_claims_total[1h]))",
                    "{{claims}} {{rating}}",
                ),
            ),
            "short",
            "barchart",
        ),
        Panel(
            "Top models and adapters",
            "Which models answer most (base, adapters; last hour)?",
            (Query(f'topk(5, sum by (model) (increase({CHAT}{{model!="none"}}[1h])))', "{{model}}"),),
            "short",
            "bargauge",
        ),
        Panel(
            "Router decisions by rule",
            "Which rule decides the route (adapter match, relevant passage, small talk...)?",
            (
                Query(
                    f"sum by (route, rule) (rate(tutorbook_gateway_router_decisions_total[{RATE}]))",
                    "{{route}}: {{rule}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Phase latency (p95)",
            "Where does a request spend its time: state, retrieval, routing, generation?",
            quantiles("tutorbook_gateway_phase_duration_seconds", "phase")[1:2],
            "s",
        ),
        Panel(
            "Best retrieval score (median)",
            "How relevant is the best passage the router sees?",
            (quantile(0.5, "tutorbook_gateway_retrieval_top_score", "median top score"),),
            "short",
        ),
        Panel(
            "Refused requests",
            "Are keys hitting rate limits, or failing authentication?",
            (
                Query(
                    f"sum by (limit) (rate(tutorbook_gateway_rate_limited_requests_total[{RATE}]))",
                    "rate limited: {{limit}}",
                ),
                Query(f"sum by (reason) (rate(tutorbook_gateway_auth_failures_total[{RATE}]))", "auth: {{reason}}"),
            ),
            "reqps",
        ),
        Panel(
            "Upstream and state errors",
            "Are the retriever, the generator or Redis failing?",
            (
                Query(
                    f"sum by (service, kind) (rate(tutorbook_gateway_upstream_errors_total[{RATE}]))",
                    "{{service}} {{kind}}",
                ),
                Query(
                    f"sum by (component) (rate(tutorbook_gateway_state_errors_total[{RATE}]))", "redis: {{component}}"
                ),
            ),
            "reqps",
        ),
        Panel(
            "Adapter uploads",
            "Are uploads stored or refused?",
            (Query(f"sum by (result) (rate(tutorbook_gateway_adapter_uploads_total[{RATE}]))", "{{result}}"),),
            "reqps",
        ),
        Panel(
            "Adapter rollouts: each version's answers and latency",
            "Is a rollout's candidate answering as well and as fast as the active version?",
            (
                Query(
                    f"sum by (adapter, version, role, outcome) (rate(tutorbook_gateway_rollout_answers_total[{RATE}]))",
                    "{{adapter}} v{{version}} {{role}} {{outcome}}",
                ),
                Query(
                    "histogram_quantile(0.95, sum by (le, adapter, version, role) "
                    f"(rate(tutorbook_gateway_rollout_answer_duration_seconds_bucket[{RATE}])))",
                    "p95 s {{adapter}} v{{version}} {{role}}",
                ),
                Query(
                    f"sum by (adapter, outcome) (rate(tutorbook_gateway_rollout_comparisons_total[{RATE}]))",
                    "{{adapter}} answered by both: {{outcome}}",
                ),
            ),
            "short",
        ),
        Panel(
            "Services up",
            "Is every service answering Prometheus?",
            (Query('up{job=~"tutorbook-.*"}', "{{job}}"),),
            "short",
            "stat",
        ),
    ),
)

GENERATOR = Dashboard(
    uid="tutorbook-generator",
    title="Tutorbook generator (vLLM)",
    file_name="tutorbook-generator.json",
    panels=(
        Panel(
            "Time to first token (p50, p95, p99)",
            "How long do requests wait for their first token in vLLM?",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[{RATE}])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
            "s",
        ),
        Panel(
            "Inter-token latency (p50, p95)",
            "How fast do tokens follow each other?",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket[{RATE}])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
            "s",
        ),
        Panel(
            "Queue", "Are requests waiting for a slot?", (Query("sum(vllm:num_requests_waiting)", "waiting"),), "short"
        ),
        Panel(
            "Running requests",
            "How many requests generate at once?",
            (Query("sum(vllm:num_requests_running)", "running"),),
            "short",
        ),
        Panel(
            "KV cache use",
            "How full is the KV cache?",
            (Query("max(vllm:kv_cache_usage_perc)", "KV cache"),),
            "percentunit",
        ),
        Panel(
            "LoRA adapters in use",
            "Which adapters are running or waiting, and how many may load at once?",
            (
                Query(
                    "max by (running_lora_adapters, waiting_lora_adapters) (vllm:lora_requests_info)",
                    "running: {{running_lora_adapters}} waiting: {{waiting_lora_adapters}}",
                ),
                Query("max(vllm:lora_requests_info) by (max_lora)", "max loaded: {{max_lora}}"),
            ),
            "short",
            "table",
        ),
        Panel(
            "Tokens per second",
            "How many prompt and generated tokens does vLLM process?",
            (
                Query(f"sum(rate(vllm:prompt_tokens_total[{RATE}]))", "prompt"),
                Query(f"sum(rate(vllm:generation_tokens_total[{RATE}]))", "generated"),
            ),
            "short",
        ),
        Panel(
            "Finished requests by reason",
            "Do requests stop, hit their length limit, or get aborted?",
            (Query(f"sum by (finished_reason) (rate(vllm:request_success_total[{RATE}]))", "{{finished_reason}}"),),
            "reqps",
        ),
    ),
)

RETRIEVER = Dashboard(
    uid="tutorbook-retriever",
    title="Tutorbook retriever",
    file_name="tutorbook-retriever.json",
    panels=(
        Panel(
            "Ingested documents by result",
            "How many documents are created, updated or unchanged?",
            (Query(f"sum by (status) (rate(tutorbook_retriever_documents_ingested_total[{RATE}]))", "{{status}}"),),
            "short",
        ),
        Panel(
            "Ingest failures by reason",
            "Are ingest requests refused, and why?",
            (
                Query(
                    f"sum by (reason) (rate(tutorbook_retriever_ingest_failures_total[{RATE}])) or vector(0)",
                    "{{reason}}",
                ),
            ),
            "short",
        ),
        Panel(
            "Search latency by mode (p50, p95, p99)",
            "How long does a search take (embedding included)?",
            quantiles("tutorbook_retriever_search_duration_seconds", "mode"),
            "s",
        ),
        Panel(
            "Query embedding (p95)",
            "How long does embedding a question take?",
            (quantile(0.95, "tutorbook_retriever_query_embedding_duration_seconds", "p95"),),
            "s",
        ),
        Panel(
            "Index size",
            "How many documents and chunks are searchable?",
            (
                Query("sum(tutorbook_retriever_indexed_documents)", "documents"),
                Query("sum(tutorbook_retriever_indexed_chunks)", "chunks"),
            ),
            "short",
        ),
        Panel(
            "Index version",
            "When did the searchable content last change?",
            (Query("max(tutorbook_retriever_index_version) / 1e9", "changed at"),),
            "dateTimeAsIso",
            "stat",
        ),
        Panel(
            "Ingest latency (p95)",
            "How long does an ingest request take?",
            (quantile(0.95, "tutorbook_retriever_ingest_duration_seconds", "p95"),),
            "s",
        ),
    ),
)

DASHBOARDS = (OVERVIEW, GENERATOR, RETRIEVER)


def rendered() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {d.file_name: json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS}


def main() -> None:
    """Write the dashboards for docker-compose and for the Kubernetes base (kustomize reads only inside its tree)."""
    for folder in OUTPUTS:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in rendered().items():
            (folder / name).write_text(text, encoding="utf-8")
            print(f"wrote {folder / name}")


if __name__ == "__main__":
    main()
