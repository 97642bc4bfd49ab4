"""A scripted RoleCaller for unit tests (tests only): answers by (role, task) from a function and
records every request, so a test can check what a stage sent and how it used the answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from looptool.roles.caller import OutputInvalid


@dataclass
class Sent:
    role: str
    task: str
    variables: dict[str, Any]
    schema: dict[str, Any] | None

    @property
    def input(self) -> dict[str, Any]:
        return json.loads(self.variables["input_json"])


class _Answer:
    def __init__(self, value: Any) -> None:
        self._value = value

    @property
    def value(self) -> Any:
        if isinstance(self._value, OutputInvalid):
            raise self._value
        return self._value


@dataclass
class ScriptedCaller:
    """`answer(sent)` returns the parsed value, or an OutputInvalid to play an unusable answer."""

    answer: Callable[[Sent], Any]
    sent: list[Sent] = field(default_factory=list)

    async def call(
        self, role: str, task: str, variables: dict[str, Any] | None = None, *, schema: dict[str, Any] | None = None, **options: Any
    ) -> _Answer:
        request = Sent(role, task, dict(variables or {}), schema)
        self.sent.append(request)
        return _Answer(self.answer(request))

    def tasks(self, task: str) -> list[Sent]:
        return [s for s in self.sent if s.task == task]
