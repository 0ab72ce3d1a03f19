"""Clients of the retriever's external dependencies, each behind a small Protocol."""
