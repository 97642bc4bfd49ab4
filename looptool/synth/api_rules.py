"""Rule checks for generated API specs, and the constraint vocabulary the Constraint trees speak.

The generator LLM writes one OpenAI function spec per (context leaf, constraint leaf) pair. Its
answer is untrusted, so before a spec enters the tool pool it passes the rules here. Every failed
rule yields a `Rejection` with a stable reason code (`REASON_CODES`), at most one per code and
spec, so a synthesis run can report "how many specs died of what" and a prompt change can be
judged by those counts.

The constraint vocabulary lives here too (not in trees.py) because the meaning of a constraint is
exactly what its check does: the tree loader validates constraint blocks with
`validate_constraints`, the prompt renders them with `describe_constraints`, and
`check_generated_spec` enforces them; one module keeps the three in step.

Only the stdlib, jsonschema and looptool.tools.spec (itself stdlib + jsonschema) are imported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import best_match

from looptool.errors import ConstraintError, ToolSpecError
from looptool.similarity import JaccardIndex
from looptool.tools.patterns import PATTERN_INVALID, first_unsafe_pattern, pattern_problem, safe_validator
from looptool.tools.spec import normalize_tool

# --------------------------------------------------------------------------- reason codes

INVALID_SCHEMA = "invalid_schema"
BAD_NAME_CONVENTION = "bad_name_convention"
BAD_NAME_VERB = "bad_name_verb"
PARAM_COUNT_OUT_OF_RANGE = "param_count_out_of_range"
MISSING_PARAM_TYPES = "missing_param_types"
MISSING_DESCRIPTION = "missing_description"
REQUIRED_NOT_SUBSET = "required_not_subset"
REQUIRED_RATIO_OUT_OF_RANGE = "required_ratio_out_of_range"
MISSING_DOMAIN_PARAM = "missing_domain_param"
MISSING_DEFAULT = "missing_default"
OUTPUT_FORMAT_MISMATCH = "output_format_mismatch"
DUPLICATE_NAME = "duplicate_name"
NEAR_DUPLICATE_DESCRIPTION = "near_duplicate_description"
UNSAFE_PATTERN = "unsafe_pattern"  # a `pattern` no linear-time engine can run (see tools.patterns)

REASON_CODES: tuple[str, ...] = (
    INVALID_SCHEMA,
    BAD_NAME_CONVENTION,
    BAD_NAME_VERB,
    PARAM_COUNT_OUT_OF_RANGE,
    MISSING_PARAM_TYPES,
    MISSING_DESCRIPTION,
    REQUIRED_NOT_SUBSET,
    REQUIRED_RATIO_OUT_OF_RANGE,
    MISSING_DOMAIN_PARAM,
    MISSING_DEFAULT,
    OUTPUT_FORMAT_MISMATCH,
    DUPLICATE_NAME,
    NEAR_DUPLICATE_DESCRIPTION,
    UNSAFE_PATTERN,
)


@dataclass(frozen=True)
class Rejection:
    """One failed rule: `code` is stable (for counting), `detail` says what exactly was wrong."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


# --------------------------------------------------------------------------- vocabulary

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")
# "enum" is not a JSON type: a constraint asking for it wants a parameter with an `enum` list.
PARAM_TYPES = (*JSON_TYPES, "enum")
OUTPUT_FORMATS = JSON_TYPES

# Every convention needs at least two words (dotted: two segments); a one-word name such as
# "search" fits several conventions at once and says too little to be a good tool name anyway.
NAMING_PATTERNS: dict[str, re.Pattern[str]] = {
    "snake_case": re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+"),
    "camelCase": re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+"),
    "PascalCase": re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)+"),
    "dotted": re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"),
}
NAMING_EXAMPLES = {
    "snake_case": "search_flights",
    "camelCase": "searchFlights",
    "PascalCase": "SearchFlights",
    "dotted": "flights.search_fares",
}
NAMING_RULES = {
    "snake_case": "lowercase words joined by underscores",
    "camelCase": "first word lowercase, each later word capitalised, no separators",
    "PascalCase": "every word capitalised, no separators",
    "dotted": "lowercase snake_case segments joined by dots (namespace.action)",
}

# Tool names in the pool. Dots are allowed because BFCL uses them (OpenAI's native `tools`
# field does not; the engine renders tools into the system prompt, where that does not matter).
TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"

