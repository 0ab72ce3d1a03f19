"""Adapters: the store the ML team uploads to, their health, and what the router knows about them."""
