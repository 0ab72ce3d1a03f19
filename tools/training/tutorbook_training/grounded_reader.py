"""Training data for the grounded reader: a LoRA adapter that reads the numbered passages of the RAG prompt
and answers from them, in the spirit of retrieval-augmented fine-tuning (RAFT, Zhang et al. 2024).

Each example is the gateway's own RAG prompt (:mod:`tutorbook_grounding.prompt`) around a question: the
passage that answers it, placed at random among distractor passages, and the answer that quotes the
passage's sentence most relevant to the question and cites it ("Yes." first for a yes/no question); in a
share of the examples no passage answers, and the answer says so plainly. The questions come from the
Smart TV E-Manual: its annotated questions (the 50 of the CSV and the normal, paraphrased, compound and
yes/no questions of ``smart_remote_QA.zip``), and a few generated from section titles. The evaluation
asks about the S10 manual and the sample products, so the reader is scored on questions, passages and
products it never saw.

    tutorbook-build-reader-data ../shared/eval-data/emanual-qa --output data/reader/train.jsonl
    tutorbook-train-adapter data/reader/train.jsonl --name grounded-reader --max-length 512 --output DIR
"""

import argparse
import csv
import json
import random
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tutorbook_grounding.prompt import Source, build_rag_messages
from tutorbook_grounding.sentences import split_sentences
from tutorbook_grounding.support import content_words

NOT_ANSWERED = "I am not sure: the sources do not say."
ANNOTATED_ZIP = "smart_remote_QA.zip"  # the Smart TV manual's annotated questions (normal, paraphrased, yes/no)
# Its files are not valid JSON (unescaped quotes, trailing commas): each question is read on its own.
ZIPPED_QUESTION = re.compile(
    r'"Section Hierarchy"\s*:\s*"(.*?)",\s*"Link"\s*:\s*".*?",\s*"Question"\s*:\s*"(.*?)",\s*'
    r'"Answer"\s*:\s*"(.*?)"\s*\}',
    re.S,
)
GENERATED_SHARE = 0.2  # of the questions made from section titles, once annotated ones are there
PASSAGE_CHARS = 480  # each passage in a training prompt (three stay within 512 tokens with the question)
ANSWER_CHARS = 240
CONTEXT_CHARS = 1800
# "Using Smart Hub" asks "How do I use Smart Hub?": the manual's titles are mostly gerunds.
VERBS = {"using": "use", "connecting": "connect", "changing": "change", "setting": "set", "updating": "update",
         "turning": "turn", "running": "run", "adding": "add", "removing": "remove", "watching": "watch",
         "playing": "play", "selecting": "select", "managing": "manage", "resetting": "reset", "recording": "record",
         "viewing": "view", "creating": "create", "enabling": "enable", "adjusting": "adjust", "checking": "check",
         "finding": "find", "getting": "get", "requesting": "request", "launching": "launch", "editing": "edit",
         "configuring": "configure", "scheduling": "schedule", "locking": "lock", "listening": "listen"}  # fmt: skip


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Asked:
    question: str
    answer: str  # the answer's words, before the citation is added
    section: Section  # its text is what the prompt shows: it holds the answer


def read_sections(folder: Path) -> list[Section]:
    raw = json.loads((folder / "smart_tv_remote_manual_corpus.json").read_text(encoding="utf-8"))
    sections = [Section(s["id"], s["title"].strip(), " ".join(s["text"]).strip()) for s in raw.values()]
    return [section for section in sections if len(section.text) >= 80]


def opening(text: str, limit: int = ANSWER_CHARS) -> str:
    """The text's first sentences, up to ``limit`` characters (at least one whole sentence)."""
    kept = ""
    for sentence in split_sentences(text):
        if kept and len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    return kept


def annotated(folder: Path, by_title: dict[str, Section]) -> list[Asked]:
    """The manual's annotated questions (the CSV, and the archive's when it is there) whose section is in
    the corpus and shows their answer in the part of it a prompt holds (the reader must never learn to
    answer from elsewhere)."""
    rows = []
    with (folder / "smart_tv_remote_50_questions.csv").open(encoding="utf-8") as handle:
        rows += [(row["section_path"], row["question"], row["answer"]) for row in csv.DictReader(handle)]
    if (folder / ANNOTATED_ZIP).exists():
        with zipfile.ZipFile(folder / ANNOTATED_ZIP) as archive:
            for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
                rows += ZIPPED_QUESTION.findall(archive.read(name).decode("utf-8", errors="replace"))
    found: dict[str, Asked] = {}
    for path, question, answer in rows:
        section = by_title.get(path.split(">")[-1].strip())
        asked = None if section is None else answered(" ".join(question.split()), answer, section)
        if asked is not None:
            found.setdefault(asked.question.lower(), asked)
    return list(found.values())


