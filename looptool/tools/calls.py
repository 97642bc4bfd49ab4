"""The structured tool call every stage passes around.

Labels, parsed predictions and rendered prompts all go through this one type, so a call is
compared, stored and rendered the same way everywhere. Stdlib only: this module runs inside
the trainer runtimes' reward workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One function call: a tool name and its JSON-object arguments.

    Frozen so a label cannot be edited in place by accident; `arguments` itself is a plain dict
    (JSON data), so the object is not hashable.
    """

    name: str
    arguments: dict

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: Any, where: str = "call") -> ToolCall:
        """Build a call from {"name", "arguments"}; arguments may be a JSON string (OpenAI style).

        `where` names the call in error messages (e.g. "label_calls[2]").
        """
        if isinstance(data, ToolCall):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object with 'name' and 'arguments', got {type(data).__name__}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name: expected a non-empty string, got {name!r}")
        arguments = data.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                raise ValueError(f"{where}.arguments: not valid JSON ({exc})") from None
        if not isinstance(arguments, dict):
            raise ValueError(f"{where}.arguments: expected a JSON object, got {type(arguments).__name__}")
        return cls(name=name, arguments=arguments)


def calls_from_list(data: Any, where: str = "calls") -> list[ToolCall]:
    """Convert a list of call dicts (or ToolCalls) into ToolCalls, naming the bad index on error."""
    if not isinstance(data, (list, tuple)):
        raise ValueError(f"{where}: expected a list of calls, got {type(data).__name__}")
    return [ToolCall.from_dict(item, f"{where}[{i}]") for i, item in enumerate(data)]
