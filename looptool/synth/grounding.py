"""Grounding: every argument value of a call must be traceable to the conversation before it.

A 135M model in every role wrote labels like `transfer_money {"from_account": "1234567890", ...}`
after a user turn that said `","`, and its judge passed them. A judge of any size is cheaper and
better when rules have removed such junk first; this module is that rule. Each argument value
(nested lists and objects value by value) gets a basis and a score in [0, 1]:

  score  basis              the value is ...
  1.0    stated             in a user turn as written (case and spacing aside)
  1.0    tool_result        in an earlier tool result
  1.0    enum_member        one of the parameter's enum members, and the conversation names it
  1.0    null, empty        null, [] or {} (nothing invented)
  0.9    normalised         in a user turn after normalisation: number formats (1,000 / 1000.0),
                            spelled numbers, multipliers, percentages, unit conversions, date
                            formats, words in another order or number
  0.9    relative_date      a date the user gave relative to the conversation's date
                            ("tomorrow", "in 3 days", "next Monday": both readings of "next")
  0.9    boolean            true/false for a parameter the conversation talks about
  0.8    default            the schema's default (passing it changes nothing)
  0.6    enum_choice        an enum member nobody named (choosing among the schema's members is
                            a judgement the judge tier checks, not an invention)
  0.6    boolean_choice     true/false for a parameter nobody mentioned
  0.6    implied_one        the number 1 (one item, one room: what a request without a count means)
  0.6    conversation_date  the conversation's own date, unstated ("the current rate")
  0.6    date_in_range      a day inside a vague range the user gave ("next week")
  c      partial            a string only some of whose content words are in the conversation
                            (c = the share found); a composed email body, a paraphrased query
  0      placeholder        "string", "value", "xxx", "<city>", "{date}", "YYYY-MM-DD", "your_id",
                            "" - or "test", "none", "example.com" when nobody said so
  0      repeats_parameter  the parameter's own name ("destination": "destination"), or a word
                            of its description nobody said ("citizenship": "country")
  0      absent             none of the above

A value scores below `accept_score` (default 0.5) -> a finding naming the argument: score 0 is
"clearly ungrounded" (ground:absent / ground:placeholder / ground:repeats_parameter), anything
in between is ground:weak. What a finding does (reject, send to the judge, keep and flag) is the
configured policy (synth.verify.grounding), applied by looptool.synth.verify. docs/quality.md
lists the tricky cases and why each is accepted or not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from looptool.synth import normalise as norm

CLEAR_FAILURES = {"placeholder": "ground:placeholder", "repeats_parameter": "ground:repeats_parameter", "absent": "ground:absent"}
WEAK = "ground:weak"
CODES = (*CLEAR_FAILURES.values(), WEAK)

# Values that are junk wherever they appear (even in the text: a generator writes "<city>" into
# the user turn as easily as into the label).
HARD_PLACEHOLDERS = frozenset(
    """string str value values placeholder integer int number float double boolean bool object array
    lorem ipsum foo bar baz qux foobar dummy""".split()
) | {"lorem ipsum", "some string", "some value", "any value", "your value", "sample value", "example value"}
# Values that are placeholders unless the conversation really says them.
SOFT_PLACEHOLDERS = frozenset(
    """test testing example sample unknown none null nil undefined n/a na tbd todo default text name
    data info input output item thing something anything id user list dict json""".split()
)
_TEMPLATE = re.compile(r"^(?:<[^<>]*>|\{\{?[^{}]*\}?\}|\[[^\[\]]*\]|\$\{?[A-Za-z_][\w]*\}?|%[sd]|\.{2,}|…|\?+|-+|_+)$")
_FORMAT_PART = r"(?:YYYY|YY|MMM|MM|DD|HH|hh|mm|SS|ss)"
_FORMAT_STRING = re.compile(rf"^{_FORMAT_PART}(?:[-/:. T]{_FORMAT_PART})+$")  # "YYYY-MM-DD", "HH:MM", not the ticker "MMM"
_INSTRUCTION = re.compile(r"^(?:your|enter|insert|put|type|add|fill|replace)[ _-]\w", re.IGNORECASE)
_REPEATED_CHAR = re.compile(r"^(.)\1{2,}$")
_EXAMPLES = re.compile(r"\b(?:e\.\s?g\.|eg\b|for example|for instance|such as|like)", re.IGNORECASE)
_SOFT_PATTERN = re.compile(r"example\.(?:com|org|net)\b|^x+$", re.IGNORECASE)


class ArgumentGrounding(BaseModel):
    """How one argument value (a leaf) is backed by the conversation."""

    model_config = ConfigDict(extra="forbid")

    step: int
    call: str
    path: str
    value: str
    basis: str
    score: float

    @property
    def argument(self) -> str:
        return f"{self.call}.{self.path}"


@dataclass
class Source:
    """What one kind of turn (user turns, tool results) says, pre-read for lookups."""

    text: str = ""
    collapsed: str = ""
    words: set[str] = field(default_factory=set)
    numbers: list[norm.FoundNumber] = field(default_factory=list)
    dates: norm.FoundDates = field(default_factory=norm.FoundDates)
    times: set[tuple[int, int]] = field(default_factory=set)

    @classmethod
    def of(cls, texts: list[str], today: date | None) -> Source:
        text = "\n".join(texts)
        found_words: set[str] = set()
        for word in norm.words(text):
            found_words |= norm.variants(word)
        return cls(text, norm.collapse(text), found_words, norm.numbers(text), norm.dates(text, today), norm.times(text))

    def has_words(self, wanted: list[str]) -> list[bool]:
        return [bool(norm.variants(w) & self.words) for w in wanted]


def _tool_texts(content: Any) -> list[str]:
    """The values a tool result holds (keys are structure, not data), or its raw text."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return [content]
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif node is not None:
            out.append(json.dumps(node, ensure_ascii=False) if isinstance(node, bool) else str(node))

    walk(content)
    return out