_SLUG = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"

CONSTRAINTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "naming": {"enum": list(NAMING_PATTERNS)},
        "name_verbs": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z]+$"},
        },
        "param_count": {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 0},
                {"type": "integer", "minimum": 0},
            ],
            "minItems": 2,
            "maxItems": 2,
        },
        "param_types": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(PARAM_TYPES)},
        },
        "required_ratio": {
            "type": "array",
            "prefixItems": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "number", "minimum": 0, "maximum": 1},
            ],
            "minItems": 2,
            "maxItems": 2,
        },
        "optional_defaults": {"type": "boolean"},
        "output_format": {"enum": list(OUTPUT_FORMATS)},
        "output_fields": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": _SLUG},
        },
        "domain_params": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "type"],
                "properties": {
                    "name": {"type": "string", "pattern": _SLUG},
                    "type": {"enum": list(JSON_TYPES)},
                    "required": {"type": "boolean"},
                    "pattern": {"type": "string", "minLength": 1},
                    "format": {"type": "string", "minLength": 1},
                    "enum": {"type": "array", "minItems": 1, "uniqueItems": True},
                    "description_mentions": {"type": "string", "minLength": 1},
                },
            },
        },
        "guidance": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}
CONSTRAINT_KEYS = tuple(CONSTRAINTS_SCHEMA["properties"])
_CONSTRAINTS_VALIDATOR = Draft202012Validator(CONSTRAINTS_SCHEMA)


def validate_constraints(raw: Any) -> dict[str, Any]:
    """Check one constraint block (a node's own attributes, not yet merged) and return a copy.

    Raises ConstraintError naming the key, so the tree loader can add file and node path.
    """
    error = best_match(_CONSTRAINTS_VALIDATOR.iter_errors(raw))
    if error is not None:
        raise ConstraintError("/".join(str(p) for p in error.absolute_path), error.message)
    for key in ("param_count", "required_ratio"):
        if key in raw and raw[key][0] > raw[key][1]:
            raise ConstraintError(key, f"minimum {raw[key][0]} exceeds maximum {raw[key][1]}")
    for i, param in enumerate(raw.get("domain_params", ())):
        where = f"domain_params/{i}"
        if "pattern" in param:
            if param["type"] != "string":
                raise ConstraintError(where, "a pattern only applies to a string parameter")
            problem = pattern_problem(param["pattern"])
            if problem is not None:
                detail = "pattern does not compile" if problem.code == PATTERN_INVALID else "pattern cannot be checked safely"
                raise ConstraintError(where, f"{detail} ({problem})")
        for value in param.get("enum", ()):
            if not _is_json_type(value, param["type"]):
                raise ConstraintError(where, f"enum value {value!r} is not of type {param['type']}")
    names = [p["name"] for p in raw.get("domain_params", ())]
    if len(names) != len(set(names)):
        raise ConstraintError("domain_params", "a parameter name is listed twice")
    return {k: _copy(v) for k, v in raw.items()}


