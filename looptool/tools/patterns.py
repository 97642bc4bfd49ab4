"""Regular expressions from untrusted sources (model-written specs, user tool files), run safely.

Python's `re` backtracks: `^(a+)+$` against thirty `a`s and a `!` takes minutes and holds the
GIL, so one model-written `pattern` could freeze the event loop (and ignore SIGTERM). Every
pattern that does not come from the engine's own source is therefore matched by RE2
(`google-re2`), whose matching time is linear in the input. RE2 has no backreferences or
lookaround; a pattern that needs them cannot be checked safely and is refused with a reason code,
never handed to the backtracking engine instead.

`safe_validator(cls)` gives a jsonschema validator class whose `pattern`, `patternProperties` and
`additionalProperties` keywords match through RE2, so schema validation of untrusted schemas is
bounded too. `re2` is imported on first use: the reward workers inside the TRL/verl runtimes
import looptool.tools but never match spec patterns, so they do not need the package.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

# Reason codes (stable: verification and spec rejection count by them).
PATTERN_INVALID = "pattern_invalid"  # not a regular expression at all
PATTERN_UNSUPPORTED = "pattern_unsupported"  # backreferences, lookaround, ...: no linear-time check
PATTERN_TOO_LONG = "pattern_too_long"

MAX_PATTERN_CHARS = 2000
_RE2_MAX_MEM = 8 << 20  # per compiled program; RE2 refuses larger ones instead of growing


class UncheckablePatternError(ValidationError):  # type: ignore[misc]  # jsonschema ships no type hints
    """A schema's pattern could not be run safely: the value is neither accepted nor rejected."""


class UnsafePattern(ValueError):
    """A pattern the engine will not run; `code` is one of the PATTERN_* reason codes."""

    def __init__(self, code: str, pattern: str, detail: str) -> None:
        self.code = code
        self.pattern = pattern
        self.detail = detail
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        super().__init__(f"{code}: {shown!r}: {detail}")


def _re2() -> Any:
    try:
        import re2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RuntimeError("matching untrusted patterns needs google-re2 (pip install google-re2)") from exc
    return re2


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program for `pattern`, or UnsafePattern saying why there is none."""
    if not isinstance(pattern, str):
        raise UnsafePattern(PATTERN_INVALID, repr(pattern), "a pattern must be a string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(PATTERN_TOO_LONG, pattern, f"{len(pattern)} characters, limit {MAX_PATTERN_CHARS}")
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    # Not RE2 syntax. Python's parser tells a valid-but-unsupported pattern from garbage
    # (parsing is linear; only matching backtracks).
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafePattern(PATTERN_INVALID, pattern, f"does not compile: {exc}") from None
    raise UnsafePattern(PATTERN_UNSUPPORTED, pattern, f"needs a backtracking engine ({detail})")


def pattern_problem(pattern: Any) -> UnsafePattern | None:
    try:
        compile_pattern(pattern)
    except UnsafePattern as problem:
        return problem
    return None


def search(pattern: str, text: str) -> bool:
    """JSON Schema `pattern` semantics (unanchored search), in linear time."""
    return compile_pattern(pattern).search(text) is not None


def schema_patterns(schema: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(where, pattern) for every `pattern` value and `patternProperties` key in a schema tree."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from schema_patterns(item, f"{where}[{index}]")
        return
    if not isinstance(schema, Mapping):
        return
    for key, value in schema.items():
        path = f"{where}.{key}" if where else str(key)
        if key == "pattern" and isinstance(value, str):
            yield path, value
        elif key == "patternProperties" and isinstance(value, Mapping):
            for pattern, sub in value.items():
                yield f"{path}[{pattern!r}]", pattern
                yield from schema_patterns(sub, f"{path}[{pattern!r}]")
        elif key in ("enum", "const", "default", "examples"):
            continue  # values, not schemas
        elif isinstance(value, (Mapping, list)):
            yield from schema_patterns(value, path)


def first_unsafe_pattern(schema: Any) -> tuple[str, UnsafePattern] | None:
    """(where, problem) for the first pattern in `schema` that cannot be checked safely."""
    for where, pattern in schema_patterns(schema):
        problem = pattern_problem(pattern)
        if problem is not None:
            return where, problem
    return None


# -- jsonschema keywords over RE2 --------------------------------------------------------------


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = search(pattern, instance)
    except UnsafePattern as problem:
        yield UncheckablePatternError(f"pattern cannot be checked safely ({problem})")
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _matching_patterns(patterns: Mapping[str, Any], key: str) -> Iterator[tuple[str | None, UnsafePattern | None]]:
    for pattern in patterns:
        try:
            if search(pattern, key):
                yield pattern, None
        except UnsafePattern as problem:
            yield None, problem


def _pattern_properties(validator: Any, pattern_properties: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            try:
                matched = search(pattern, key)
            except UnsafePattern as problem:
                yield UncheckablePatternError(f"patternProperties cannot be checked safely ({problem})")
                return
            if matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """jsonschema's own keyword, with the patternProperties exemption matched by RE2."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = []
    for key in instance:
        if key in properties:
            continue
        matches = list(_matching_patterns(patterns, key))
        if any(problem is not None for _, problem in matches):
            yield UncheckablePatternError(f"patternProperties cannot be checked safely ({next(p for _, p in matches if p)})")
            return
        if not matches:
            extras.append(key)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(extra) for extra in sorted(extras))
            shown = ", ".join(repr(p) for p in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {shown}")
        else:
            noun = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))} {noun} unexpected)")


def _unevaluated_properties(original: Any) -> Any:
    """jsonschema evaluates patternProperties here with `re`; refuse that combination instead."""

    def keyword(validator: Any, unevaluated: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if "patternProperties" in schema and validator.is_type(instance, "object"):
            yield UncheckablePatternError("unevaluatedProperties next to patternProperties cannot be checked safely (pattern_unsupported)")
            return
        yield from original(validator, unevaluated, instance, schema)

    return keyword


@functools.cache
def safe_validator(cls: type) -> type:
    """`cls` (a jsonschema validator class) with every pattern keyword matched by RE2."""
    keywords: dict[str, Any] = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    known: dict[str, Any] = getattr(cls, "VALIDATORS")  # noqa: B009 - a jsonschema validator class attribute
    if "unevaluatedProperties" in known:
        keywords["unevaluatedProperties"] = _unevaluated_properties(known["unevaluatedProperties"])
    extended: type = jsonschema.validators.extend(cls, validators=keywords)
    return extended
