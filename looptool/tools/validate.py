"""Rule checks of one call against the tools on offer (tier one of the two-tier verification).

Each problem gets a stable reason code, because dialog verification, the label filter and
error analysis count and route by reason, not by message text:

  unknown_tool      the call names a tool that is not offered
  missing_required  a required argument (or a required key of a nested object) is absent
  unknown_argument  a top-level argument the tool does not declare (or a nested key the schema
                    forbids with additionalProperties: false)
  wrong_type        a value of the wrong JSON type (5.0 for an integer, "1" for a number,
                    true for an integer, null for a non-nullable parameter)
  enum_violation    a value outside `enum` / different from `const`
  schema_violation  any other JSON Schema keyword (minimum, pattern, minItems, ...)
  uncheckable_pattern  the tool's `pattern` cannot be run in linear time (backreferences,
                    lookaround): the value is not judged, and the tool should not be offered

Top-level arguments form a closed set unless the tool sets `additionalProperties`; nested
objects follow plain JSON Schema (extra keys allowed unless the schema forbids them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Mapping

from looptool.tools.calls import ToolCall
from looptool.tools.patterns import UncheckablePatternError
from looptool.tools.spec import ArgumentValidator, ToolIndex, ToolSpec, tool_index

REASONS = (
    "unknown_tool",
    "missing_required",
    "unknown_argument",
    "wrong_type",
    "enum_violation",
    "schema_violation",
    "uncheckable_pattern",
)

_KEYWORD_REASON = {
    "type": "wrong_type",
    "enum": "enum_violation",
    "const": "enum_violation",
    "required": "missing_required",
    "additionalProperties": "unknown_argument",
}


@dataclass(frozen=True)
class CallIssue:
    """One rule violation: `reason` is a stable code, `message` is for people."""

    reason: str
    message: str
    tool: str
    argument: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def _path(argument: str, parts: Iterable[Any]) -> str:
    out = argument
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_call(call: ToolCall | dict, tools: Iterable[Any] | Mapping[str, Any]) -> list[CallIssue]:
    """All rule violations of `call` against `tools` (specs, raw dicts or a name->spec map).

    An empty list means the call is valid. Raises ValueError only for a malformed call object
    or a bad tool spec, never for a wrong call.
    """
    if not isinstance(call, ToolCall):
        call = ToolCall.from_dict(call)
    index: Mapping[str, ToolSpec] = tools if _is_spec_index(tools) else tool_index(tools)  # type: ignore[assignment]  # _is_spec_index checked it
    spec: ToolSpec | None = index.get(call.name)
    if spec is None:
        offered = ", ".join(sorted(index)) or "none"
        return [CallIssue("unknown_tool", f"tool {call.name!r} is not offered (offered: {offered})", call.name)]

    issues: list[CallIssue] = []
    args = call.arguments
    for name in spec.required:
        if name not in args:
            issues.append(CallIssue("missing_required", f"{call.name}: required argument {name!r} is missing", call.name, name))
    extra = spec.parameters.get("additionalProperties", False)
    for name, value in args.items():
        if name in spec.properties:
            validator = spec.argument_validator(name)
        elif extra is False:
            issues.append(CallIssue("unknown_argument", f"{call.name}: argument {name!r} is not declared", call.name, name))
            continue
        elif isinstance(extra, dict):
            validator = ArgumentValidator(extra)
        else:
            continue
        for error in validator.iter_errors(value):
            if isinstance(error, UncheckablePatternError):
                reason = "uncheckable_pattern"
            else:
                reason = _KEYWORD_REASON.get(str(error.validator), "schema_violation")
            where = _path(name, error.absolute_path)
            issues.append(CallIssue(reason, f"{call.name}: argument {where}: {error.message}", call.name, where))
    return issues


def _is_spec_index(tools: Any) -> bool:
    if isinstance(tools, ToolIndex):
        return True
    return isinstance(tools, Mapping) and all(isinstance(v, ToolSpec) for v in tools.values())
