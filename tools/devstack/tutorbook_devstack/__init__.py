"""The whole stack as local processes: Redis, generator (vLLM), retriever and gateway."""
