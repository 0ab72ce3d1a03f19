"""The grounded reader's training data: the gateway's own RAG prompt, the answering passage among
distractors and cited where it sits, and some examples that no passage answers."""

import csv
import json
from pathlib import Path

from tutorbook_common.rag_prompt import RAG_SYSTEM_PROMPT
from tutorbook_training.grounded_reader import NOT_ANSWERED, build, question_about


def manual(folder: Path) -> Path:
    sections = {
        f"section_{n}": {"id": f"section_{n}", "title": title, "text": [f"{title} is explained here. " * 4, "More."]}
        for n, title in enumerate(["Using Smart Hub", "Connecting an Antenna", "Picture Mode", "Sound Output"])
    }
    (folder / "smart_tv_remote_manual_corpus.json").write_text(json.dumps(sections))
    with (folder / "smart_tv_remote_50_questions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["question", "section_path", "answer"])
        writer.writeheader()
        writer.writerow({"question": "How do I pick a picture mode?", "section_path": "Picture>Picture Mode",
                         "answer": "Picture Mode is explained here. Then press OK."})  # fmt: skip
        writer.writerow({"question": "Where is it?", "section_path": "Picture>Picture Mode",
                         "answer": "Text the section does not hold."})  # fmt: skip
    return folder


def test_examples_use_the_served_prompt_and_cite_the_answering_passage(tmp_path: Path) -> None:
    examples = build(manual(tmp_path), limit=50, unanswerable=0.0, distractors=2, seed=0)
    assert (
        len(examples) == 5
    )  # 4 sections' generated questions and 1 annotated question (the other's answer is not shown)
    for example in examples:
        messages: list[dict[str, str]] = example["messages"]  # type: ignore[assignment]
        system, user, answer = messages
        assert system["content"] == RAG_SYSTEM_PROMPT and "<sources>" in user["content"]
        cited = int(answer["content"].rsplit("[", 1)[1].rstrip("]"))
        passage = user["content"].split(f"[{cited}] ", 1)[1].split("\n\n[", 1)[0]
        assert answer["content"].split(" [")[0].split(". ")[0] in passage


def test_a_share_of_examples_has_no_answering_passage(tmp_path: Path) -> None:
    examples = build(manual(tmp_path), limit=50, unanswerable=1.0, distractors=2, seed=0)
    assert all(e["messages"][-1]["content"] == NOT_ANSWERED for e in examples)  # type: ignore[index]


def test_questions_read_like_a_user_asking() -> None:
    assert question_about("Using Smart Hub") == "How do I use Smart Hub?"
    assert question_about("Picture Mode") == "What does the manual say about picture mode?"
