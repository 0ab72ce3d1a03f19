"""The approach advisor: a questionnaire, the approach its answers point to, and the measured figures
of a ``tutorbook-compare`` run that confirm or overrule it."""

from typing import Any

from tutorbook_gateway.advisor.decision import NEXT_STEPS, TITLES, advise
from tutorbook_gateway.advisor.measured import Measured


def recommend(answers: dict[str, str], measured: Measured | None) -> dict[str, Any]:
    """The advice as the API and the CLI show it; measured figures, when given, have the last word."""
    advice = advise(answers)
    body = advice.as_dict()
    body["questionnaire_approach"] = advice.approach
    body["measured"] = None
    if measured is not None:
        verdict = "confirmed" if agrees(advice.approach, measured) else "overruled"
        body["measured"] = measured.as_dict(verdict)
        if verdict == "overruled":
            body["approach"] = measured.approach
            body["title"] = TITLES[measured.approach]
            body["next_step"] = NEXT_STEPS[measured.approach]
    return body


def agrees(approach: str, measured: Measured) -> bool:
    """Adapter plus RAG is confirmed by either half when the comparison did not measure the pair."""
    if measured.approach == approach:
        return True
    measured_pair = any(result.path == "adapter_rag" for result in measured.comparison.paths)
    return approach == "adapter_rag" and not measured_pair and measured.approach in ("adapter", "rag")
