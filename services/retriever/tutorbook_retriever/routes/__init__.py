"""Thin HTTP handlers: parse, call the domain, shape the response."""
