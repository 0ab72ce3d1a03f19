"""Clients of the gateway's upstream services, each behind a small Protocol."""
