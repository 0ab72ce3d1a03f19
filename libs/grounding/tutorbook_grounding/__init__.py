"""Grounding: whether each sentence of an answer is supported by the passages it was written from.

Pure functions only (no I/O): the gateway checks every RAG answer with them, and the evaluation tools
re-apply the policies to recorded answers with the same code.
"""
