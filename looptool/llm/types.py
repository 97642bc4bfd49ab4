"""Request and result types of the endpoint client.

Plain dataclasses, not pydantic: these are built and parsed once per request on the hot path.
Requests describe *what* the stage wants (structured output, logprobs); the endpoint's dialect
decides how that is spelled on the wire (vLLM `structured_outputs` vs OpenAI `response_format`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class StructuredOutput:
    """Constrain the answer: a JSON schema (named, so logs and the simulator can tell them apart)
    or a fixed set of choices."""

    kind: Literal["json_schema", "choice"]
    name: str = "output"
    schema: dict[str, Any] | None = None
    choices: tuple[str, ...] = ()

    @classmethod
    def json(cls, name: str, schema: dict[str, Any]) -> StructuredOutput:
        return cls(kind="json_schema", name=name, schema=schema)

    @classmethod
    def choice(cls, choices: list[str] | tuple[str, ...], name: str = "choice") -> StructuredOutput:
        return cls(kind="choice", name=name, choices=tuple(choices))


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    temperature: float = 0.0
    max_tokens: int | None = 512
    top_p: float | None = None
    n: int = 1
    stop: list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    prompt_logprobs: int | None = None
    structured: StructuredOutput | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    cache: bool | None = None
    cache_salt: str | None = None

    def __post_init__(self) -> None:
        if self.n > 1 and self.temperature <= 0:
            raise ValueError("n > 1 needs temperature > 0 (vLLM rejects n>1 with greedy sampling)")

    @property
    def sampled(self) -> bool:
        return self.temperature > 0


@dataclass
class CompletionRequest:
    prompt: str | list[int]
    max_tokens: int = 16
    temperature: float = 0.0
    echo: bool = False
    logprobs: int | None = None
    prompt_logprobs: int | None = None
    stop: list[str] | None = None
    n: int = 1
    seed: int | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    cache: bool | None = None
    cache_salt: str | None = None

    def __post_init__(self) -> None:
        if self.n > 1 and self.temperature <= 0:
            raise ValueError("n > 1 needs temperature > 0 (vLLM rejects n>1 with greedy sampling)")

    @property
    def sampled(self) -> bool:
        return self.temperature > 0


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Choice:
    index: int
    text: str
    finish_reason: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class LLMResult:
    """One response, chat or completion, with where it came from and what it cost."""

    choices: list[Choice]
    usage: Usage
    endpoint: str
    model: str
    latency_s: float
    cached: bool = False
    prompt_logprobs: list[dict[str, Any] | None] | None = None
    raw: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def first(self) -> Choice:
        return self.choices[0]
