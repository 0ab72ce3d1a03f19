"""The gateway's shared state: Redis when configured, an in-memory store of the same interface otherwise."""
