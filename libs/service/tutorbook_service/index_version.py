"""Where the retriever publishes its index version in the gateways' Redis: a key that holds the newest
version, and a channel that announces each new one. Versions only move forward (nanosecond clocks)."""

INDEX_VERSION_KEY = "tb:index_version"
INDEX_VERSION_CHANNEL = "tb:index_version"
