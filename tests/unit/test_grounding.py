"""The claim check's pure parts: sentences, the runaway guard, facts, support and the three policies."""

from tutorbook_grounding.facts import missing_facts, negated
from tutorbook_grounding.policy import NOT_SURE, UNSUPPORTED_MARK, ClaimsPolicy, apply_policy
from tutorbook_grounding.sentences import RunawayGuard, split_sentences
from tutorbook_grounding.support import (
    HEDGE,
    Claim,
    Passage,
    SupportThresholds,
    candidates_of,
    claim_sentences,
    is_hedge,
    judge,
)

HUB = Passage(
    "Brightleaf Hub > Offline",
    "Local automations keep running when the internet is down. Remote control needs the internet.",
)
PRICE = Passage("AeroPure 300 > Price", "The AeroPure 300 costs $249. A replacement filter (AP3-F) costs $39.")


def streamed(text: str, guard: RunawayGuard, size: int = 5) -> str:
    out = "".join(guard.feed(text[i : i + size]) for i in range(0, len(text), size))
    return out + guard.finish()


def test_sentences_split_at_ends_and_lines_but_not_decimals_or_list_numbers() -> None:
    text = "1. It has a PM2.5 sensor [1].\n2. It costs $2.50 per day. Yes!"
    assert split_sentences(text) == ["It has a PM2.5 sensor [1].", "It costs $2.50 per day.", "Yes!"]


def test_a_repeated_sentence_ends_the_answer_before_it_repeats() -> None:
    guard = RunawayGuard(max_sentences=8)
    text = "Check the battery. You may need to replace the battery. 3. You may need to replace the battery. And"
    assert streamed(text, guard).strip() == "Check the battery. You may need to replace the battery."
    assert guard.stopped


def test_the_sentence_budget_ends_a_long_answer() -> None:
    guard = RunawayGuard(max_sentences=2)
    text = streamed("One fact here. Two facts here. Three facts here.", guard)
    assert text.strip() == "One fact here. Two facts here."
    assert guard.stopped


def test_an_answer_within_budget_passes_whole() -> None:
    guard = RunawayGuard(max_sentences=8)
    assert streamed("Two years [1]. It starts at delivery", guard) == "Two years [1]. It starts at delivery"
    assert not guard.stopped


def test_numbers_units_and_codes_must_be_stated_by_the_passage() -> None:
    passage = f"{PRICE.heading}\n{PRICE.text}"
    assert missing_facts("The AeroPure 300 costs $249 [1].", passage) == []
    assert missing_facts("The AeroPure 500 costs $249 [1].", passage) == ["500"]
    assert missing_facts("The filter costs $49.", passage) == ["49 usd"]
    assert missing_facts("Use filter AP3-G.", passage) == ["ap3-g"]
    assert missing_facts("It runs 90 hours.", "It runs up to 90 min.") == ["90 hour"]
    assert missing_facts("It runs 90 minutes.", "It runs up to 90 min.") == []


def test_negation_is_read_from_the_words() -> None:
    assert negated("No, you cannot use the hub offline.")
    assert negated("It doesn't need a hub.")
    assert not negated("Local automations keep running when the internet is down.")


def similarity_by_words(sentences: list[str], candidates: list[str]) -> list[list[float]]:
    def words(text: str) -> set[str]:
        return {w.strip(".,[]!?$").lower() for w in text.split()} - {""}

    return [[len(words(s) & words(c)) / max(len(words(s)), 1) for c in candidates] for s in sentences]


def check(answer: str, passages: list[Passage]) -> list[Claim]:
    sentences = claim_sentences(answer)
    candidates = candidates_of(passages, 100)
    scores = similarity_by_words(sentences, [c.text for c in candidates])
    return judge(sentences, candidates, scores, passages, SupportThresholds())


def test_a_sentence_is_supported_by_the_passage_sentence_that_states_it() -> None:
    [claim] = check("The AeroPure 300 costs $249 [1].", [HUB, PRICE])
    assert claim.supported and claim.citation == 1 and claim.quote == "The AeroPure 300 costs $249."


def test_the_opposite_of_the_passage_is_not_supported() -> None:
    [claim] = check("No. You cannot use local automations when the internet is down [1].", [HUB])
    assert not claim.supported and "opposite" in claim.reason and claim.citation is None


def test_a_wrong_number_is_not_supported_and_the_reason_names_it() -> None:
    [claim] = check("The AeroPure 300 costs $299 [1].", [PRICE])
    assert not claim.supported and "299" in claim.reason


def test_an_unrelated_sentence_is_not_supported_and_a_hedge_is_no_claim() -> None:
    unrelated, hedge = check("Replace the thermostat battery every month. I am not sure about that.", [HUB, PRICE])
    assert not unrelated.supported and unrelated.reason == "no passage sentence is close to it"
    assert hedge.supported and hedge.hedge