def answered(question: str, annotated_answer: str, section: Section) -> Asked | None:
    """The question answered by the sentence of its annotated answer (or of the section, for a bare "Yes")
    that shares most words with it, and those after it: what a reader should quote, not the section's
    opening. An annotated "Yes" or "No" opens the answer, then that sentence supports it (the first
    version keyed "Yes." on the question's first word: "Can you explain Ambient Mode?" got one too)."""
    verdict = annotated_answer.strip().rstrip(".").lower()
    bare = verdict in ("yes", "no")
    body = relevant(question, section.text if bare else annotated_answer)
    shown = window(section, body) if body else None
    if shown is None:
        return None
    return Asked(question, f"{verdict.capitalize()}. {body}" if bare else body, shown)


def relevant(question: str, text: str, limit: int = ANSWER_CHARS) -> str:
    """The sentence of ``text`` sharing most content words with the question, then the next ones up to
    ``limit`` characters."""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    asked = content_words(question)
    best = max(range(len(sentences)), key=lambda i: (len(asked & content_words(sentences[i])), -i))
    return opening(" ".join(sentences[best:]), limit)


def window(section: Section, answer: str) -> Section | None:
    """The section cut to PASSAGE_CHARS around the answer's first sentence; None when it is not in it."""
    first = split_sentences(answer)[0]
    start = section.text.find(first[:60])
    if start < 0 or len(first) > PASSAGE_CHARS:
        return None
    start = max(0, min(start, len(section.text) - PASSAGE_CHARS))
    return Section(section.id, section.title, section.text[start : start + PASSAGE_CHARS])


def question_about(title: str) -> str:
    first, _, rest = title.partition(" ")
    verb = VERBS.get(first.lower())
    return f"How do I {verb} {rest}?" if verb and rest else f"What does the manual say about {title.lower()}?"


def generated(sections: list[Section]) -> list[Asked]:
    """A question from each section's title, answered by the section's opening sentences."""
    return [Asked(question_about(s.title), opening(s.text), s) for s in sections]


def example(asked: Asked | None, question: str, distractors: list[Section], rng: random.Random) -> dict[str, object]:
    """One chat example: the gateway's RAG prompt, then the reader's answer."""
    passages = list(distractors)
    answer = NOT_ANSWERED
    if asked is not None:
        position = rng.randrange(len(passages) + 1)
        passages.insert(position, asked.section)
        answer = f"{asked.answer} [{position + 1}]"
    sources = [Source(s.id, "Smart TV manual", s.title, s.text[:PASSAGE_CHARS], 1.0) for s in passages]
    messages, _ = build_rag_messages([{"role": "user", "content": question}], sources, CONTEXT_CHARS)
    return {"messages": [*messages, {"role": "assistant", "content": answer}]}


def build(folder: Path, limit: int, unanswerable: float, distractors: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    sections = read_sections(folder)
    by_title = {section.title: section for section in sections}
    users = annotated(folder, by_title)
    titled = rng.sample(generated(sections), len(sections))
    if len(users) > len(sections):  # enough questions like a user's: titles only add a few
        titled = titled[: int(GENERATED_SHARE * len(users))]
    questions = rng.sample(users + titled, len(users) + len(titled))
    examples = []
    for asked in questions[:limit]:
        others = rng.sample([s for s in sections if s.id != asked.section.id], distractors + 1)
        if rng.random() < unanswerable:  # RAFT: no passage answers; the reader must say so
            examples.append(example(None, asked.question, others, rng))
        else:
            examples.append(example(asked, asked.question, others[:distractors], rng))
    rng.shuffle(examples)
    return examples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-build-reader-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("emanual", type=Path, help="the emanual-qa folder (../shared/eval-data/emanual-qa)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=240, help="examples at most")
    parser.add_argument("--unanswerable", type=float, default=0.15, help="share of examples no passage answers")
    parser.add_argument("--distractors", type=int, default=2, help="distractor passages beside the answering one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        examples = build(args.emanual, args.limit, args.unanswerable, args.distractors, args.seed)
    except (OSError, KeyError, ValueError) as exc:
        sys.exit(f"cannot read the E-Manual data in {args.emanual}: {exc}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    print(f"{len(examples)} examples written to {args.output}", file=sys.stderr)
