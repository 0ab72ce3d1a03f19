"""Evaluations and benchmarks that answer product questions with measurements (retrieval quality and
speed, routing accuracy, semantic-cache wrong hits; later prompting vs RAG vs adapter on a user's own data)."""
