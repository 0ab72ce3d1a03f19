"""The tier-cost arithmetic of ``make tier-costs``: a kind's totals to one request's cost, the mix's
weights, and what a rate asks of each tier."""

import pytest

from tutorbook_devstack.tier_costs import KindCost, needs, weighted


def test_one_request_of_the_mix_weighs_each_kinds_mean_by_its_share() -> None:
    rag = KindCost(requests=2, round_trips=8.0, prompt_tokens=1000.0, generated_tokens=40.0)
    rag.cpu_seconds.update(gateway=0.010, retriever=0.030, generator=2.0)
    hit = KindCost(requests=4, round_trips=4.0, redis_commands=12.0)
    hit.cpu_seconds.update(gateway=0.004)
    per_kind = {"rag": rag.per_request(), "cache_hit": hit.per_request()}
    assert per_kind["rag"]["cpu_ms"]["retriever"] == pytest.approx(15.0) and per_kind["rag"]["prompt_tokens"] == 500
    request = weighted(per_kind, {"rag": 3.0, "cache_hit": 1.0})  # shares need not add up to one
    assert request["cpu_ms"]["gateway"] == pytest.approx(0.75 * 5.0 + 0.25 * 1.0)
    assert request["redis_round_trips"] == pytest.approx(0.75 * 4.0 + 0.25 * 1.0)
    assert request["generated_tokens"] == pytest.approx(0.75 * 20.0)
    at = needs(request, redis_per_second=50_000.0, rates=(100, 10000))
    assert at["100"]["gateway_cores"] == pytest.approx(100 * 4.0 / 1000)
    assert at["10000"]["redis_round_trips_per_second"] == pytest.approx(10000 * 3.25)
    assert request["redis_commands"] == pytest.approx(0.25 * 3.0)
    assert at["10000"]["redis_processes"] == pytest.approx(10000 * 0.75 / 50_000)
    assert at["10000"]["prompt_tokens_per_second"] == pytest.approx(10000 * 375)


def test_a_mix_with_a_kind_never_measured_is_refused_rather_than_made_cheaper() -> None:
    per_kind = {"rag": KindCost(requests=1).per_request(), "adapter": KindCost().per_request()}
    with pytest.raises(ValueError, match="adapter"):
        weighted(per_kind, {"rag": 0.5, "adapter": 0.5})
