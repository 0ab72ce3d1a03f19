"""The ingestion benchmark's measurement on the real stack: pages through the gateway beside the embedder
alone, then the corpus sent again with one page edited, which embeds only that page's changed chunk."""

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY
from tutorbook_evals.bench_ingestion import measure
from tutorbook_retriever.clients.embedder import default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import OnnxEmbedder
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import onnx_cache_dir

SECTIONS = ("Unpacking", "Charging the battery", "Cutting height", "Winter storage")


def mower_pages() -> list[DocumentIn]:
    """Pages about a product no other test asks about, several chunks each."""
    pages = []
    for page in range(4):
        sections = [
            f"## {name}\n\n" + " ".join(f"Step {n} of the Orbit {page} mower's {name.lower()}." for n in range(40))
            for name in SECTIONS
        ]
        pages.append(DocumentIn(id=f"orbit-{page}", title=f"Orbit {page} mower", text="\n\n".join(sections)))
    return pages


@pytest.fixture
def admin(gateway_url: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=300) as client:
        yield client
        for prefix in ("warm-up", "round-0"):
            for page in mower_pages():
                client.delete(f"/v1/documents/{prefix}/{page.id}")


def test_pages_through_the_gateway_and_an_edited_corpus_embedding_only_its_edit(admin: httpx.Client) -> None:
    settings = RetrieverSettings()
    model = settings.embedding.model or default_embedding_model_path()
    embedder = OnnxEmbedder(model, onnx_cache_dir(settings), precision=settings.embedding.precision)
    figures = measure(admin, mower_pages(), embedder, rounds=1)

    assert figures["pages"] == 4 and figures["chunks"] > 8  # long enough for several chunks a page
    for path in ("embedder_alone", "through_gateway"):
        assert figures[path]["chars_per_second"] > 0 and figures[path]["chunks_per_second"] > 0
    again = figures["reingestion"]
    assert again["pages_edited"] == 1
    assert again["chunks_written"] >= 2  # the edited page, rewritten whole
    assert 1 <= again["chunks_embedded"] < again["chunks_written"]  # only the edited paragraph's chunks
