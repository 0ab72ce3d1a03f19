"""Adapter rollouts: a candidate version in shadow or as a weighted canary, judged against the active
version on live traffic, promoted or rolled back once, by whichever gateway replica decides first."""
