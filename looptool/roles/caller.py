"""Call a role: render its prompt, send it with the card's sampling and output constraint, and
parse the answer defensively (model output is untrusted: JSON is decoded, never evaluated, and
validated against the schema whether or not the server enforced it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from looptool.config.load import LoadedConfig
from looptool.errors import LoopToolError
from looptool.llm.client import LLMClient
from looptool.llm.types import ChatRequest, LLMResult, StructuredOutput
from looptool.roles.answer_checks import answer_problem
from looptool.roles.cards import TaskCard
from looptool.roles.schemas import get_schema
from looptool.tools.patterns import safe_validator

FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_DECODER = json.JSONDecoder()


class OutputInvalid(LoopToolError):
    """The model answered, but not in the form the task needs; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str, text: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.text = text
        super().__init__(f"{reason}: {detail}")


def decode_json_answer(text: str, finish_reason: str | None = None) -> Any:
    """The JSON value the answer starts (code fences and leading prose tolerated).

    Only the first opening bracket is tried: when the answer is cut off, a later, inner object
    would decode fine and be mistaken for the answer."""
    cleaned = FENCE.sub("", text.strip())
    start = next((i for i, char in enumerate(cleaned) if char in "{["), None)
    if start is not None:
        try:
            return _DECODER.raw_decode(cleaned, start)[0]
        except ValueError:
            pass
        except RecursionError:
            raise OutputInvalid("invalid_json", "the answer's JSON is nested too deeply", text) from None
    if finish_reason == "length":
        raise OutputInvalid("truncated", "the answer hit max_tokens before its JSON was complete", text)
    raise OutputInvalid("invalid_json", "answer holds no complete JSON value", text)


_VALIDATORS: dict[str, jsonschema.protocols.Validator] = {}


def validator_for(name: str, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    key = name + ":" + json.dumps(schema, sort_keys=True)
    validator = _VALIDATORS.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = _VALIDATORS[key] = safe_validator(cls)(schema)  # schemas embed model-written specs
    return validator


def check_schema(value: Any, name: str, schema: dict[str, Any], text: str = "") -> Any:
    try:
        error = jsonschema.exceptions.best_match(validator_for(name, schema).iter_errors(value))
    except RecursionError:
        raise OutputInvalid("schema_violation", f"{name}: the answer is nested too deeply to check", text) from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise OutputInvalid("schema_violation", f"{name} at {where}: {error.message}", text)
    return value


@dataclass
class RoleAnswer:
    """Parsed answers (one per choice) plus the raw result for counters and provenance."""

    values: list[Any]
    errors: list[OutputInvalid | None]
    result: LLMResult
    task: TaskCard
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> Any:
        if self.errors and self.errors[0] is not None:
            raise self.errors[0]
        return self.values[0]


class RoleCaller:
    def __init__(self, client: LLMClient, loaded: LoadedConfig) -> None:
        self.client = client
        self.loaded = loaded

    def task(self, role: str, task: str) -> TaskCard:
        try:
            return self.loaded.cards[role].tasks[task]
        except KeyError:
            raise LoopToolError(f"role {role!r} has no task {task!r} (see agents/{role}.toml)") from None

    def build_request(
        self,
        role: str,
        task: str,
        variables: dict[str, Any] | None = None,
        *,
        messages: list[dict[str, Any]] | None = None,
        schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> ChatRequest:
        card = self.task(role, task)
        if messages is None:
            messages = self.loaded.prompts[role][task].render(variables or {})
        structured = None
        if card.output == "json_schema":
            structured = StructuredOutput.json(card.schema_name or task, schema or get_schema(card.schema_name or ""))
        elif card.output == "choice":
            structured = StructuredOutput.choice(card.choices)
        sampling = card.sampling.model_dump()
        sampling.update({k: v for k, v in overrides.items() if k in sampling})
        extra = {k: v for k, v in overrides.items() if k not in sampling}
        return ChatRequest(
            messages=messages,
            temperature=sampling["temperature"],
            top_p=sampling["top_p"],
            max_tokens=sampling["max_tokens"],
            n=sampling["n"],
            tools=tools,
            structured=structured,
            **extra,
        )

    async def call(
        self, role: str, task: str, variables: dict[str, Any] | None = None, *, schema: dict[str, Any] | None = None, **options: Any
    ) -> RoleAnswer:
        """Send the task's request (see build_request for `options`) and parse every choice.

        An answer none of whose choices parses or validates (for tool calls: one with a malformed
        call) is asked again, up to `client.invalid_answer_retries` times, each time with its own
        seed (and, for a greedy task, at `client.reask_temperature`: a greedy model repeats
        itself), so one bad answer does not throw a whole unit away. Re-asks are counted per role
        as `invalid_answer_retries`; the last answer is returned as it is."""
        card = self.task(role, task)
        config = self.client.config
        reask: dict[str, Any] = {}
        for attempt in range(config.invalid_answer_retries + 1):
            request = self.build_request(role, task, variables, schema=schema, **{**options, **reask})
            result = await self.client.chat(role, request)
            answer = self._parse_choices(card, result, schema)
            if attempt == config.invalid_answer_retries or not self.unusable(card, answer):
                answer.extras["invalid_answer_retries"] = attempt
                return answer
            self.client.stats.role(role).invalid_answer_retries += 1
            reask = {"seed": 1000 + attempt + 1 + int(request.seed or 0)}
            if request.temperature <= 0 and config.reask_temperature > 0:
                reask["temperature"] = config.reask_temperature
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_choices(self, card: TaskCard, result: LLMResult, schema: dict[str, Any] | None) -> RoleAnswer:
        values: list[Any] = []
        errors: list[OutputInvalid | None] = []
        for choice in result.choices:
            try:
                values.append(self.parse(card, choice.text, choice.tool_calls, schema, choice.finish_reason))
                errors.append(None)
            except OutputInvalid as error:
                values.append(None)
                errors.append(error)
        return RoleAnswer(values=values, errors=errors, result=result, task=card)

    @staticmethod
    def unusable(card: TaskCard, answer: RoleAnswer) -> bool:
        """No choice can be used: each failed to parse/validate (or holds a malformed call)."""
        if not answer.values:
            return True
        if card.output == "tool_calls":
            return all(error is not None or getattr(value, "errors", None) for value, error in zip(answer.values, answer.errors))
        return all(error is not None for error in answer.errors)

    @staticmethod
    def parse(
        card: TaskCard, text: str, tool_calls: list[dict[str, Any]], schema: dict[str, Any] | None = None, finish_reason: str | None = None
    ) -> Any:
        if card.output == "text":
            return text
        if card.output == "choice":
            answer = text.strip().strip('"')
            if answer not in card.choices:
                raise OutputInvalid("invalid_choice", f"{answer[:40]!r} is not one of {card.choices}", text)
            return answer
        if card.output == "tool_calls":
            from looptool.tools.parse import parse_openai_tool_calls, parse_tool_calls

            parsed = parse_openai_tool_calls({"content": text, "tool_calls": tool_calls}) if tool_calls else parse_tool_calls(text)
            return parsed
        name = card.schema_name or "output"
        value = check_schema(decode_json_answer(text, finish_reason), name, schema or get_schema(name), text)
        problem = answer_problem(name, value)
        if problem is not None:  # e.g. {"verdict": "pass", "reason": "fail"}: asked again like any invalid answer
            raise OutputInvalid("self_contradiction", f"{name}: {problem}", text)
        return value
