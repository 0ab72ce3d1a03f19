"""The ONNX backend gives the same vectors as sentence-transformers, and exports the model only once."""

from pathlib import Path

import pytest

from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import (
    OnnxEmbedder,
    OnnxEmbedderError,
    max_sequence_length,
    open_tokenizer,
)

TEXTS = [
    "How do I reset the filter light on my air purifier?",
    "Warranty",
    "A much longer sentence about descaling an espresso machine with the right liquid, " * 8,
]


def test_onnx_vectors_match_sentence_transformers(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    onnx = OnnxEmbedder(default_embedding_model_path(), tmp_path)
    assert onnx.dimension == embedder.dimension == 384
    batched = onnx.embed(TEXTS)  # one padded batch
    single = [onnx.embed([text])[0] for text in TEXTS]
    for ours, reference, alone in zip(batched, embedder.embed(TEXTS), single, strict=True):
        assert sum(a * b for a, b in zip(ours, reference, strict=True)) == pytest.approx(1.0, abs=1e-4)
        assert sum(a * b for a, b in zip(ours, alone, strict=True)) == pytest.approx(1.0, abs=1e-4)


def test_the_export_is_cached(tmp_path: Path) -> None:
    OnnxEmbedder(default_embedding_model_path(), tmp_path)
    [exported] = tmp_path.glob("*.onnx")
    modified = exported.stat().st_mtime_ns
    OnnxEmbedder(default_embedding_model_path(), tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == [exported.name]
    assert exported.stat().st_mtime_ns == modified


def test_a_model_id_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(OnnxEmbedderError, match="local model folder"):
        OnnxEmbedder("sentence-transformers/all-MiniLM-L6-v2", tmp_path)


def test_int8_vectors_stay_close_to_fp32_and_the_quantized_model_is_cached(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """The default precision: matrix multiplications quantized per channel, vectors within 0.02 cosine."""
    int8 = OnnxEmbedder(default_embedding_model_path(), tmp_path, precision="int8")
    for ours, reference in zip(int8.embed(TEXTS), embedder.embed(TEXTS), strict=True):
        assert sum(a * b for a, b in zip(ours, reference, strict=True)) > 0.98
    files = sorted(path.name for path in tmp_path.iterdir())
    assert len(files) == 2 and any(name.endswith(".int8w.onnx") for name in files)
    OnnxEmbedder(default_embedding_model_path(), tmp_path, precision="int8")
    assert sorted(path.name for path in tmp_path.iterdir()) == files


def test_the_tokenizer_reads_texts_as_transformers_does() -> None:
    """The ONNX backend tokenizes with the tokenizers library (no transformers or torch import at start):
    the same ids, masks and type ids as transformers' tokenizer, truncation and padding included."""
    from transformers import AutoTokenizer

    folder = Path(default_embedding_model_path())
    texts = [*TEXTS, "Ünïcode — naïve café, 日本語のテキスト", "word " * 400, ""]
    ours = open_tokenizer(folder, max_sequence_length(folder))(texts)
    theirs = AutoTokenizer.from_pretrained(str(folder))(
        texts, padding=True, truncation=True, max_length=max_sequence_length(folder), return_tensors="np"
    )
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert ours[name].tolist() == theirs[name].tolist(), name
