import itertools

from tutorbook_retriever.chunking import chunk_document, count_tokens, overlap_tail, split_oversized, split_sections

DOC = """# Product

Intro paragraph.

## Specs
- Price: $10

### Power
Uses 5 W.

## Care
Wipe it.
"""


def test_sections_follow_the_heading_path() -> None:
    assert split_sections(DOC) == [
        ("Product", "Intro paragraph."),
        ("Product > Specs", "- Price: $10"),
        ("Product > Specs > Power", "Uses 5 W."),
        ("Product > Care", "Wipe it."),
    ]


def test_text_before_any_heading_has_an_empty_path() -> None:
    assert split_sections("plain text\n\nmore") == [("", "plain text\n\nmore")]


def test_tokens_are_words_and_punctuation() -> None:
    assert count_tokens("Price: $10, really!") == 7


def test_chunks_respect_the_budget_and_keep_every_paragraph() -> None:
    text = "# T\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(10)) + "\n\n## B\n" + "z " * 60
    chunks = chunk_document(text, 80)
    assert all(count_tokens(chunk.text) <= 80 for chunk in chunks)
    assert chunks[-1].section == "T > B" and chunks[-1].text == ("z " * 60).strip()
    assert {f"Paragraph {i} " for i in range(10)} <= {
        f"Paragraph {i} " for chunk in chunks for i in range(10) if f"Paragraph {i} " in chunk.text
    }


def test_small_sections_share_a_chunk_and_keep_their_headings() -> None:
    chunks = chunk_document(DOC, 200)
    assert len(chunks) == 1
    assert chunks[0].section == "Product"
    assert chunks[0].text == "Intro paragraph.\n\nSpecs\n- Price: $10\n\nPower\nUses 5 W.\n\nCare\nWipe it."


def test_a_chunk_that_starts_a_section_is_labelled_with_it() -> None:
    chunks = chunk_document(DOC, 6)
    assert [chunk.section for chunk in chunks] == [
        "Product",
        "Product > Specs",
        "Product > Specs > Power",
        "Product > Care",
    ]


def test_an_oversized_paragraph_is_cut_at_sentences_then_words() -> None:
    pieces = split_oversized("One two three. Four five six. " + "zz " * 50, 10)
    assert all(count_tokens(piece) <= 10 for piece in pieces)
    assert pieces[0] == "One two three. Four five six."  # whole sentences, packed
    assert " ".join(pieces).count("zz") == 50


def test_consecutive_chunks_of_a_section_overlap_by_whole_sentences() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(12))
    paragraphs = "\n\n".join([body[:120], body[120:240], body[240:]])
    chunks = chunk_document(f"# Long\n\n{paragraphs}", 40, overlap_tokens=12)
    assert len(chunks) > 1
    for previous, current in itertools.pairwise(chunks):
        tail = overlap_tail(previous.text, 12)
        assert tail and current.text.startswith(tail)


def test_no_overlap_when_asked_for_none() -> None:
    body = "\n\n".join(f"Paragraph {i} has some words in it." for i in range(6))
    chunks = chunk_document(body, 20, overlap_tokens=0)
    assert sum(chunk.text.count("Paragraph") for chunk in chunks) == 6
