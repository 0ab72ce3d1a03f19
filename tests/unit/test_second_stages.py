"""The second-stage levers measured by ``tutorbook_evals.retrieval_rerank``: what each does to an order."""

from collections.abc import Sequence

from tutorbook_evals.retrieval_rerank import mixed_order, page_evidence, title_field
from tutorbook_retriever.schemas import SearchHit
from tutorbook_training.reranker_pairs import FirstStage, Section, mine_groups


def hit(doc_id: str, score: float, chunk: int = 0, title: str = "") -> SearchHit:
    return SearchHit(
        doc_id=doc_id, chunk_id=f"{doc_id}#{chunk}", title=title or doc_id, section="", text=f"{doc_id} {chunk}",
        score=score,
    )  # fmt: skip


def ids(hits: Sequence[SearchHit]) -> list[str]:
    return [h.chunk_id for h in hits]


SECTIONS = [
    Section("tv-1", "Picture > Picture Mode", "Choose a picture mode."),
    Section("tv-2", "Sound > Sound Mode", "Choose a sound mode."),
    Section("tv-3", "Sound > Sound Output", "Choose the speakers."),
    Section("tv-4", "Picture > Expert Settings", "Brightness and contrast."),
    Section("tv-5", "Picture > Overview", "The picture menu."),
    Section("tv-6", "Sound > Overview", "The sound menu."),  # "Overview": two documents, names no one section
    Section("tv-7", "Network > Bluetooth", "Pair a device."),  # one word: too little of a question
]


def first_stage_over(sections: list[Section]) -> FirstStage:
    """Every section, the asked heading's own first: as a lexical first stage ranks a heading's section."""

    def first_stage(question: str) -> list[Section]:
        return sorted(sections, key=lambda section: section.heading.rsplit(" > ")[-1] != question)

    return first_stage


first_stage = first_stage_over(SECTIONS)


def test_each_group_is_a_heading_its_own_text_and_other_sections_the_first_stage_ranked_high() -> None:
    groups = mine_groups(SECTIONS, first_stage, max_groups=10, negatives=3)
    assert sorted(group.question for group in groups) == [
        "Expert Settings",
        "Picture Mode",
        "Sound Mode",
        "Sound Output",
    ]
    for group in groups:
        [own] = [s for s in SECTIONS if s.heading.endswith(group.question)]
        assert group.positive == own.text
        assert own.text not in group.negatives and len(set(group.negatives)) == 3


def test_mining_stops_at_the_cap_and_a_seed_gives_the_same_groups() -> None:
    assert len(mine_groups(SECTIONS, first_stage, max_groups=2)) == 2
    assert mine_groups(SECTIONS, first_stage, 3, seed=7) == mine_groups(SECTIONS, first_stage, 3, seed=7)


def test_a_heading_with_too_few_negatives_gives_no_group() -> None:
    assert mine_groups(SECTIONS[:3], first_stage_over(SECTIONS[:3]), max_groups=10, negatives=3) == []


def test_the_mix_follows_the_first_stage_at_weight_0_and_the_reranker_at_weight_1() -> None:
    hits = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    reranker = [0.0, 1.0, 3.0]
    assert ids(mixed_order(hits, reranker, 0.0)) == ["a#0", "b#0", "c#0"]
    assert ids(mixed_order(hits, reranker, 1.0)) == ["c#0", "b#0", "a#0"]


def test_page_evidence_lifts_a_page_with_several_matching_chunks() -> None:
    hits = [hit("one-strong", 0.8), hit("page", 0.7, 0), hit("page", 0.6, 1), hit("other", 0.5)]
    assert ids(page_evidence(0.0)("q", [], hits)) == ["one-strong#0", "page#0", "page#1", "other#0"]
    assert ids(page_evidence(0.3)("q", [], hits)) == ["page#0", "page#1", "one-strong#0", "other#0"]


class HeadingEmbedder:
    """Two-dimensional vectors: "sound" headings point one way, everything else the other."""

    dimension = 2

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] if "sound" in text.lower() else [0.0, 1.0] for text in texts]


def test_the_title_field_lifts_the_hit_whose_heading_matches_the_question() -> None:
    hits = [hit("picture", 0.9, title="Picture Mode"), hit("sound", 0.8, title="Sound Mode")]
    question_vector = [1.0, 0.0]  # about sound
    assert ids(title_field(HeadingEmbedder(), 0.0)("q", question_vector, hits)) == ["picture#0", "sound#0"]
    assert ids(title_field(HeadingEmbedder(), 0.4)("q", question_vector, hits)) == ["sound#0", "picture#0"]
