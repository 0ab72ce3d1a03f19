"""Load and soak against the real stack: a request mix at fixed concurrency, every process's memory
sampled through the run (``python -m tutorbook_devstack.load``; ``make load``, ``make soak``)."""
