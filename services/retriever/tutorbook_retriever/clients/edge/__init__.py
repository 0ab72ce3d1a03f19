"""The embedded default: Qdrant Edge, the Qdrant engine in-process (one shard folder per collection)."""
