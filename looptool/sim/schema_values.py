"""Deterministic schema-valid values for the simulator.

The simulator must answer any structured-output request with JSON that satisfies the schema it was
given, and any tool call with arguments that satisfy the tool's parameters, so the engine's
parsers and validators are exercised on well-formed data unless a fault is asked for.
"""

from __future__ import annotations

import random
from typing import Any

WORDS = (
    "alpha", "berlin", "paris", "tokyo", "oslo", "delta", "river", "amber", "cobalt", "summit",
    "harbor", "maple", "quartz", "lumen", "nova", "orbit", "pixel", "tango", "violet", "willow",
)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


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
    word = rng.choice(WORDS)
    min_length = int(schema.get("minLength", 0))
    if len(word) < min_length:
        word = word + "x" * (min_length - len(word))
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and max_length > 0:
        word = word[:max_length]
    return word