ANSWER = "The AeroPure 300 costs $249 [1]. It also cleans the car for free [1]."


def test_flag_keeps_every_sentence_and_marks_the_unsupported_one_without_its_citation() -> None:
    claims = check(ANSWER, [PRICE])
    text = apply_policy(ANSWER, claims, [PRICE], ClaimsPolicy.FLAG)
    assert text == f"The AeroPure 300 costs $249 [1]. It also cleans the car for free {UNSUPPORTED_MARK}."


def test_withhold_drops_the_unsupported_sentence() -> None:
    claims = check(ANSWER, [PRICE])
    assert apply_policy(ANSWER, claims, [PRICE], ClaimsPolicy.WITHHOLD) == "The AeroPure 300 costs $249 [1]."


def test_withhold_says_not_sure_with_the_closest_passages_when_nothing_is_supported() -> None:
    answer = "The AeroPure 300 costs $299 [1]."
    text = apply_policy(answer, check(answer, [PRICE]), [PRICE], ClaimsPolicy.WITHHOLD)
    assert text.startswith(NOT_SURE) and '"The AeroPure 300 costs $249." [1]' in text


def test_quote_answers_with_the_supporting_passage_sentences() -> None:
    claims = check(ANSWER, [PRICE])
    assert apply_policy(ANSWER, claims, [PRICE], ClaimsPolicy.QUOTE) == '"The AeroPure 300 costs $249." [1]'


def test_a_fully_supported_answer_keeps_its_formatting() -> None:
    answer = "1. The AeroPure 300 costs $249 [1].\n2. A replacement filter (AP3-F) costs $39 [1]."
    claims = check(answer, [PRICE])
    assert all(claim.supported for claim in claims)
    assert apply_policy(answer, claims, [PRICE], ClaimsPolicy.FLAG) == answer


def test_a_negated_claim_cannot_lean_on_another_negative_sentence_past_the_one_that_answers() -> None:
    careplus = Passage(
        "CarePlus > Coverage",
        "CarePlus covers accidental damage such as drops and spills. CarePlus does not cover loss or theft.",
    )
    [claim] = check("No, CarePlus does not cover accidental damage like drops.", [careplus])
    assert not claim.supported and "opposite" in claim.reason


def test_a_negative_claim_about_the_product_is_no_hedge_but_one_about_the_sources_is() -> None:
    assert HEDGE.search("The sources do not mention an E4 error.")
    assert not HEDGE.search("CarePlus does not cover accidental damage.")


def test_a_supported_sentence_cites_the_passage_that_supports_it() -> None:
    answer = "The AeroPure 300 costs $249 [2]."
    claims = check(answer, [PRICE, HUB])
    assert apply_policy(answer, claims, [PRICE, HUB], ClaimsPolicy.FLAG) == "The AeroPure 300 costs $249 [1]."


def test_an_empty_answer_is_not_sure_unless_flagged() -> None:
    assert apply_policy("", [], [PRICE], ClaimsPolicy.FLAG) == ""
    assert apply_policy("", [], [PRICE], ClaimsPolicy.WITHHOLD).startswith(NOT_SURE)


def test_strict_facts_do_not_misfire_on_units_written_together_or_codes_inside_codes() -> None:
    assert missing_facts("It uses 5GHz Wi-Fi and has a 2-year warranty [1, 2].", "5 GHz Wi-Fi; 2 year warranty.") == []
    assert missing_facts("Error E4 appears.", "Error E45 appears after 4 days.") == ["e4"]
    assert missing_facts("Pair up to 4 in the app.", "Pair up to 4 bulbs.") == []


def test_a_fact_in_a_hedge_is_still_checked() -> None:
    assert not is_hedge("If you can't find the button, hold power for 10 seconds.")
    assert is_hedge("I am not sure: the sources do not say.")


def test_short_steps_may_repeat_but_the_budget_counts_them() -> None:
    guard = RunawayGuard(max_sentences=8)
    steps = "1. Press Home. 2. Press OK. 3. Select Reset. 4. Press OK. 5. Done."
    assert streamed(steps, guard) == steps and not guard.stopped


def test_a_short_sentence_repeated_a_third_time_ends_the_answer() -> None:
    guard = RunawayGuard(max_sentences=8)
    text = "Tap the Home screen. Tap the Screen. Tap the Screen. Tap the Screen. Tap the Screen."
    assert streamed(text, guard).strip() == "Tap the Home screen. Tap the Screen. Tap the Screen." and guard.stopped


def test_a_lone_citation_mark_is_no_sentence() -> None:
    assert split_sentences("Two years from delivery [1]. [1]") == ["Two years from delivery [1]."]
    assert claim_sentences("The AeroPure 300 costs $249 [1]. Yes.") == ["The AeroPure 300 costs $249 [1]. Yes."]
