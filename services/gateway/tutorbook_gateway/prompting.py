"""The abstain answer (the RAG prompt itself is :mod:`tutorbook_grounding.prompt`)."""

ABSTAIN_ANSWER = "Not sure about the answer: need more context."


def abstain_answer(suggestions: tuple[str, ...]) -> str:
    if not suggestions:
        return ABSTAIN_ANSWER
    return f"{ABSTAIN_ANSWER} Closest topics I know about: {'; '.join(suggestions)}."
