from tutorbook_retriever.chunking import chunk_document, split_oversized, split_sections

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


def test_chunks_respect_the_budget_and_keep_every_paragraph() -> None:
    text = "# T\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(10)) + "\n\n## B\n" + "z" * 390
    chunks = chunk_document(text, 400)
    assert all(len(chunk.text) <= 400 for chunk in chunks)
    assert chunks[-1].section == "T > B" and chunks[-1].text == "z" * 390
    assert sum(chunk.text.count("Paragraph") for chunk in chunks) == 10


def test_small_sections_share_a_chunk_and_keep_their_headings() -> None:
    chunks = chunk_document(DOC, 1000)
    assert len(chunks) == 1
    assert chunks[0].section == "Product"
    assert chunks[0].text == "Intro paragraph.\n\nSpecs\n- Price: $10\n\nPower\nUses 5 W.\n\nCare\nWipe it."


def test_a_chunk_that_starts_a_section_is_labelled_with_it() -> None:
    chunks = chunk_document(DOC, 20)
    assert [chunk.section for chunk in chunks] == [
        "Product",
        "Product > Specs",
        "Product > Specs > Power",
        "Product > Care",
    ]


def test_an_oversized_paragraph_is_cut_at_sentences_then_hard() -> None:
    pieces = split_oversized("One two three. Four five six. " + "z" * 50, 20)
    assert all(len(piece) <= 20 for piece in pieces)
    assert pieces[0] == "One two three."
    assert "".join(pieces).count("z") == 50
