"""Deterministic schema-valid values for the simulator.

The simulator must answer any structured-output request with JSON that satisfies the schema it was
given, and any tool call with arguments that satisfy the tool's parameters, so the engine's
parsers and validators are exercised on well-formed data unless a fault is asked for.
"""

from __future__ import annotations

import random
import re
from typing import Any

try:  # the regex parser behind `re`; used to write strings that match a schema's pattern
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_constants
    import sre_parse as _sre_parse

WORDS = (
    "alpha",
    "berlin",
    "paris",
    "tokyo",
    "oslo",
    "delta",
    "river",
    "amber",
    "cobalt",
    "summit",
    "harbor",
    "maple",
    "quartz",
    "lumen",
    "nova",
    "orbit",
    "pixel",
    "tango",
    "violet",
    "willow",
)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0123456789",
    "CATEGORY_WORD": "abcdefghijklmnopqrstuvwxyz0123456789_",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_DIGIT": "abcxyz",
    "CATEGORY_NOT_WORD": "-.",
    "CATEGORY_NOT_SPACE": "abc",
}


def _emit(parsed: Any, rng: random.Random, out: list[str]) -> None:
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append(rng.choice("abcdef"))
        elif name == "IN":
            choices: list[str] = []
            negate = False
            for item_op, item_arg in arg:
                item = str(item_op)
                if item == "NEGATE":
                    negate = True
                elif item == "LITERAL":
                    choices.append(chr(item_arg))
                elif item == "RANGE":
                    choices.extend(chr(c) for c in range(item_arg[0], min(item_arg[1], item_arg[0] + 25) + 1))
                elif item == "CATEGORY":
                    choices.extend(_CATEGORY_CHARS.get(str(item_arg), "a"))
            if negate:
                choices = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in choices]
            out.append(rng.choice(choices or ["a"]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            high = low + 3 if high == _sre_constants.MAXREPEAT else high
            for _ in range(rng.randint(low, max(low, min(high, low + 3)))):
                _emit(sub, rng, out)
        elif name == "SUBPATTERN":
            _emit(arg[-1], rng, out)
        elif name == "BRANCH":
            _emit(rng.choice(arg[1]), rng, out)
        elif name == "CATEGORY":
            out.append(rng.choice(_CATEGORY_CHARS.get(str(arg), "a")))
        # AT (anchors), GROUPREF and lookarounds add nothing


def string_for_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string that fully matches `pattern`, or None for patterns beyond this small generator."""
    try:
        parsed = _sre_parse.parse(pattern)
        for _ in range(5):
            out: list[str] = []
            _emit(parsed, rng, out)
            text = "".join(out)
            if re.search(pattern, text):
                return text
    except (re.error, TypeError, ValueError, RecursionError):
        return None
    return None


def value_for(schema: Any, rng: random.Random, *, root: dict[str, Any] | None = None, depth: int = 0, hint: str = "") -> Any:
    """A value satisfying `schema` (the subset of JSON Schema tool specs and our outputs use)."""
    if not isinstance(schema, dict):
        return rng.choice(WORDS)
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")] or schema[key]
            return value_for(options[0], rng, root=root, depth=depth, hint=hint)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return value_for(merged, rng, root=root, depth=depth, hint=hint)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind in ("object", "dict"):
        properties = schema.get("properties") or {}
        required = list(schema.get("required") or [])
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or (depth < 2 and rng.random() < 0.5):
                out[name] = value_for(sub, rng, root=root, depth=depth + 1, hint=name)
        for name in required:
            out.setdefault(name, rng.choice(WORDS))
        return out
    if kind in ("array", "tuple"):
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 2)))
        count = rng.randint(low, max(low, min(high, low + 2)))
        return [value_for(schema.get("items", {"type": "string"}), rng, root=root, depth=depth + 1, hint=hint) for _ in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", 1))
        high = int(schema.get("maximum", low + 99))
        return rng.randint(low, max(low, high))
    if kind in ("number", "float"):
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", low + 100.0))
        return round(rng.uniform(low, max(low, high)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    # strings (and "any")
    fmt = schema.get("format")
    if fmt == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if fmt == "date-time":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
    if fmt == "email":
        return f"{rng.choice(WORDS)}@example.com"
    if isinstance(schema.get("pattern"), str):
        matching = string_for_pattern(schema["pattern"], rng)
        if matching is not None:
            return matching
    word = rng.choice(WORDS)
    min_length = int(schema.get("minLength", 0))
    if len(word) < min_length:
        word = word + "x" * (min_length - len(word))
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and max_length > 0:
        word = word[:max_length]
    return word
