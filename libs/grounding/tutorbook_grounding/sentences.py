"""Sentences of an answer or a passage, and the ``[n]`` citation marks inside them."""

import re

# [1], and the lists and ranges models also write: [1, 2], [1-3], [2][3].
CITATION_MARK = re.compile(r"\s*\[\s*([0-9]{1,2}(?:\s*[,\u2013-]\s*[0-9]{1,2})*)\s*\]")  # ASCII digits only
# A sentence ends at . ! ? (then a space or the end) or at a line break; a decimal point ("2.5") does not.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")
LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")
MIN_REPEATED_WORDS = 4  # a shorter sentence may come twice
LIST_NUMBER = re.compile(r"^\s*\d{1,2}[.)]\s*$")  # "2." on its own, split off the item it numbers
WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*")  # any script's letters and digits ("2.5", "1,200" stay whole)


def split_sentences(text: str) -> list[str]:
    """The text's sentences, list markers removed; fragments without a letter or digit (a lone "[1]") are
    dropped."""
    sentences = []
    for piece in SENTENCE_END.split(text):
        sentence = LIST_MARKER.sub("", piece).strip()
        if not LIST_NUMBER.match(sentence) and any(character.isalnum() for character in without_citations(sentence)):
            sentences.append(sentence)
    return sentences


def cited_numbers(sentence: str) -> list[int]:
    """The source numbers a sentence cites, as written ([1] is the first source; [1-3] is 1, 2 and 3)."""
    numbers: list[int] = []
    for mark in CITATION_MARK.findall(sentence):
        for part in re.split(r"\s*,\s*", mark):
            ends = [int(end) for end in re.split(r"\s*[\u2013-]\s*", part)]
            numbers.extend(range(ends[0], ends[-1] + 1))
    return numbers


def without_citations(sentence: str) -> str:
    return CITATION_MARK.sub("", sentence).strip()


def words(text: str) -> list[str]:
    """Lower-case words and numbers ("2.5" and "1,200" stay whole)."""
    return WORD.findall(text.lower())


def normalised(sentence: str) -> str:
    """What makes two sentences the same sentence: their words, without citation marks."""
    return " ".join(words(without_citations(sentence)))


class RunawayGuard:
    """Lets an answer through a sentence at a time and stops it at the first repeated sentence or past the
    sentence budget: a small model otherwise repeats one sentence until the token limit.

    ``feed`` takes the text as it arrives and returns what may leave now (whole sentences only);
    ``finish`` returns the rest once the text has ended. ``stopped`` says the answer ran away."""

    def __init__(self, max_sentences: int) -> None:
        self._max_sentences = max_sentences
        self._pending = ""
        self._seen: dict[str, int] = {}  # sentence -> times let through
        self._admitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self._pending += piece
        released: list[str] = []
        position = 0
        for end in SENTENCE_END.finditer(self._pending):
            sentence = self._pending[position : end.start()]
            if LIST_NUMBER.match(sentence):
                continue  # "3." leaves with the item it numbers
            if not self._admit(sentence):
                self._pending = ""
                return "".join(released).rstrip()
            released.append(self._pending[position : end.end()])
            position = end.end()
        self._pending = self._pending[position:]
        return "".join(released)

    def finish(self) -> str:
        rest, self._pending = self._pending, ""
        return rest if not self.stopped and self._admit(rest) else ""

    def _admit(self, sentence: str) -> bool:
        key = normalised(LIST_MARKER.sub("", sentence))
        if not key or LIST_NUMBER.match(sentence):
            return True
        # A sentence may not come again; a short one ("Press OK.") may come twice in a list of steps.
        allowed = 1 if len(key.split()) >= MIN_REPEATED_WORDS else 2
        if self._seen.get(key, 0) >= allowed or self._admitted >= self._max_sentences:
            self.stopped = True
            return False
        self._seen[key] = self._seen.get(key, 0) + 1
        self._admitted += 1
        return True
