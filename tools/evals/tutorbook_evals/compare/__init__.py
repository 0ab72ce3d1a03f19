"""``tutorbook-compare``: prompting, RAG, adapter and router side by side on a dataset (see ``cli``)."""
