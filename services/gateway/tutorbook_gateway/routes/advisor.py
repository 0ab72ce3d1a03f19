"""The approach advisor: its questionnaire, and a recommendation from the answers (any key may ask).

Measured results (``tutorbook-compare``'s) are a team's own: a team's comparisons live in
``<comparisons>/teams/<team>/<dataset>`` and only its keys read them; the default team's (and what admins
see) in ``<comparisons>/<dataset>``."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post

from tutorbook_adapter_format.card import NAME_PATTERN
from tutorbook_gateway.access.model import DEFAULT_TEAM
from tutorbook_gateway.advisor import recommend
from tutorbook_gateway.advisor.decision import TITLES
from tutorbook_gateway.advisor.measured import COMPARISON_FILE, PLOTS, Measured, best_measured, read_comparison
from tutorbook_gateway.advisor.questionnaire import QUESTIONS, AnswerError, parse_answers
from tutorbook_gateway.auth import caller_of
from tutorbook_service.errors import BadRequestError, NotFoundError

log = logging.getLogger(__name__)


class AdvisorRequest(msgspec.Struct, forbid_unknown_fields=True):
    answers: dict[str, Any]
    dataset: str | None = None  # a tutorbook-compare result's dataset name


def measured_for(comparisons_dir: Path, dataset: str) -> Measured | None:
    path = comparisons_dir / dataset / COMPARISON_FILE
    if not path.is_file():
        return None
    try:
        return best_measured(read_comparison(path))
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("comparison unreadable", extra={"path": str(path), "error": str(exc)})
        return None


def dataset_name(dataset: str) -> str:
    if not NAME_PATTERN.fullmatch(dataset):
        raise BadRequestError("dataset must be a comparison's name (lowercase letters, digits, '-')", param="dataset")
    return dataset


def listed_comparisons(comparisons_dir: Path) -> list[dict[str, Any]]:
    """The datasets a comparison was run for on this gateway, with the plots it drew."""
    found = []
    for folder in sorted(comparisons_dir.glob("*")) if comparisons_dir.is_dir() else []:
        if NAME_PATTERN.fullmatch(folder.name) and (folder / COMPARISON_FILE).is_file():
            plots = [{"file": name, "title": title} for name, title in PLOTS.items() if (folder / name).is_file()]
            found.append({"dataset": folder.name, "plots": plots})
    return found


def team_folder(comparisons_dir: Path, request: Request[Any, Any, Any]) -> Path:
    """Where the asking key's team keeps its comparisons."""
    team = caller_of(request).team
    return comparisons_dir if team == DEFAULT_TEAM else comparisons_dir / "teams" / team


def advisor_router(comparisons_dir: Path) -> Router:
    @get("/v1/advisor")
    async def questionnaire() -> dict[str, Any]:
        """The questions, the answers each allows and why each matters."""
        return {"object": "advisor.questionnaire", "questions": [q.as_dict() for q in QUESTIONS], "approaches": TITLES}

    @post("/v1/advisor", status_code=200)
    async def advice(data: AdvisorRequest, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """The approach the answers point to, with its reasons; a comparison of ``dataset`` confirms or overrules it."""
        try:
            answers = parse_answers(data.answers)
        except AnswerError as exc:
            raise BadRequestError(str(exc), param=f"answers.{exc.question}") from exc
        measured = None
        if data.dataset is not None:
            folder = team_folder(comparisons_dir, request)
            measured = await asyncio.to_thread(measured_for, folder, dataset_name(data.dataset))
        body = {"object": "advisor.recommendation", **recommend(answers, measured)}
        if data.dataset is not None and measured is None:
            body["measured_note"] = f"no tutorbook-compare result for {data.dataset!r} on this gateway"
        return body

    @get("/v1/advisor/comparisons")
    async def comparisons(request: Request[Any, Any, Any]) -> dict[str, Any]:
        folder = team_folder(comparisons_dir, request)
        return {"object": "list", "data": await asyncio.to_thread(listed_comparisons, folder)}

    @get("/v1/advisor/comparisons/{dataset:str}/{plot:str}")
    async def plot(dataset: str, plot: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        """One of a comparison's plots (PNG), by its file name."""
        path = team_folder(comparisons_dir, request) / dataset_name(dataset) / plot
        if plot not in PLOTS or not await asyncio.to_thread(path.is_file):
            raise NotFoundError(f"no plot {plot!r} for {dataset!r}", param="plot")
        return Response(await asyncio.to_thread(path.read_bytes), media_type="image/png")

    return Router(path="/", route_handlers=[questionnaire, advice, comparisons, plot])