def merge_constraints(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Effective constraints of `child` under `parent`: the child overrides key by key, except
    `domain_params` (merged by parameter name, child wins) and `guidance` (appended), so a shared
    structure can carry the general rules and a domain leaf only adds its own parameters/notes."""
    out = {k: _copy(v) for k, v in parent.items()}
    for key, value in child.items():
        if key == "domain_params":
            merged = {p["name"]: p for p in out.get(key, [])}
            merged.update({p["name"]: _copy(p) for p in value})
            out[key] = list(merged.values())
        elif key == "guidance":
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = _copy(value)
    return out


def unsatisfiable_reason(constraints: Mapping[str, Any]) -> str | None:
    """Why no spec can satisfy these effective constraints, or None if some spec might.

    A leaf that no spec can satisfy would burn generator calls forever; the loader refuses it.
    The parameter-count bound is a necessary condition (each domain parameter and each asked-for
    type not already covered by one needs its own parameter), not a full solver.
    """
    lo, hi = constraints.get("param_count", (0, math.inf))
    domain_params = constraints.get("domain_params", [])
    covered = {p["type"] for p in domain_params} | {"enum" for p in domain_params if "enum" in p}
    missing = set(constraints.get("param_types", ())) - covered
    slots = len(domain_params) + len(missing - {"enum"})
    if "enum" in missing and not missing & {"string", "integer", "number"}:
        slots += 1
    if slots > hi:
        return f"needs at least {slots} parameters (domain_params plus one per asked-for type) but param_count allows at most {hi}"
    if constraints.get("output_fields") and constraints.get("output_format") not in ("object", "array"):
        return "output_fields need output_format 'object' or 'array'"
    ratio = constraints.get("required_ratio")
    if ratio is not None:
        must = sum(1 for p in domain_params if p.get("required"))
        top = hi if hi != math.inf else max(lo, slots) + 16
        if not any(_ratio_feasible(n, must, ratio) for n in range(max(lo, slots), int(top) + 1)):
            return f"no parameter count in range fits required_ratio {ratio} with {must} required domain_params"
    return None


def _ratio_feasible(n: int, must: int, ratio: Iterable[float]) -> bool:
    lo, hi = ratio
    if n == 0:
        return True
    return any(lo - 1e-9 <= k / n <= hi + 1e-9 for k in range(must, n + 1))


def describe_constraints(constraints: Mapping[str, Any]) -> list[str]:
    """Plain-language rules for the generator prompt, one line per checked constraint.

    `guidance` is advice the checks do not enforce; the prompt shows it apart from the rules."""
    lines: list[str] = []
    naming = constraints.get("naming")
    if naming:
        lines.append(f"Function name style: {naming} ({NAMING_RULES[naming]}, at least two words), e.g. {NAMING_EXAMPLES[naming]}.")
    verbs = constraints.get("name_verbs")
    if verbs:
        where = "the last dotted segment" if naming == "dotted" else "the function name"
        lines.append(f"{where[0].upper()}{where[1:]} starts with one of these verbs: {', '.join(verbs)}.")
    count = constraints.get("param_count")
    if count:
        lines.append(
            f"Number of parameters (top-level properties): {count[0]}" + (f" to {count[1]}." if count[1] != count[0] else " exactly.")
        )
    types = constraints.get("param_types")
    if types:
        shown = [f"{t} (a parameter with an enum list)" if t == "enum" else t for t in types]
        lines.append(f"Use at least one parameter of each of these types: {', '.join(shown)}.")
    ratio = constraints.get("required_ratio")
    if ratio:
        lines.append(f"Between {round(ratio[0] * 100)}% and {round(ratio[1] * 100)}% of the parameters are listed in `required`.")
    if constraints.get("optional_defaults"):
        lines.append("Every optional parameter (not in `required`) declares a valid `default`.")
    for param in constraints.get("domain_params", ()):
        lines.append(f"Include a parameter {_describe_domain_param(param)}.")
    output = constraints.get("output_format")
    if output:
        text = f'Add a "returns" JSON Schema describing the result; its type is {output}'
        fields = constraints.get("output_fields")
        if fields:
            holder = "its items' properties" if output == "array" else "its properties"
            text += f", and {holder} include {', '.join(fields)}"
        lines.append(text + ".")
    return lines


def _describe_domain_param(param: Mapping[str, Any]) -> str:
    parts = [f"named {param['name']} (same words in your parameter naming style) of type {param['type']}"]
    if "pattern" in param:
        parts.append(f'with "pattern": "{param["pattern"]}"')
    if "format" in param:
        parts.append(f'with "format": "{param["format"]}"')
    if "enum" in param:
        parts.append(f'with "enum" containing {", ".join(map(repr, param["enum"]))}')
    if "description_mentions" in param:
        parts.append(f"whose description mentions {param['description_mentions']!r}")
    parts.append("listed in `required`" if param.get("required") else "")
    return ", ".join(p for p in parts if p)


# --------------------------------------------------------------------------- spec schema

# Two gates decide `invalid_schema`. First looptool.tools.spec.normalize_tool, the engine-wide
# gate every tool (imported or generated) passes, so an accepted spec is always loadable by the
# tool layer. It is lenient on purpose (BFCL aliases, wrapped form, untyped parameters), so a
# second, stricter schema states what a *generated* spec must look like: the bare OpenAI
# function form, every parameter typed with a JSON type, arrays saying what they hold, and an
# optional "returns" schema for the Tool agent to simulate results from.
_PARAM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": list(JSON_TYPES)},
        "description": {"type": "string"},
        "enum": {"type": "array", "minItems": 1, "uniqueItems": True},
        "items": {"$ref": "#/definitions/param"},
        "properties": {"type": "object", "additionalProperties": {"$ref": "#/definitions/param"}},
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "pattern": {"type": "string"},
        "format": {"type": "string"},
    },
    "allOf": [{"if": {"required": ["type"], "properties": {"type": {"const": "array"}}}, "then": {"required": ["items"]}}],
}

FUNCTION_SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {"param": _PARAM_SCHEMA},
    "type": "object",
    "required": ["name", "parameters"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
        "description": {"type": "string"},
        "parameters": {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {
                "type": {"const": "object"},
                "properties": {"type": "object", "additionalProperties": {"$ref": "#/definitions/param"}},
                "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
        },
        "returns": {"$ref": "#/definitions/param"},
    },
}
# Draft 7: the dialect OpenAI and BFCL tool schemas are written in (and far cheaper to
# meta-validate than 2020-12's dynamic references).
_SPEC_VALIDATOR = Draft7Validator(FUNCTION_SPEC_SCHEMA)
_META_VALIDATOR = Draft7Validator(Draft7Validator.META_SCHEMA)
# Defaults are checked against the spec's own (model-written) schema: its patterns run on RE2.
_SAFE_DRAFT7 = safe_validator(Draft7Validator)


def _schema_problem(spec: Any) -> str | None:
    try:
        # Unknown `required` names have their own reason code (required_not_subset), so the
        # engine gate sees a copy without them and judges everything else.
        normalize_tool(_known_required_only(spec))
    except ToolSpecError as exc:
        return f"{exc.field}: {exc.reason}"
    error = best_match(_SPEC_VALIDATOR.iter_errors(spec))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<spec>"
        return f"{where}: {error.message}"
    # The parameters object and the returns schema must be valid JSON Schemas themselves
    # (e.g. "minimum": "one" is not); one meta-schema pass each covers every nested level.
    for where, schema in (("parameters", spec["parameters"]), ("returns", spec.get("returns"))):
        if schema is not None:
            error = best_match(_META_VALIDATOR.iter_errors(schema))
            if error is not None:
                inner = "/".join(str(p) for p in error.absolute_path)
                return f"{where}{'/' + inner if inner else ''}: not a valid JSON Schema: {error.message}"
    for where, schema in _walk_params(spec):
        problem = _param_problem(schema)
        if problem:
            return f"{where}: {problem}"
    if "returns" in spec:
        problem = _param_problem(spec["returns"])
        if problem:
            return f"returns: {problem}"
    return None


def _known_required_only(node: Any) -> Any:
    """Copy of a (possibly malformed) schema tree whose `required` lists name only properties
    that exist; anything that is not the expected shape is copied unchanged."""
    if isinstance(node, list):
        return [_known_required_only(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _known_required_only(v) for k, v in node.items()}
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if not isinstance(r, str) or r in out["properties"]]
    return out


def _param_problem(schema: Mapping[str, Any]) -> str | None:
    """Checks a schema cannot express about itself: enum values and default fit the type, the
    pattern compiles."""
    if "pattern" in schema:
        problem = pattern_problem(schema["pattern"])
        if problem is not None:
            return f"pattern does not compile: {problem}"
    for value in schema.get("enum", ()):
        if not _is_json_type(value, schema["type"]):
            return f"enum value {value!r} is not of type {schema['type']}"
    if "default" in schema:
        body = {k: v for k, v in schema.items() if k != "default"}
        error = best_match(_SAFE_DRAFT7(body).iter_errors(schema["default"]))
        if error is not None:
            return f"default {schema['default']!r} does not fit the schema: {error.message}"
    return None


def _walk_params(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every parameter schema under `parameters`, nested properties and array items included."""

    def walk(schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        yield where, schema
        for name, sub in schema.get("properties", {}).items():
            yield from walk(sub, f"{where}.{name}")
        if isinstance(schema.get("items"), Mapping):
            yield from walk(schema["items"], f"{where}[]")

    for name, sub in spec["parameters"]["properties"].items():
        yield from walk(sub, name)


def _is_json_type(value: Any, json_type: str) -> bool:
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    python = {"string": str, "boolean": bool, "array": list, "object": dict}[json_type]
    return isinstance(value, python)


# --------------------------------------------------------------------------- names and tokens

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z0-9]+")


def name_words(name: str) -> list[str]:
    """Lowercase words of an identifier in any convention: getHTTPStatus -> get, http, status."""
    return [w.lower() for part in re.split(r"[._\-\s]+", name) for w in _WORD.findall(part)]


def canonical_name(name: str) -> str:
    """Convention-free form, so search_flights, searchFlights and SearchFlights collide."""
    return "_".join(name_words(name))


def action_verb(name: str, naming: str | None) -> str | None:
    """The verb a name starts with; for dotted names the verb opens the last segment."""
    part = name.rsplit(".", 1)[-1] if naming == "dotted" else name
    words = name_words(part)
    return words[0] if words else None


_STOPWORDS = frozenset(
    "a an and are as at be by can for from given has in into is it its of on or that the this to was which will with".split()
)


def similarity_tokens(name: str, description: str) -> frozenset[str]:
    """Content words of name + description: the set near-duplicate detection compares."""
    words = name_words(name) + re.findall(r"[a-z0-9]+", description.lower())
    return frozenset(w for w in words if len(w) > 1 and w not in _STOPWORDS)


# --------------------------------------------------------------------------- index


class SpecIndex:
    """The specs already accepted, with O(1) name lookup and exact near-duplicate search
    (token-set Jaccard over name + description, see looptool.similarity)."""

    def __init__(self, threshold: float = 0.75, specs: Iterable[Mapping[str, Any]] = ()) -> None:
        self._index = JaccardIndex(threshold)
        self._names: dict[str, str] = {}
        for spec in specs:
            self.add(spec)

    @property
    def threshold(self) -> float:
        return self._index.threshold

    def __len__(self) -> int:
        return len(self._index)

    def add(self, spec: Mapping[str, Any]) -> None:
        """Record an accepted spec; the caller adds only specs that passed the checks."""
        name = str(spec["name"])
        self._index.add(name, similarity_tokens(name, str(spec.get("description", ""))))
        self._names.setdefault(canonical_name(name), name)

    def name_conflict(self, name: str) -> str | None:
        """The existing name that `name` duplicates (ignoring naming convention), if any."""
        return self._names.get(canonical_name(name))

    def most_similar(self, name: str, description: str) -> tuple[str, float] | None:
        """The most similar existing spec at or above the threshold, as (name, Jaccard)."""
        return self._index.most_similar(similarity_tokens(name, description))


# --------------------------------------------------------------------------- the check


def check_generated_spec(spec: Any, constraint: Mapping[str, Any], existing: SpecIndex) -> list[Rejection]:
    """All rules a generated spec breaks; an empty list means accept (then `existing.add(spec)`).

    A spec with an invalid shape gets only `invalid_schema`: the other rules read its fields. A
    pattern that parses but needs a backtracking engine gets only `unsafe_pattern`: nothing in
    the spec is matched against it.
    """
    unsafe = first_unsafe_pattern(spec) if isinstance(spec, Mapping) else None
    if unsafe is not None and unsafe[1].code != PATTERN_INVALID:
        return [Rejection(UNSAFE_PATTERN, f"{unsafe[0]}: {unsafe[1]}")]
    problem = _schema_problem(spec)
    if problem:
        return [Rejection(INVALID_SCHEMA, problem)]

    rejections: list[Rejection] = []

    def reject(code: str, detail: str) -> None:
        rejections.append(Rejection(code, detail))

    name: str = spec["name"]
    params: dict[str, Any] = spec["parameters"]["properties"]
    required: list[str] = spec["parameters"].get("required", [])
    params_all = list(_walk_params(spec))

    undocumented = [] if str(spec.get("description", "")).strip() else ["<tool>"]
    undocumented += [where for where, schema in params_all if not where.endswith("[]") and not str(schema.get("description", "")).strip()]
    if undocumented:
        reject(MISSING_DESCRIPTION, f"no description for {', '.join(undocumented)}")

    unknown = [f"{r!r}" for r in required if r not in params]
    for where, schema in params_all:
        unknown += [f"{r!r} in {where}" for r in schema.get("required", ()) if r not in schema.get("properties", {})]
    if unknown:
        reject(REQUIRED_NOT_SUBSET, f"required names without a property: {', '.join(unknown)}")

    naming = constraint.get("naming")
    if naming and not NAMING_PATTERNS[naming].fullmatch(name):
        reject(BAD_NAME_CONVENTION, f"{name!r} is not {naming} (e.g. {NAMING_EXAMPLES[naming]})")

    verbs = constraint.get("name_verbs")
    if verbs:
        verb = action_verb(name, naming)
        if verb not in verbs:
            reject(BAD_NAME_VERB, f"{name!r} starts with {verb!r}, expected one of {', '.join(verbs)}")

    count = constraint.get("param_count")
    if count and not count[0] <= len(params) <= count[1]:
        reject(PARAM_COUNT_OUT_OF_RANGE, f"{len(params)} parameters, expected {count[0]} to {count[1]}")

    wanted = constraint.get("param_types")
    if wanted:
        used = {s["type"] for _, s in params_all} | {"enum" for _, s in params_all if "enum" in s}
        lacking = [t for t in wanted if t not in used]
        if lacking:
            reject(MISSING_PARAM_TYPES, f"no parameter of type {', '.join(lacking)}")

    ratio = constraint.get("required_ratio")
    if ratio and params:
        share = len(set(required) & set(params)) / len(params)
        if not ratio[0] - 1e-9 <= share <= ratio[1] + 1e-9:
            reject(
                REQUIRED_RATIO_OUT_OF_RANGE,
                f"{share:.0%} of parameters required, expected {ratio[0]:.0%} to {ratio[1]:.0%}",
            )

    missing_params = [
        f"{p['name']} ({why})" for p in constraint.get("domain_params", ()) if (why := _domain_param_problem(p, params, required))
    ]
    if missing_params:
        reject(MISSING_DOMAIN_PARAM, "; ".join(missing_params))

    if constraint.get("optional_defaults"):
        lacking = [p for p, s in params.items() if p not in required and "default" not in s]
        if lacking:
            reject(MISSING_DEFAULT, f"optional parameters without a default: {', '.join(lacking)}")

    output = constraint.get("output_format")
    if output:
        why = _output_problem(spec.get("returns"), output, constraint.get("output_fields", ()))
        if why:
            reject(OUTPUT_FORMAT_MISMATCH, why)

    rejections += duplicate_rejections(spec, existing)
    return rejections


def duplicate_rejections(spec: Mapping[str, Any], existing: SpecIndex) -> list[Rejection]:
    """The duplicate rules alone: API synthesis applies them after every unit has its answer,
    in unit order, so which of two twins survives never depends on which finished first."""
    name = str(spec["name"])
    rejections = []
    clash = existing.name_conflict(name)
    if clash is not None:
        rejections.append(Rejection(DUPLICATE_NAME, f"{name!r} duplicates existing {clash!r}"))
    similar = existing.most_similar(name, str(spec.get("description", "")))
    if similar is not None:
        rejections.append(
            Rejection(
                NEAR_DUPLICATE_DESCRIPTION,
                f"{similar[1]:.2f} similar to existing {similar[0]!r} (threshold {existing.threshold})",
            )
        )
    return rejections


def _domain_param_problem(wanted: Mapping[str, Any], params: Mapping[str, Any], required: list[str]) -> str | None:
    matches = [p for p in params if canonical_name(p) == wanted["name"]]
    if not matches:
        return "absent"
    name = matches[0]
    schema = params[name]
    if schema["type"] != wanted["type"]:
        return f"type {schema['type']}, expected {wanted['type']}"
    for key in ("pattern", "format"):
        if key in wanted and schema.get(key) != wanted[key]:
            return f"{key} {schema.get(key)!r}, expected {wanted[key]!r}"
    if "enum" in wanted and not set(map(repr, wanted["enum"])) <= set(map(repr, schema.get("enum", ()))):
        return f"enum lacks some of {wanted['enum']!r}"
    mention = wanted.get("description_mentions")
    if mention and mention.lower() not in str(schema.get("description", "")).lower():
        return f"description does not mention {mention!r}"
    if wanted.get("required") and name not in required:
        return "not required"
    return None


def _output_problem(returns: Any, output: str, fields: Iterable[str]) -> str | None:
    if returns is None:
        return f'no "returns" schema; expected one of type {output}'
    if returns["type"] != output:
        return f"returns type {returns['type']}, expected {output}"
    holder = returns.get("items", {}) if output == "array" else returns
    present = {canonical_name(k) for k in holder.get("properties", {})}
    lacking = [f for f in fields if f not in present]
    if lacking:
        return f"returns lacks fields {', '.join(lacking)}"
    return None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
