"""A spec that satisfies a constraint leaf by construction.

Used where an answer must be right without a model: the simulator's generator role, and the
test that proves every shipped constraint leaf can be met by the rule checks.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

FILLER_WORDS = (
    "alpha",
    "amber",
    "cobalt",
    "delta",
    "harbor",
    "lumen",
    "maple",
    "nova",
    "orbit",
    "pixel",
    "quartz",
    "summit",
    "tango",
    "violet",
    "willow",
)


def styled_name(words: Sequence[str], naming: str) -> str:
    if naming == "camelCase":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if naming == "PascalCase":
        return "".join(w.capitalize() for w in words)
    if naming == "dotted":
        return words[-1] + "." + "_".join(words[:-1])
    return "_".join(words)


def param_schema(kind: str, label: str, rng: random.Random) -> dict[str, Any]:
    if kind == "enum":
        return {"type": "string", "enum": rng.sample(FILLER_WORDS, 3), "description": f"Which {label} to use."}
    schema: dict[str, Any] = {"type": kind, "description": f"The {label.replace('_', ' ')} for this request."}
    if kind == "array":
        schema["items"] = {"type": "string", "description": f"One {label} entry."}
    elif kind == "object":
        schema["properties"] = {"value": {"type": "string", "description": f"The {label} value."}}
    return schema


def default_for(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "auto", "integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}[schema["type"]]


def spec_satisfying(constraints: Mapping[str, Any], *, words: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """Name from `words` in the leaf's naming style and verbs; the leaf's domain parameters,
    parameter types, count, required ratio, defaults and return format."""
    words = list(words) or ["item"]
    verbs = constraints.get("name_verbs") or ["get"]
    base = [rng.choice(verbs).lower()] + rng.sample(words, min(2, len(words))) + [rng.choice(FILLER_WORDS)]
    name = styled_name([w for w in base if w], constraints.get("naming", "snake_case"))
    params: dict[str, dict[str, Any]] = {}
    must: list[str] = []
    covered: set[str] = set()
    for domain_param in constraints.get("domain_params") or []:
        schema = param_schema(domain_param["type"], domain_param["name"], rng)
        schema["description"] += f" {domain_param.get('description_mentions', '')}".rstrip()
        schema.update({k: domain_param[k] for k in ("pattern", "format", "enum") if k in domain_param})
        params[domain_param["name"]] = schema
        must.append(domain_param["name"])
        covered |= {domain_param["type"]} | ({"enum"} if "enum" in domain_param else set())
    for kind in constraints.get("param_types") or []:
        if kind in covered:
            continue
        label = f"{rng.choice(words)}_{kind if kind != 'enum' else 'mode'}"
        params[label] = param_schema(kind, label, rng)
        covered |= {kind, "string"} if kind == "enum" else {kind}
    low, _ = constraints.get("param_count") or (1, 4)
    while len(params) < low:
        label = f"{rng.choice(FILLER_WORDS)}_{len(params)}"
        params[label] = param_schema("string", label, rng)
    order = must + [p for p in params if p not in must]
    low_ratio, high_ratio = constraints.get("required_ratio") or (0.0, 1.0)
    count = len(params)
    required_count = next((k for k in range(len(must), count + 1) if low_ratio - 1e-9 <= k / count <= high_ratio + 1e-9), len(must))
    required = order[:required_count]
    if constraints.get("optional_defaults"):
        for param in order[required_count:]:
            params[param]["default"] = default_for(params[param])
    spec: dict[str, Any] = {
        "name": name,
        "description": f"{base[0].capitalize()}s {' '.join(words[:3])} records ({rng.choice(FILLER_WORDS)} variant).",
        "parameters": {"type": "object", "properties": params, "required": required},
    }
    output = constraints.get("output_format")
    if output:
        fields = {f: {"type": "string", "description": f} for f in constraints.get("output_fields", ["value"])}
        returns: dict[str, Any] = {"type": output, "description": "The result."}
        if output == "object":
            returns["properties"] = fields
        elif output == "array":
            returns["items"] = {"type": "object", "properties": fields}
        spec["returns"] = returns
    return spec
