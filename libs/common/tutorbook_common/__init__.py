"""Pieces every Tutorbook service shares. Small on purpose: anything domain-specific lives in a service."""
