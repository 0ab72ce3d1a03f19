"""The claim check's scoring: the cosine of an answer's sentences with its passages' sentences.

Passage sentences come back request after request (the same documents answer many questions), so their
unit vectors are kept in a bounded least-recently-used cache: an answer then costs an embedding of its own
few sentences, not of every passage sentence again."""

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tutorbook_retriever.clients.embedder import Embedder

Vectors = npt.NDArray[np.float32]


def unit_rows(vectors: Sequence[Sequence[float]]) -> Vectors:
    matrix = np.asarray(vectors, dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return matrix


class SentenceVectors:
    """Unit vectors of candidate sentences, at most ``capacity`` kept (0: none), shared by the worker threads."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._kept: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def similarities(self, embedder: Embedder, texts: list[str], candidates: list[str]) -> Vectors:
        """``scores[i][j]``: the cosine of texts[i] and candidates[j]; one embedder call for the texts and
        whichever candidates are not kept."""
        with self._lock:
            known = {text: self._kept[text] for text in dict.fromkeys(candidates) if text in self._kept}
            for text in known:
                self._kept.move_to_end(text)
        unknown = [text for text in dict.fromkeys(candidates) if text not in known]
        vectors = unit_rows(embedder.embed([*texts, *unknown]))
        fresh = {text: row.copy() for text, row in zip(unknown, vectors[len(texts) :], strict=True)}  # not views
        self._keep(fresh)
        columns = np.stack([known[text] if text in known else fresh[text] for text in candidates])
        return vectors[: len(texts)] @ columns.T  # type: ignore[no-any-return]

    def _keep(self, fresh: dict[str, Vectors]) -> None:
        if not self._capacity:
            return
        with self._lock:
            self._kept.update(fresh)
            while len(self._kept) > self._capacity:
                self._kept.popitem(last=False)