@dataclass
class GroundingContext:
    """The conversation before a step, as grounding reads it: user turns and tool results (the
    assistant's own prose is not a source: a value must come from the user or a tool)."""

    user: Source
    tools: Source
    today: date | None

    @classmethod
    def of(cls, messages: list[dict[str, Any]], current_time: str | None) -> GroundingContext:
        today = norm.conversation_day(current_time)
        user_texts = [str(m.get("content") or "") for m in messages if m.get("role") in ("user", "system")]
        tool_texts = [t for m in messages if m.get("role") == "tool" for t in _tool_texts(m.get("content"))]
        return cls(Source.of(user_texts, today), Source.of(tool_texts, today), today)


# -- schemas ------------------------------------------------------------------------------------
def _kind(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            return _kind(usable[0]) if usable else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return {"dict": "object", "float": "number", "tuple": "array"}.get(kind, kind) if isinstance(kind, str) else None


def _sub(schema: Any, key: str) -> Any:
    if not isinstance(schema, dict):
        return {}
    for option_key in ("anyOf", "oneOf"):
        options = schema.get(option_key)
        if isinstance(options, list):
            for option in options:
                if isinstance(option, dict) and option.get(key) is not None:
                    return option.get(key)
    return schema.get(key) or {}


def tool_parameters(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> parameter schemas (properties), from plain or OpenAI-wrapped specs."""
    out: dict[str, dict[str, Any]] = {}
    for raw in tools:
        spec = raw.get("function") if isinstance(raw, dict) and isinstance(raw.get("function"), dict) else raw
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            parameters = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
            properties = parameters.get("properties")
            out[spec["name"]] = properties if isinstance(properties, dict) else {}
    return out


# -- one value ----------------------------------------------------------------------------------
def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _mentioned(value: str, context: GroundingContext) -> bool:
    wanted = norm.content_words(value)
    return bool(wanted) and (all(context.user.has_words(wanted)) or all(context.tools.has_words(wanted)))


def _placeholder(text: str, context: GroundingContext) -> bool:
    stripped = text.strip()
    folded = norm.collapse(stripped)
    if (
        not stripped
        or folded in HARD_PLACEHOLDERS
        or _TEMPLATE.match(stripped)
        or _FORMAT_STRING.match(stripped)
        or _INSTRUCTION.match(stripped)
    ):
        return True
    if not norm.words(stripped):  # punctuation only
        return True
    soft = folded in SOFT_PLACEHOLDERS or _REPEATED_CHAR.match(folded) or _SOFT_PATTERN.search(stripped)
    return bool(soft) and not _stated_exactly(stripped, context)


def _stated_in(text: str, source: Source) -> bool:
    """The value as written (case and spacing aside), not inside a longer word or number."""
    wanted = norm.collapse(text)
    if not wanted:
        return False
    haystack = source.collapsed
    start = haystack.find(wanted)
    while start >= 0:
        end = start + len(wanted)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        if not (before.isalnum() and wanted[0].isalnum()) and not (after.isalnum() and wanted[-1].isalnum()):
            return True
        start = haystack.find(wanted, start + 1)
    return False


def _stated_exactly(text: str, context: GroundingContext) -> bool:
    return _stated_in(text, context.user) or _stated_in(text, context.tools)


def _parameter_words(name: str) -> set[str]:  # for booleans: is the parameter talked about
    from looptool.sim.phrasing import name_words

    return {v for w in name_words(name) for v in norm.variants(norm.fold(w))}


def _name_echo(text: str, parameter: str) -> str | None:
    """ "whole" when the value is the parameter's name in words ("destination"; "From account" for
    from_account), "part" when its words are only some of the name's ("account"), else None."""
    from looptool.sim.phrasing import name_words

    wanted = norm.words(text)
    names = [norm.fold(w) for w in name_words(parameter)]

    def same(a: str, b: str) -> bool:
        return bool(norm.variants(a) & norm.variants(b))

    if not wanted or not names or not all(any(same(w, n) for n in names) for w in wanted):
        return None
    return "whole" if all(any(same(n, w) for w in wanted) for n in names) else "part"


def _repeats_description(text: str, schema: dict[str, Any]) -> bool:
    description = schema.get("description")
    if not isinstance(description, str):
        return False
    description = _EXAMPLES.split(description, maxsplit=1)[0]  # "e.g. LHR" gives an example, not the slot's name
    described = {v for w in norm.words(description) for v in norm.variants(w)}
    wanted = norm.content_words(text)
    return bool(wanted) and all(norm.variants(w) & described for w in wanted)


def _number_basis(value: float, context: GroundingContext) -> tuple[str, float] | None:
    for source, exact_basis in ((context.user, "stated"), (context.tools, "tool_result")):
        exact = [n for n in source.numbers if n.exact and norm.same_number(n.value, value)]
        if exact:
            return exact_basis, 1.0
        converted = [n for n in source.numbers if norm.same_number(n.value, value, tolerance=0.01)]
        if converted:
            return ("normalised" if source is context.user else "tool_result"), 0.9
    if norm.same_number(value, 1.0):
        return "implied_one", 0.6
    return None


def _date_basis(value: norm.DateValue, context: GroundingContext) -> tuple[str, float] | None:
    best: tuple[str, float] | None = None
    for source in (context.user, context.tools):
        for day in value.days:
            how = norm.date_matches(day, source.dates, context.today)
            if how is None:
                continue
            basis = {"absolute": ("normalised", 0.9), "relative": ("relative_date", 0.9), "range": ("date_in_range", 0.6)}[how]
            if source is context.tools:
                basis = ("tool_result", 1.0 if how == "absolute" else basis[1])
            if best is None or basis[1] > best[1]:
                best = basis
    if best is None and context.today in value.days:
        best = ("conversation_date", 0.6)
    if best is None:
        return None
    if value.time is not None and value.time not in context.user.times | context.tools.times:
        return "partial", 0.3  # the day is right, the time of day nobody gave
    return best


def _string_basis(text: str, parameter: str, schema: dict[str, Any], context: GroundingContext) -> tuple[str, float]:
    if _placeholder(text, context):
        return "placeholder", 0.0
    echo = _name_echo(text, parameter)
    if echo == "whole":  # even when the user wrote the word: it names the slot, it does not fill it
        return "repeats_parameter", 0.0
    if _stated_in(text, context.user):
        return "stated", 1.0
    if _stated_in(text, context.tools):
        return "tool_result", 1.0
    day = norm.date_value(text)
    if day is not None:
        found = _date_basis(day, context)
        return found if found is not None else ("absent", 0.0)
    clock = norm.time_value(text)
    if clock is not None:
        if clock in context.user.times:
            return "normalised", 0.9
        return ("tool_result", 0.9) if clock in context.tools.times else ("absent", 0.0)
    number = _numeric_string(text)
    if number is not None:
        found_number = _number_basis(number, context)
        if found_number is not None and found_number[0] != "implied_one":
            return found_number
    wanted = norm.content_words(text)
    in_user = context.user.has_words(wanted)
    in_tools = context.tools.has_words(wanted)
    found = [u or t for u, t in zip(in_user, in_tools)]
    if all(in_user):
        return "normalised", 0.9
    if all(found):
        return ("tool_result", 0.9) if not any(in_user) else ("normalised", 0.9)
    share = sum(found) / len(found) if found else 0.0
    if share > 0:
        return "partial", round(share, 3)
    if echo == "part" or _repeats_description(text, schema):
        return "repeats_parameter", 0.0
    return "absent", 0.0


_NUMERIC = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def _numeric_string(text: str) -> float | None:
    stripped = text.strip()
    return float(stripped.replace(",", "")) if _NUMERIC.match(stripped) else None


def _enum_or_default(value: Any, schema: dict[str, Any], context: GroundingContext) -> tuple[str, float] | None:
    members = schema.get("enum") if isinstance(schema.get("enum"), list) else None
    if members is not None and any(value == m and type(value) is type(m) for m in members):
        if isinstance(value, str):
            return ("enum_member", 1.0) if _mentioned(value, context) else ("enum_choice", 0.6)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found = _number_basis(float(value), context)
            if found is not None and found[0] != "implied_one":
                return "enum_member", 1.0
        return "enum_choice", 0.6
    if "default" in schema and value == schema["default"] and type(value) is type(schema["default"]):
        if isinstance(value, str) and _stated_exactly(value, context):
            return "stated", 1.0
        return "default", 0.8
    return None


def ground_value(value: Any, parameter: str, schema: Any, context: GroundingContext) -> tuple[str, float]:
    """(basis, score) of one leaf value of `parameter` (see the module doc)."""
    schema = schema if isinstance(schema, dict) else {}
    if value is None:
        return "null", 1.0
    known = _enum_or_default(value, schema, context)
    if known is not None:
        return known
    if isinstance(value, bool):
        mentioned = any(context.user.has_words([w])[0] for w in _parameter_words(parameter) if w not in norm.STOPWORDS)
        return ("boolean", 0.9) if mentioned else ("boolean_choice", 0.6)
    if isinstance(value, (int, float)):
        found = _number_basis(float(value), context)
        return found if found is not None else ("absent", 0.0)
    if isinstance(value, str):
        return _string_basis(value, parameter, schema, context)
    return "absent", 0.0


def ground_arguments(call: dict[str, Any], properties: dict[str, Any], context: GroundingContext, step: int) -> list[ArgumentGrounding]:
    """Every leaf of a call's arguments with its grounding, lists and objects value by value."""
    name = str(call.get("name", ""))
    out: list[ArgumentGrounding] = []

    def visit(value: Any, parameter: str, schema: Any, path: str) -> None:
        kind = _kind(schema)
        if isinstance(value, list) and kind in ("array", None):
            if not value:
                out.append(ArgumentGrounding(step=step, call=name, path=path, value="[]", basis="empty", score=1.0))
            for position, item in enumerate(value):
                visit(item, parameter, _sub(schema, "items"), f"{path}[{position}]")
            return
        if isinstance(value, dict) and kind in ("object", None):
            if not value:
                out.append(ArgumentGrounding(step=step, call=name, path=path, value="{}", basis="empty", score=1.0))
            inner = _sub(schema, "properties")
            inner = inner if isinstance(inner, dict) else {}
            for key, item in value.items():
                visit(item, key, inner.get(key, {}), f"{path}.{key}")
            return
        basis, score = ground_value(value, parameter, schema, context)
        out.append(ArgumentGrounding(step=step, call=name, path=path, value=_short(value), basis=basis, score=score))

    arguments = call.get("arguments")
    for key, value in arguments.items() if isinstance(arguments, dict) else []:
        visit(value, key, properties.get(key, {}), key)
    return out


def code_for(grounding: ArgumentGrounding, accept_score: float) -> str | None:
    """The reason code of an argument that is not grounded enough, or None."""
    if grounding.score >= accept_score:
        return None
    if grounding.score <= 0:
        return CLEAR_FAILURES.get(grounding.basis, "ground:absent")
    return WEAK


def describe(grounding: ArgumentGrounding) -> str:
    what = {
        "placeholder": "is a placeholder, not a value",
        "repeats_parameter": "repeats the parameter's name or description instead of giving a value",
        "absent": "appears nowhere in the conversation before this step",
        "partial": f"is only partly in the conversation ({grounding.score:.0%} of its words)",
    }.get(grounding.basis, f"is only weakly backed ({grounding.basis}, score {grounding.score})")
    return f"argument {grounding.argument} = {grounding.value!r} {what}"
