"""Teams, keys and the audit log: who may call the gateway, and what they did."""
