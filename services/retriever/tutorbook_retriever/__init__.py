"""Tutorbook retriever: embeds product passages and searches them in Qdrant."""
