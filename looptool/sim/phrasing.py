"""Natural-language user requests for the simulator's world, and their exact inverse.

Production prompts ask real models for users who speak like people: no function names, no JSON.
The simulator still has to know the truth behind every user turn, so it writes those turns itself
from structured truth (which calls, in which phases, with which values) and reads them back with
a deterministic parser that is given the conversation's tool list:

    Could you book a hotel room in a city for a number of nights with the city Paris and the
    nights 3?                                                        one call
    ... with ..., and also get the exchange rate where the base is EUR and the target is USD?
                                                                      parallel calls (one phase)
    First, please find flights ... . After that, book the hotel ... . phases, one after another
    Oh, the check in is 2024-05-01.                                   a missing argument supplied

How a tool is named: its purpose in words, from its description when that opens with a verb
("Find flights between two airports on a date.") and from its name split into words
("get_exchange_rate" -> "get the exchange rate"). Parameters are their names split into words.
Values are written as a person would: strings bare when they are one plain word, quoted when
they hold spaces or punctuation ("New York"), numbers as digits, booleans as yes/no, lists as
"a, b and c", objects as "(street Main, city Oslo)". Every value therefore appears in the text,
copyable, possibly normalised.

Invertible by construction: `render_request` draws its templates from the caller's seeded RNG and
keeps a rendering only if `parse_request` reads back exactly the truth; after a few draws it falls
back to a plain form (every argument "the <parameter> <value>", semicolons between arguments) that
the parser always reads back. A value no form can carry (a string with a line break next to a
quote, say) raises `PhrasingError`; the simulator never produces one.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Call = dict[str, Any]
Phases = list[list[Call]]


class PhrasingError(ValueError):
    """The truth cannot be written so that it reads back exactly."""


# -- templates ----------------------------------------------------------------------------------
# A request template: (prefix, joiner before the 2nd phase, joiner before later phases, suffix).
# Single-phase templates have no joiners; dependent requests use the multi-phase ones.
SINGLE_TEMPLATES: tuple[tuple[str, None, None, str], ...] = (
    ("Could you ", None, None, "?"),
    ("Can you ", None, None, "?"),
    ("Please ", None, None, "."),
    ("I'd like you to ", None, None, "."),
    ("I need you to ", None, None, "."),
    ("Would you ", None, None, ", please?"),
)
PHASED_TEMPLATES: tuple[tuple[str, str, str, str], ...] = (
    ("First, please ", ". After that, ", ". After that, ", "."),
    ("Could you ", ", and once that is done, ", ", and once that is done, ", "?"),
    ("Please ", ". When you have that, ", ". Then ", "."),
    ("I need you to ", " first. Then ", ". Then ", "."),
)
GOAL_TEMPLATES: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("I want to ", ", and after that ", ", and after that ", "."),
    ("I'd like to ", ", and then ", ", and then ", "."),
)
CALL_JOINERS = (", and also ", " and at the same time ", "; also ")
SUPPLEMENT_TEMPLATES = (("Oh, ", "."), ("Sorry, I forgot: ", "."), ("Right, ", "."), ("Ah yes, ", "."))
# How the arguments of one call are introduced, and the argument forms each intro allows.
ARG_THE, ARG_SET, ARG_AS, ARG_IS = "the {p} {v}", "the {p} set to {v}", "{v} as the {p}", "the {p} is {v}"
INTROS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (" with ", (ARG_THE, ARG_SET, ARG_AS)),
    (" using ", (ARG_THE, ARG_AS)),
    (", where ", (ARG_IS,)),
)
EMPTY_LIST, NULL, EMPTY_OBJECT = "none", "nothing", "(nothing)"

VERBS = frozenset(
    """get list search find create add update delete remove book cancel check set send track schedule
    calculate compute convert fetch retrieve look start stop reserve order buy sell transfer pay query
    estimate analyze analyse generate validate verify register subscribe open close turn enable disable
    play pause record upload download share submit view show read write plan compare rate review
    translate summarize monitor report move copy rename assign notify invite join leave apply approve
    reject issue refund ship return log mark count measure predict recommend suggest locate lock unlock
    dim adjust change reset run deploy build test scan fill save load sync import export publish post
    request reschedule confirm lookup provide display describe detect identify classify filter sort
    rank""".split()
)

_TEMPLATE_TEXT = " ".join(
    [p + (j1 or "") + (j2 or "") + s for p, j1, j2, s in SINGLE_TEMPLATES + PHASED_TEMPLATES + GOAL_TEMPLATES]
    + list(CALL_JOINERS)
    + [p + s for p, s in SUPPLEMENT_TEMPLATES]
    + [i for i, _ in INTROS]
    + [ARG_THE, ARG_SET, ARG_AS, ARG_IS, EMPTY_LIST, NULL, "yes no and use service"]
)
# A bare one-word string that is also a template word is quoted, so it is never read as template.
RESERVED = frozenset(w.lower() for w in re.findall(r"[A-Za-z']+", _TEMPLATE_TEXT))
BARE = re.compile(r'[^\s,;"()?!]+')
INTEGER = re.compile(r"-?\d+")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


# -- how tools and parameters are named ---------------------------------------------------------
def name_words(name: str) -> list[str]:
    """snake_case, camelCase, PascalCase, dotted and kebab names -> lower-case words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _base_verb(word: str) -> str | None:
    word = word.lower()
    if word in VERBS:
        return word
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and word[: -len(suffix)] + replacement in VERBS:
            return word[: -len(suffix)] + replacement
    return None


