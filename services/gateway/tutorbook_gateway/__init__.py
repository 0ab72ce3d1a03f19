"""Tutorbook gateway: the only public entry point. Chat API, router, keys, metrics."""
