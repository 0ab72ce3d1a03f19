"""``tutorbook-eval-answers``: how correct the stack's answers are, and how well the claim check tells the
wrong ones from the right ones (docs/answers.md)."""
