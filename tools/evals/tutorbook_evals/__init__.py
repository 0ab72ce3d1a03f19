"""Evaluations that answer product questions with measurements (routing accuracy, and later
prompting vs RAG vs adapter on a user's own data)."""
