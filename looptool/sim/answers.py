"""The simulated policy's answers in the paper format, and its wrong calls: shared by the
responder (every request) and the oracle (known-answer tables), so neither imports the other."""

from __future__ import annotations

import json
import random
from typing import Any

from looptool.sim.schema_values import WORDS, string_for_pattern
from looptool.sim.world import Step


def perturb_calls(calls: list[dict[str, Any]], tools: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A plausible wrong answer that still passes schema checks where it can: one argument gets
    another valid value (another enum member, another string of the same pattern, a shifted
    number), or a neighbouring tool is picked. Semantic errors, like the ones real labellers make."""
    calls = json.loads(json.dumps(calls))
    target = rng.choice(calls)
    arguments = target["arguments"]
    spec = next((t for t in tools if t.get("name") == target["name"]), {})
    properties = (spec.get("parameters") or {}).get("properties") or {}
    if arguments:
        key = rng.choice(sorted(arguments))
        value = arguments[key]
        schema = properties.get(key) if isinstance(properties.get(key), dict) else {}
        if isinstance(schema.get("enum"), list) and len(schema["enum"]) > 1:
            arguments[key] = rng.choice([v for v in schema["enum"] if v != value])
        elif isinstance(value, bool):
            arguments[key] = not value
        elif isinstance(value, int):
            arguments[key] = value + rng.randint(1, 9)
        elif isinstance(value, float):
            arguments[key] = round(value + rng.uniform(1, 9), 2)
        elif isinstance(value, str):
            replacement = string_for_pattern(schema["pattern"], rng) if isinstance(schema.get("pattern"), str) else None
            if replacement is None or replacement == value:
                replacement = next(w for w in rng.sample(WORDS, 3) if w != value)
            arguments[key] = replacement
        else:
            arguments.pop(key)
    else:
        others = [t["name"] for t in tools if t["name"] != target["name"]]
        if others:
            target["name"] = rng.choice(others)
        else:
            arguments["unexpected"] = rng.choice(WORDS)
    return calls


def _think(step: Step) -> str:
    if step.is_call:
        names = ", ".join(c["name"] for c in step.calls)
        return f"<think>The request maps to {names}.</think>\n"
    return "<think>No tool call is needed here.</think>\n"


def paper_answer(step: Step, malformed: bool) -> str:
    if not step.is_call:
        return _think(step) + step.text
    blocks = [
        "<tool_call>\n" + json.dumps({"name": c["name"], "arguments": c["arguments"]}, ensure_ascii=False) + "\n</tool_call>"
        for c in step.calls
    ]
    text = _think(step) + "\n".join(blocks)
    if malformed:
        text = text[: max(len("<tool_call>") + 5, int(len(text) * 0.6))]
    return text
