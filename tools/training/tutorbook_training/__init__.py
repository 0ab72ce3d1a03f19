"""Training and evaluating LoRA adapters for Tutorbook (the ML team's tools)."""
