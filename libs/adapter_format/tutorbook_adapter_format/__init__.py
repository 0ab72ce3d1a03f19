"""The files a tutor is uploaded as, shared by training and serving: the adapter card (``tutorbook.json``),
the embedding classifier's weights (``classifier.json``), and the probabilities both are read into."""