def _name_purpose(name: str) -> str | None:
    words = name_words(name)
    if not words:
        return None
    if words[0] in VERBS:
        return words[0] + (" the " + " ".join(words[1:]) if len(words) > 1 else "")
    return "use the " + " ".join(words) + " service"


def _description_purpose(description: Any) -> str | None:
    if not isinstance(description, str):
        return None
    first = re.split(r"(?<=[.!?])\s", description.strip(), maxsplit=1)[0]
    first = re.sub(r"\s*\([^()]*\)", "", first).strip().rstrip(".!?").strip()
    words = first.split()
    if not 2 <= len(words) <= 14 or re.search(r"[^A-Za-z0-9 \'\-/]", first):
        return None
    verb = _base_verb(words[0])
    if verb is None:
        return None
    return " ".join([verb, *words[1:]])


@dataclass(frozen=True)
class ToolVoice:
    """How the simulated user talks about one tool: its purpose phrases and parameter phrases."""

    name: str
    purposes: tuple[str, ...]
    phrases: dict[str, str]  # parameter -> words
    schemas: dict[str, dict[str, Any]]
    required: tuple[str, ...]


def _phrase_map(names: Sequence[str]) -> dict[str, str]:
    """Unique phrases for a set of keys; a key whose words collide keeps its own spelling, quoted."""
    words = {n: " ".join(name_words(n)) for n in names}
    counts: dict[str, int] = {}
    for phrase in words.values():
        counts[phrase] = counts.get(phrase, 0) + 1
    return {n: (p if p and counts[p] == 1 else '"' + n.replace('"', '""') + '"') for n, p in words.items()}


