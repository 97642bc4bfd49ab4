"""Prompt templates: prompts/<name>.md with a system part and a user part.

    <<<system>>>
    You are ...
    <<<user>>>
    ... $variable ...
    <input>$input_json</input>

`$name` placeholders (string.Template) are filled per call; a missing variable is an error naming
the template and the variable, never a prompt silently sent with a hole in it. Machine-readable
inputs go in an <input> JSON block, which real models read fine and the simulator parses.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.errors import ConfigError

SECTION = re.compile(r"^<<<(system|user)>>>\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    source: str
    system: string.Template | None
    user: string.Template | None  # None: the stage supplies the conversation (assistant role)

    @classmethod
    def parse(cls, text: str, source: str) -> PromptTemplate:
        parts = SECTION.split(text)
        sections: dict[str, str] = {}
        for index in range(1, len(parts) - 1, 2):
            sections[parts[index]] = parts[index + 1].strip("\n")
        if not sections:
            sections["user"] = text.strip("\n")
        template = cls(
            source=source,
            system=string.Template(sections["system"]) if "system" in sections else None,
            user=string.Template(sections["user"]) if "user" in sections else None,
        )
        for part in (template.system, template.user):
            if part is not None and not part.is_valid():
                raise ConfigError(source, None, "invalid $placeholder syntax (use $$ for a literal $)")
        return template

    @classmethod
    def load(cls, path: Path) -> PromptTemplate:
        return cls.parse(Path(path).read_text(encoding="utf-8"), str(path))

    def variables(self) -> set[str]:
        names: set[str] = set()
        for part in (self.system, self.user):
            if part is not None:
                names.update(part.get_identifiers())
        return names

    def render(self, variables: dict[str, Any]) -> list[dict[str, str]]:
        messages = []
        for role, part in (("system", self.system), ("user", self.user)):
            if part is None:
                continue
            try:
                messages.append({"role": role, "content": part.substitute({k: str(v) for k, v in variables.items()})})
            except KeyError as exc:
                raise ConfigError(self.source, None, f"template variable ${exc.args[0]} was not provided") from None
        return messages
