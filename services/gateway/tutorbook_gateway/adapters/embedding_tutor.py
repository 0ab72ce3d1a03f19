"""Validating an embedding classifier before anything is stored: its files, its card, and its weights
against the embedder the retriever serves (a classifier trained on other vectors would answer nonsense
with confidence)."""

from tutorbook_adapter_format.card import CARD_FILE, AdapterCard, CardError, parse_card
from tutorbook_adapter_format.embedding_classifier import CLASSIFIER_FILE, ClassifierError, parse_classifier
from tutorbook_gateway.adapters.validation import PICKLED, AdapterRefusedError, ValidatedAdapter
from tutorbook_gateway.clients.retriever import Embedding

ALLOWED_EXTRA = (".md", ".txt")
PROBE_TEXT = "Which embedder is this?"


def is_embedding_classifier(files: dict[str, bytes]) -> bool:
    return CLASSIFIER_FILE in files


def check_files(files: dict[str, bytes]) -> None:
    pickled = sorted(name for name in files if name.lower().endswith(PICKLED))
    if pickled:
        raise AdapterRefusedError(f"pickled files are refused ({', '.join(pickled)})", "pickle")
    if CARD_FILE not in files:
        raise AdapterRefusedError(f"the archive has no {CARD_FILE}", "missing_file")
    unexpected = sorted(
        name for name in files if name not in (CARD_FILE, CLASSIFIER_FILE) and not name.endswith(ALLOWED_EXTRA)
    )
    if unexpected:
        raise AdapterRefusedError(
            f"unexpected files beside an embedding classifier's {CLASSIFIER_FILE}: {', '.join(unexpected)}",
            "unexpected_file",
        )


def card_of(files: dict[str, bytes], served: Embedding) -> AdapterCard:
    try:
        card = parse_card(files[CARD_FILE])
    except CardError as exc:
        raise AdapterRefusedError(str(exc), "card") from exc
    if card.kind != "embedding_classifier":
        raise AdapterRefusedError(f"{CARD_FILE}: kind must be 'embedding_classifier' beside {CLASSIFIER_FILE}", "card")
    if card.base_model != served.embedder:
        raise AdapterRefusedError(
            f"{CARD_FILE}: base_model is {card.base_model!r}, but the retriever embeds with {served.embedder!r}",
            "card",
        )
    return card


def validate_embedding_classifier(files: dict[str, bytes], served: Embedding) -> ValidatedAdapter:
    """``served``: the retriever's embedding of a probe text (its embedder's name and dimension)."""
    check_files(files)
    card = card_of(files, served)
    try:
        classifier = parse_classifier(files[CLASSIFIER_FILE], card.labels)
    except ClassifierError as exc:
        raise AdapterRefusedError(str(exc), "classifier") from exc
    if classifier.embedder != served.embedder or classifier.dimension != len(served.vector):
        raise AdapterRefusedError(
            f"{CLASSIFIER_FILE} was trained on {classifier.embedder!r} ({classifier.dimension} dimensions), "
            f"but the retriever embeds with {served.embedder!r} ({len(served.vector)} dimensions)",
            "embedder",
        )
    return ValidatedAdapter(card, files, rank=0)
