"""What the chat path is configured with, built once from the settings by :mod:`tutorbook_gateway.wiring`
(each from one group): what one request may ask, how answers are written, how they are checked, and the
router's thresholds. The ground floor of ``chat/``: it imports no step."""

from dataclasses import dataclass, field

from tutorbook_gateway.routing import RoutePolicy
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.support import SupportThresholds


@dataclass(frozen=True)
class ChatLimits:
    """How much one request may ask of the gateway (settings group ``limits``)."""

    max_tokens: int = 1024
    max_message_chars: int = 32_000
    max_request_chars: int = 100_000
    max_classified_chars: int = 4_000


@dataclass(frozen=True)
class AnswerConfig:
    """How answers are written (settings group ``answers``)."""

    top_k: int = 4
    context_max_chars: int = 3000
    default_temperature: float = 0.0
    default_max_tokens: int = 256
    repetition_penalty: float = 1.0  # for answers written from passages (1.0: none)
    frequency_penalty: float = 0.0  # for answers written from passages (0.0: none)


@dataclass(frozen=True)
class JudgeConfig:
    model: str = ""  # a served model (the base model, an adapter, a larger model); empty: no judge
    min_probability: float = 0.5  # P(Yes) a claim needs from the judge to count as supported
    max_passage_chars: int = 1500  # of the passage shown to the judge
    timeout_seconds: float = 20.0  # waiting for a slot included; past it the check's verdicts stand


@dataclass(frozen=True)
class ClaimCheckConfig:
    """The claim check on answers written from passages (settings group ``claims``)."""

    policy: ClaimsPolicy = ClaimsPolicy.WITHHOLD
    thresholds: SupportThresholds = field(default_factory=SupportThresholds)
    max_answer_sentences: int = 8  # the sentence budget: the runaway guard ends an answer past it
    max_candidates: int = 120  # passage sentences compared (the first passages first)
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # a model's second opinion (off by default)


@dataclass(frozen=True)
class ChatConfig:
    policy: RoutePolicy
    limits: ChatLimits = field(default_factory=ChatLimits)
    answers: AnswerConfig = field(default_factory=AnswerConfig)
    claim_check: ClaimCheckConfig = field(default_factory=ClaimCheckConfig)
