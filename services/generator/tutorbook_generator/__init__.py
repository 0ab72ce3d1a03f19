"""Tutorbook generator: launches vLLM's OpenAI-compatible server with LoRA enabled."""
