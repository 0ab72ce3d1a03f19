"""BM25-style sparse vectors for Qdrant's sparse index (the IDF part is Qdrant's ``Modifier.IDF``).

Documents get BM25's saturated term frequency; queries get weight 1 per distinct term, so Qdrant's score
is the BM25 sum over the query's terms. Tokens are lower-cased words, English stop words dropped,
Snowball-stemmed, and hashed to 31-bit ids.
"""

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer

K1 = 1.2
B = 0.75
AVERAGE_LENGTH = 120.0  # tokens per chunk, close to what the chunker produces
WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@lru_cache(maxsize=1)
def english_stemmer() -> Any:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A word's stem, remembered: a corpus repeats its words, and the stemmer is pure Python."""
    return str(english_stemmer().stemWord(word))


def tokenize(text: str) -> list[str]:
    return [stem(word) for word in WORD.findall(text.lower()) if word not in STOP_WORDS]


def token_id(token: str) -> int:
    return zlib.crc32(token.encode()) & 0x7FFFFFFF


def document_vector(text: str) -> SparseVector:
    tokens = tokenize(text)
    length_norm = K1 * (1 - B + B * len(tokens) / AVERAGE_LENGTH)
    weights: dict[int, float] = {}
    for token, count in Counter(tokens).items():
        weights[token_id(token)] = weights.get(token_id(token), 0.0) + count * (K1 + 1) / (count + length_norm)
    indices = sorted(weights)
    return SparseVector(indices, [round(weights[index], 6) for index in indices])


def query_vector(text: str) -> SparseVector:
    indices = sorted({token_id(token) for token in tokenize(text)})
    return SparseVector(indices, [1.0] * len(indices))