def _tool_spec(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    spec = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    return spec if isinstance(spec.get("name"), str) else None


@functools.lru_cache(maxsize=512)
def _voices_cached(key: str) -> tuple[ToolVoice, ...]:
    specs = json.loads(key)
    candidates: list[list[str]] = []
    for spec in specs:
        options = [_description_purpose(spec.get("description")), _name_purpose(spec["name"])]
        candidates.append([o for o in dict.fromkeys(options) if o])
    owners: dict[str, set[str]] = {}
    for spec, options in zip(specs, candidates):
        for option in options:
            owners.setdefault(option.lower(), set()).add(spec["name"])
    voices = []
    for spec, options in zip(specs, candidates):
        unique = tuple(o for o in options if len(owners[o.lower()]) == 1)
        if not unique:  # two tools that read the same in words: name this one as it is spelled
            unique = ('use the tool "' + spec["name"].replace('"', '""') + '"',)
        parameters = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
        properties = parameters.get("properties") if isinstance(parameters.get("properties"), dict) else {}
        voices.append(
            ToolVoice(
                name=spec["name"],
                purposes=unique,
                phrases=_phrase_map(list(properties)),
                schemas={k: (v if isinstance(v, dict) else {}) for k, v in properties.items()},
                required=tuple(r for r in parameters.get("required") or [] if isinstance(r, str)),
            )
        )
    return tuple(voices)


def tool_voices(tools: Sequence[Any]) -> tuple[ToolVoice, ...]:
    """Voices of a tool list, in name order: the reading of a text never depends on the order in
    which a prompt happened to list the tools."""
    specs: dict[str, dict[str, Any]] = {}
    for raw in tools:
        spec = _tool_spec(raw)
        if spec is not None and spec["name"] not in specs:
            specs[spec["name"]] = {"name": spec["name"], "description": spec.get("description"), "parameters": spec.get("parameters")}
    ordered = [specs[name] for name in sorted(specs)]
    return _voices_cached(json.dumps(ordered, sort_keys=True, ensure_ascii=False))


# -- values -------------------------------------------------------------------------------------
def _kind(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")] or options
            return _kind(usable[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("dict",):
        return "object"
    if kind in ("float",):
        return "number"
    if kind in ("tuple",):
        return "array"
    if kind in ("string", "integer", "number", "boolean", "array", "object", "null"):
        return kind
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        first = schema["enum"][0]
        return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(first))
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _sub_schema(schema: Any, key: str) -> Any:
    if not isinstance(schema, dict):
        return {}
    for option_key in ("anyOf", "oneOf"):
        options = schema.get(option_key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")] or options
            return _sub_schema(usable[0], key)
    return schema.get(key)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _bare_ok(text: str, kind: str | None) -> bool:
    if not BARE.fullmatch(text) or text.endswith((".", ":")) or text.lower() in RESERVED:
        return False
    if kind != "string" and (NUMBER.fullmatch(text) or text.lower() in ("yes", "no", NULL, EMPTY_LIST)):
        return False
    return True


def render_value(value: Any, schema: Any, *, quote_all: bool = False) -> str:
    """The value as a person would write it for a parameter of this schema."""
    kind = _kind(schema)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return NULL
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PhrasingError(f"{value!r} cannot be written as a number a person types")
        return repr(value)
    if isinstance(value, str):
        return value if not quote_all and _bare_ok(value, kind) else _quote(value)
    if isinstance(value, list):
        items_schema = _sub_schema(schema, "items") or {}
        if not value:
            return EMPTY_LIST
        nested = _kind(items_schema) == "array"
        parts = [render_value(v, items_schema, quote_all=quote_all) for v in value]
        if nested:
            parts = ["(" + p + ")" for p in parts]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if isinstance(value, dict):
        if not value:
            return EMPTY_OBJECT
        properties = _sub_schema(schema, "properties") or {}
        properties = properties if isinstance(properties, dict) else {}
        phrases = _phrase_map(list(properties))
        entries = []
        for key, item in value.items():
            phrase = phrases.get(key) or _quote(key)
            entries.append(phrase + " " + render_value(item, _object_value_schema(schema, properties, key), quote_all=quote_all))
        return "(" + ", ".join(entries) + ")"
    raise PhrasingError(f"a {type(value).__name__} value cannot be written in a user turn")


def _object_value_schema(schema: Any, properties: dict[str, Any], key: str) -> Any:
    if key in properties:
        return properties[key]
    extra = _sub_schema(schema, "additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _bare_token(text: str, pos: int) -> tuple[str, int] | None:
    match = BARE.match(text, pos)
    if not match:
        return None
    token = match.group(0).rstrip(".:")
    return (token, pos + len(token)) if token else None


def _quoted(text: str, pos: int) -> tuple[str, int] | None:
    if not text.startswith('"', pos):
        return None
    out = []
    index = pos + 1
    while index < len(text):
        char = text[index]
        if char == '"':
            if text.startswith('""', index):
                out.append('"')
                index += 2
                continue
            return "".join(out), index + 1
        out.append(char)
        index += 1
    return None


def parse_values(text: str, pos: int, schema: Any, depth: int = 0) -> Iterator[tuple[Any, int]]:
    """Every way a value of this schema can be read at `pos` (most specific first)."""
    if depth > 8:
        return
    kind = _kind(schema)
    if kind == "array":
        yield from _parse_array(text, pos, schema, depth)
        return
    if kind == "object":
        yield from _parse_object(text, pos, schema, depth)
        return
    quoted = _quoted(text, pos)
    if quoted is not None:
        if kind in ("string", None):
            yield quoted
        return
    if text.startswith("(", pos) and kind is None:
        yield from _parse_object(text, pos, schema, depth)
        return
    token = _bare_token(text, pos)
    if token is None:
        return
    word, end = token
    if kind == "string":
        yield word, end
        return
    if word == "yes" and kind in ("boolean", None):
        yield True, end
    elif word == "no" and kind in ("boolean", None):
        yield False, end
    elif word == NULL and kind in ("null", None):
        yield None, end
    elif kind == "integer" and INTEGER.fullmatch(word):
        yield int(word), end
    elif kind in ("number", None) and NUMBER.fullmatch(word):
        yield (int(word) if INTEGER.fullmatch(word) else float(word)), end
    elif kind is None and word.lower() not in RESERVED:
        yield word, end


def _parse_item(text: str, pos: int, schema: Any, depth: int, nested: bool) -> Iterator[tuple[Any, int]]:
    if nested:
        if not text.startswith("(", pos):
            return
        for value, end in _parse_array(text, pos + 1, schema, depth + 1):
            if text.startswith(")", end):
                yield value, end + 1
        return
    yield from parse_values(text, pos, schema, depth + 1)


def _parse_array(text: str, pos: int, schema: Any, depth: int) -> Iterator[tuple[Any, int]]:
    items_schema = _sub_schema(schema, "items") or {}
    nested = _kind(items_schema) == "array"
    token = _bare_token(text, pos)
    if token is not None and token[0] == EMPTY_LIST:
        yield [], token[1]

    def more(at: int, acc: list[Any]) -> Iterator[tuple[Any, int]]:
        if text.startswith(" and ", at):
            for item, end in _parse_item(text, at + 5, items_schema, depth, nested):
                yield acc + [item], end
        if text.startswith(", ", at):
            for item, end in _parse_item(text, at + 2, items_schema, depth, nested):
                yield from more(end, acc + [item])

    for first, end in _parse_item(text, pos, items_schema, depth, nested):
        yield from more(end, [first])
        yield [first], end


def _parse_object(text: str, pos: int, schema: Any, depth: int) -> Iterator[tuple[Any, int]]:
    if not text.startswith("(", pos):
        return
    if text.startswith(EMPTY_OBJECT, pos):
        yield {}, pos + len(EMPTY_OBJECT)
    properties = _sub_schema(schema, "properties") or {}
    properties = properties if isinstance(properties, dict) else {}
    phrases = _phrase_map(list(properties))
    by_phrase = sorted(((p, k) for k, p in phrases.items() if not p.startswith('"')), key=lambda x: -len(x[0]))

    def entries(at: int, acc: dict[str, Any]) -> Iterator[tuple[Any, int]]:
        keys: list[tuple[str, int]] = [(k, at + len(p) + 1) for p, k in by_phrase if text.startswith(p + " ", at)]
        quoted = _quoted(text, at)
        if quoted is not None and text.startswith(" ", quoted[1]):
            keys.append((quoted[0], quoted[1] + 1))
        for key, value_at in keys:
            if key in acc:
                continue
            for value, end in parse_values(text, value_at, _object_value_schema(schema, properties, key), depth + 1):
                done = {**acc, key: value}
                if text.startswith(")", end):
                    yield done, end + 1
                if text.startswith(", ", end):
                    yield from entries(end + 2, done)

    yield from entries(pos + 1, {})


# -- arguments, calls, phases ---------------------------------------------------------------------
def _render_argument(form: str, phrase: str, value: str) -> str:
    return form.replace("{p}", phrase).replace("{v}", value)


QUOTED = re.compile(r'"(?:[^"]|"")*"')


def _needs_semicolons(parts: list[str]) -> bool:
    """Commas between arguments would be ambiguous when a value itself lists things."""
    return any(", " in bare or " and " in bare for bare in (QUOTED.sub("", p) for p in parts))


def _join(parts: list[str], semicolons: bool) -> str:
    if len(parts) == 1:
        return parts[0]
    if semicolons:
        return "; ".join(parts[:-1]) + "; and " + parts[-1]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _parse_argument(text: str, pos: int, voice: ToolVoice, form: str, used: set[str]) -> Iterator[tuple[str, Any, int]]:
    params = [p for p in voice.phrases if p not in used]
    if form == ARG_AS:
        for param in params:
            marker = " as the " + voice.phrases[param]
            for value, end in parse_values(text, pos, voice.schemas.get(param, {})):
                if text.startswith(marker, end):
                    yield param, value, end + len(marker)
        return
    if not text.startswith("the ", pos):
        return
    middle = {ARG_THE: " ", ARG_SET: " set to ", ARG_IS: " is "}[form]
    for param in params:
        head = "the " + voice.phrases[param] + middle
        if text.startswith(head, pos):
            for value, end in parse_values(text, pos + len(head), voice.schemas.get(param, {})):
                yield param, value, end


def _parse_arguments(text: str, pos: int, voice: ToolVoice, forms: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], int]]:
    def one(at: int, used: set[str]) -> Iterator[tuple[str, Any, int]]:
        for form in forms:
            yield from _parse_argument(text, at, voice, form, used)

    def more(at: int, acc: dict[str, Any], separator: str | None) -> Iterator[tuple[dict[str, Any], int]]:
        options = [(", ", " and "), ("; ", "; and ")]
        for middle, last in options:
            if separator is not None and separator != middle:
                continue
            if text.startswith(last, at):
                for param, value, end in one(at + len(last), set(acc)):
                    yield {**acc, param: value}, end
            if text.startswith(middle, at) and not text.startswith(last, at):
                for param, value, end in one(at + len(middle), set(acc)):
                    yield from more(end, {**acc, param: value}, middle)

    for param, value, end in one(pos, set()):
        yield from more(end, {param: value}, None)
        yield {param: value}, end


def _parse_clause(text: str, pos: int, voices: Sequence[ToolVoice]) -> Iterator[tuple[Call, int]]:
    for voice in voices:
        for purpose in voice.purposes:
            if not text.startswith(purpose, pos):
                continue
            after = pos + len(purpose)
            for intro, forms in INTROS:
                if text.startswith(intro, after):
                    for arguments, end in _parse_arguments(text, after + len(intro), voice, forms):
                        yield {"name": voice.name, "arguments": arguments}, end
            yield {"name": voice.name, "arguments": {}}, after


def _parse_phase(text: str, pos: int, voices: Sequence[ToolVoice]) -> Iterator[tuple[list[Call], int]]:
    for call, end in _parse_clause(text, pos, voices):
        for joiner in CALL_JOINERS:
            if text.startswith(joiner, end):
                for rest, final in _parse_phase(text, end + len(joiner), voices):
                    yield [call] + rest, final
        yield [call], end


def _parse_phases(
    text: str, pos: int, voices: Sequence[ToolVoice], first: str | None, later: str | None, count: int = 0
) -> Iterator[tuple[Phases, int]]:
    for phase, end in _parse_phase(text, pos, voices):
        joiner = first if count == 0 else later
        if joiner is not None and text.startswith(joiner, end):
            for rest, final in _parse_phases(text, end + len(joiner), voices, first, later, count + 1):
                yield [phase] + rest, final
        yield [phase], end


def _render_clause(voice: ToolVoice, call: Call, rng: random.Random, plain: bool) -> str:
    purpose = voice.purposes[-1] if plain else rng.choice(voice.purposes)
    arguments = call.get("arguments") or {}
    if not arguments:
        return purpose
    unknown = [k for k in arguments if k not in voice.phrases]
    if unknown:
        raise PhrasingError(f"{voice.name} has no parameter {unknown[0]!r} to mention")
    keys = list(arguments)
    if not plain:
        rng.shuffle(keys)
    intro, forms = INTROS[0] if plain else rng.choice(INTROS)
    rendered = []
    for key in keys:
        value = render_value(arguments[key], voice.schemas.get(key, {}), quote_all=plain)
        form = ARG_THE if plain else rng.choice(forms)
        rendered.append(_render_argument(form, voice.phrases[key], value))
    semicolons = plain or _needs_semicolons(rendered)
    return purpose + intro + _join(rendered, semicolons)


def _voice_map(tools: Sequence[Any]) -> dict[str, ToolVoice]:
    return {v.name: v for v in tool_voices(tools)}


def _render_phases(
    voices: dict[str, ToolVoice],
    phases: Phases,
    rng: random.Random,
    templates: Sequence[tuple[str, str | None, str | None, str]],
    plain: bool,
) -> str:
    prefix, first, later, suffix = templates[0] if plain else rng.choice(list(templates))
    parts = []
    for phase in phases:
        clauses = []
        for call in phase:
            voice = voices.get(call.get("name"))
            if voice is None:
                raise PhrasingError(f"no tool {call.get('name')!r} in the conversation's tool list")
            clauses.append(_render_clause(voice, call, rng, plain))
        text = clauses[0]
        for clause in clauses[1:]:
            text += (CALL_JOINERS[0] if plain else rng.choice(CALL_JOINERS)) + clause
        parts.append(text)
    out = prefix + parts[0]
    for index, part in enumerate(parts[1:]):
        out += (first if index == 0 else later) + part  # type: ignore[operator]
    return out + suffix


def _normal(phases: Phases) -> str:
    return json.dumps([[{"name": c["name"], "arguments": c.get("arguments") or {}} for c in phase] for phase in phases], sort_keys=True)


def render_request(tools: Sequence[Any], phases: Phases, rng: random.Random, *, goal: bool = False, attempts: int = 6) -> str:
    """A user request (or, with goal=True, a planner goal in the first person) for these calls.

    One phase is one single or parallel request; more phases are a dependent request (each phase
    needs the previous one's results)."""
    if not phases or not all(phases):
        raise PhrasingError("a request needs at least one call in every phase")
    voices = _voice_map(tools)
    if goal:
        templates: Sequence[tuple[str, str | None, str | None, str]] = GOAL_TEMPLATES
    else:
        templates = SINGLE_TEMPLATES if len(phases) == 1 else PHASED_TEMPLATES
    truth = _normal(phases)
    for attempt in range(attempts + 1):
        plain = attempt == attempts
        text = _render_phases(voices, phases, rng, templates, plain)
        parsed = parse_request(text, tools)
        if parsed is not None and _normal(parsed) == truth:
            return text
    raise PhrasingError(f"no unambiguous wording found for {truth[:200]}")


def parse_request(text: str, tools: Sequence[Any]) -> Phases | None:
    """The calls a user request asks for, grouped into phases, or None if it asks for none.

    Deterministic: templates, tools and alternatives are tried in a fixed order and the first
    reading that covers the whole text wins (render_request only emits texts whose first reading
    is the truth)."""
    voices = tool_voices(tools)
    if not voices:
        return None
    text = text.strip()
    for prefix, first, later, suffix in SINGLE_TEMPLATES + PHASED_TEMPLATES + GOAL_TEMPLATES:
        if not text.startswith(prefix) or not text.endswith(suffix):
            continue
        end_at = len(text) - len(suffix)
        for phases, end in _parse_phases(text[:end_at], len(prefix), voices, first, later):
            if end == end_at:
                return phases
    return None


# -- supplements ----------------------------------------------------------------------------------
def _supplement_voice(tools: Sequence[Any]) -> ToolVoice:
    """One voice over every parameter of these tools (the first tool that has a name wins)."""
    schemas: dict[str, dict[str, Any]] = {}
    for voice in tool_voices(tools):
        for name, schema in voice.schemas.items():
            schemas.setdefault(name, schema)
    return ToolVoice(name="", purposes=(), phrases=_phrase_map(list(schemas)), schemas=schemas, required=())


def render_supplement(tools: Sequence[Any], values: dict[str, Any], rng: random.Random, attempts: int = 4) -> str:
    """The user giving arguments the assistant asked for: "Oh, the date is 2024-05-01."."""
    if not values:
        raise PhrasingError("a supplement needs at least one value")
    voice = _supplement_voice(tools)
    unknown = [k for k in values if k not in voice.phrases]
    if unknown:
        raise PhrasingError(f"no tool here has a parameter {unknown[0]!r}")
    for attempt in range(attempts + 1):
        plain = attempt == attempts
        keys = list(values)
        if not plain:
            rng.shuffle(keys)
        prefix, suffix = SUPPLEMENT_TEMPLATES[0] if plain else rng.choice(SUPPLEMENT_TEMPLATES)
        parts = [
            _render_argument(ARG_IS, voice.phrases[k], render_value(values[k], voice.schemas.get(k, {}), quote_all=plain)) for k in keys
        ]
        text = prefix + _join(parts, plain or _needs_semicolons(parts)) + suffix
        parsed = parse_supplement(text, tools)
        if parsed is not None and json.dumps(parsed, sort_keys=True) == json.dumps(values, sort_keys=True):
            return text
    raise PhrasingError(f"no unambiguous wording found for the values {sorted(values)}")


def parse_supplement(text: str, tools: Sequence[Any]) -> dict[str, Any] | None:
    """The arguments a supplement gives, or None when the text is not one."""
    voice = _supplement_voice(tools)
    if not voice.phrases:
        return None
    text = text.strip()
    for prefix, suffix in SUPPLEMENT_TEMPLATES:
        if text.startswith(prefix) and text.endswith(suffix):
            end_at = len(text) - len(suffix)
            for arguments, end in _parse_arguments(text[:end_at], len(prefix), voice, (ARG_IS,)):
                if end == end_at:
                    return arguments
    return None


def mentions_function_name(text: str, tools: Sequence[Any]) -> bool:
    """Whether a user turn spells a function name with its separators (get_weather, getWeather)."""
    for voice in tool_voices(tools):
        if len(name_words(voice.name)) > 1 and voice.name in text:
            return True
    return False
