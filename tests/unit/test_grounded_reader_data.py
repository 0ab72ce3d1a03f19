"""The grounded reader's training data: the gateway's own RAG prompt, the answering passage among
distractors and cited where it sits, and some examples that no passage answers."""

import csv
import json
import zipfile
from pathlib import Path

from tutorbook_grounding.prompt import RAG_SYSTEM_PROMPT
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


def test_archived_questions_are_answered_by_their_most_relevant_sentence_and_yes_no_ones_say_yes(
    tmp_path: Path,
) -> None:
    folder = manual(tmp_path)
    sections = json.loads((folder / "smart_tv_remote_manual_corpus.json").read_text())
    text = ["Recording keeps programmes for later.", "To delete a recording, press and hold Select.", "It is gone."]
    sections["section_9"] = {"id": "section_9", "title": "Recording", "text": text}
    (folder / "smart_tv_remote_manual_corpus.json").write_text(json.dumps(sections))
    # the archive's files are not valid JSON: a trailing comma here, as there
    entry = '{{"Section Hierarchy": "TV>Recording", "Link": "x", "Question": "{0}", "Answer": "{1}"}},'
    steps = "Recording keeps programmes for later. To delete a recording, press and hold Select. It is gone."
    with zipfile.ZipFile(folder / "smart_remote_QA.zip", "w") as archive:
        archive.writestr("Normal Q&A/normal.json", '{"All_Questions": [' + entry.format(
            "How do I delete a recording?", steps) + entry.format("Is there a way to delete a recording?", steps)
            + "]}")  # fmt: skip
        archive.writestr("Yes_No Q&A/yes.json", '{"All_Questions": [' + entry.format(
            "Can I delete a recording?", "Yes") + "]}")  # fmt: skip
    examples = build(folder, limit=50, unanswerable=0.0, distractors=2, seed=0)
    answers = {e["messages"][1]["content"].rsplit("Question: ", 1)[-1]: e["messages"][2]["content"] for e in examples}  # type: ignore[index]
    assert answers["How do I delete a recording?"].startswith("To delete a recording, press and hold Select.")
    assert answers["Can I delete a recording?"].startswith("Yes. To delete a recording, press and hold Select.")
    # "Yes." comes from an annotated yes, never from the question's first word
    assert answers["Is there a way to delete a recording?"].startswith("To delete a recording")
