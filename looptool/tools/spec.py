"""Tool specs: one normalised form for every source, checked with jsonschema.

Tools arrive as OpenAI function schemas (`{"type": "function", "function": {...}}` or the bare
function dict), as BFCL function docs (`"type": "dict"`, `"float"`, `"tuple"`, `"any"`) or as
LLM-synthesised JSON. Everything downstream (validation, defaults, number typing in ToolMatch,
prompt rendering) wants one form, so we normalise once to the OpenAI function form with a JSON
Schema `parameters` object and reject anything that is not a usable schema, naming the tool and
the field. Stdlib + jsonschema only: this module runs inside reward workers.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from collections.abc import Iterable, Mapping

import jsonschema
from jsonschema import Draft7Validator

from looptool.errors import ToolSpecError
from looptool.tools.patterns import safe_validator

# Python-ish and BFCL type names mapped to JSON Schema. "any" means unconstrained (no "type").
TYPE_ALIASES: dict[str, str | None] = {
    "string": "string",
    "str": "string",
    "text": "string",
    "integer": "integer",
    "int": "integer",
    "long": "integer",
    "number": "number",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "object": "object",
    "dict": "object",
    "null": "null",
    "none": "null",
    "any": None,
    # BFCL's Java docs (simple_java) use Java type names.
    "char": "string",
    "byte": "integer",
    "short": "integer",
    "arraylist": "array",
    "hashmap": "object",
    "map": "object",
}

# OpenAI allows [a-zA-Z0-9_-]{1,64}; BFCL names also use dots (e.g. "spotify.play").
NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
_NAME_RE = re.compile(NAME_PATTERN)

# The shape of a normalised tool. Keywords inside `parameters` are checked separately against
# the JSON Schema meta-schema (Draft 7, the dialect OpenAI and BFCL schemas are written in).
TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "parameters"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": "string"},
        "parameters": {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {
                "type": {"const": "object"},
                "properties": {"type": "object"},
                "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
        },
    },
}
_TOOL_VALIDATOR = Draft7Validator(TOOL_SCHEMA)


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    # jsonschema counts 1.0 as an integer; a tool call with 5.0 for an integer parameter is a
    # type error for BFCL and for our reward, so validation agrees with them.
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 7 with integers that must be JSON integers (no 1.0); used for argument values. Spec
# patterns are untrusted (model-written or third-party), so they are matched by RE2.
ArgumentValidator = safe_validator(
    jsonschema.validators.extend(
        Draft7Validator,
        type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
    )
)


@dataclass(frozen=True)
class ToolSpec:
    """A normalised tool: OpenAI function form with a JSON Schema `parameters` object."""

    name: str
    description: str
    parameters: dict

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def to_openai(self) -> dict[str, Any]:
        """The entry for the `tools` parameter of the Chat Completions API."""
        return {"type": "function", "function": self.to_dict()}

    @cached_property
    def properties(self) -> dict[str, dict]:
        properties: dict[str, dict] = self.parameters.get("properties", {})
        return properties

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))

    @cached_property
    def _argument_validators(self) -> dict[str, Any]:
        return {}

    def argument_validator(self, argument: str) -> Any:
        """A compiled validator for one top-level argument (cached: reward workers reuse specs)."""
        validators = self._argument_validators
        if argument not in validators:
            validators[argument] = ArgumentValidator(self.properties[argument])
        return validators[argument]


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _normalize_schema(node: Any, tool: str, path: str) -> Any:
    """Rewrite type aliases recursively; return a new schema (the input is never mutated)."""
    if isinstance(node, bool):  # `true`/`false` are valid JSON Schemas
        return node
    if not isinstance(node, dict):
        raise ToolSpecError(tool, path, f"expected a JSON Schema object, got {type(node).__name__}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            if isinstance(value, str):
                mapped = TYPE_ALIASES.get(value.strip().lower(), value)
                if mapped is not None:
                    out["type"] = mapped
            elif isinstance(value, list):
                mapped_list = [TYPE_ALIASES.get(v.strip().lower(), v) if isinstance(v, str) else v for v in value]
                if None not in mapped_list:  # "any" in a union makes the union unconstrained
                    out["type"] = mapped_list
            else:
                out["type"] = value  # left for the meta-schema check to reject with its path
        elif key in ("properties", "patternProperties", "definitions", "$defs") and isinstance(value, dict):
            out[key] = {k: _normalize_schema(v, tool, f"{path}.{key}.{k}") for k, v in value.items()}
        elif key in (
            "items",
            "additionalProperties",
            "additionalItems",
            "not",
            "contains",
            "propertyNames",
            "if",
            "then",
            "else",
        ) and isinstance(value, (dict, bool)):
            out[key] = _normalize_schema(value, tool, f"{path}.{key}")
        elif key in ("items", "anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_normalize_schema(v, tool, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
        else:
            out[key] = copy.deepcopy(value)
    if "type" not in out and isinstance(out.get("properties"), dict) and "anyOf" not in out and "oneOf" not in out:
        out["type"] = "object"
    return out


def _check_required(schema: Any, tool: str, path: str) -> None:
    """`required` names must exist in `properties` (jsonschema itself does not check this)."""
    if not isinstance(schema, dict):
        return
    props = schema.get("properties")
    required = schema.get("required")
    if isinstance(props, dict) and isinstance(required, list):
        for name in required:
            if name not in props:
                raise ToolSpecError(tool, f"{path}.required", f"{name!r} is required but not in properties")
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for pname, sub in value.items():
                _check_required(sub, tool, f"{path}.properties.{pname}")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            _check_required(value, tool, f"{path}.{key}")
        elif key in ("items", "anyOf", "oneOf", "allOf") and isinstance(value, list):
            for i, sub in enumerate(value):
                _check_required(sub, tool, f"{path}.{key}[{i}]")


def normalize_tool(raw: Any) -> dict[str, Any]:
    """Return {"name", "description", "parameters"} in normalised, validated form.

    Accepts {"type": "function", "function": {...}}, a bare function dict, or a BFCL doc.
    Raises ToolSpecError naming the tool and the offending field.
    """
    if isinstance(raw, ToolSpec):
        return raw.to_dict()
    if not isinstance(raw, dict):
        raise ToolSpecError("?", "<root>", f"expected a JSON object, got {type(raw).__name__}")
    func = raw
    if "function" in raw and isinstance(raw.get("function"), dict):
        if raw.get("type", "function") != "function":
            raise ToolSpecError(str(raw["function"].get("name", "?")), "type", f"expected 'function', got {raw.get('type')!r}")
        func = raw["function"]
    name = func.get("name")
    tool = name if isinstance(name, str) and name else "?"
    if not isinstance(name, str) or not name:
        raise ToolSpecError(tool, "name", f"expected a non-empty string, got {name!r}")
    description = func.get("description", "")
    if description is None:
        description = ""
    params = func.get("parameters")
    if params is None:
        params = {"type": "object", "properties": {}}
    params = _normalize_schema(params, tool, "parameters")
    if isinstance(params, dict):
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        if params.get("required") is None:
            params.pop("required", None)
    out = {"name": name, "description": description, "parameters": params}

    error = jsonschema.exceptions.best_match(_TOOL_VALIDATOR.iter_errors(out))
    if error is not None:
        raise ToolSpecError(tool, _field(error.absolute_path), error.message)
    try:
        Draft7Validator.check_schema(params)
    except jsonschema.SchemaError as exc:
        raise ToolSpecError(tool, _field(["parameters", *exc.absolute_path]), exc.message) from None
    _check_required(params, tool, "parameters")
    return out


def load_tool(raw: Any) -> ToolSpec:
    """Normalise and validate one tool spec."""
    if isinstance(raw, ToolSpec):
        return raw
    return ToolSpec(**normalize_tool(raw))


def load_tools(raws: Iterable[Any]) -> list[ToolSpec]:
    """Load a tool list; duplicate names are an error because calls are resolved by name."""
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for raw in raws:
        spec = load_tool(raw)
        if spec.name in seen:
            raise ToolSpecError(spec.name, "name", "duplicate tool name in the tool list")
        seen.add(spec.name)
        specs.append(spec)
    return specs


class ToolIndex(dict):
    """name -> ToolSpec, already loaded; hot paths (the reward) recognise it without re-checking."""


def tool_index(tools: Iterable[Any] | Mapping[str, Any] | None) -> ToolIndex:
    """Map tool name -> ToolSpec from a list of specs/raw dicts or an existing mapping."""
    if isinstance(tools, ToolIndex):
        return tools
    if tools is None:
        return ToolIndex()
    if isinstance(tools, Mapping):
        return ToolIndex((name, load_tool(spec)) for name, spec in tools.items())
    return ToolIndex((spec.name, spec) for spec in load_tools(tools))


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))
