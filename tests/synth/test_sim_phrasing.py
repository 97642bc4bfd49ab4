"""The simulator's natural user requests read back exactly (looptool.sim.phrasing).

A round-trip property over many random tool lists and values: single, parallel and dependent
requests, goals, and missing-argument supplements. Every rendering must parse back to the exact
truth (types included: 1 is not 1.0 is not true), name no function in its spelled form, hold no
JSON, and keep every string value copyable from the text.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from looptool.sim.phrasing import (
    PhrasingError,
    mentions_function_name,
    name_words,
    parse_request,
    parse_supplement,
    render_request,
    render_supplement,
    render_value,
    tool_voices,
)
from looptool.sim.schema_values import value_for
from looptool.synth.witness import styled_name

WORDS = [
    "weather",
    "forecast",
    "hotel",
    "room",
    "flight",
    "order",
    "stock",
    "quote",
    "city",
    "date",
    "price",
    "user",
    "account",
    "note",
    "task",
    "device",
    "light",
    "playlist",
    "song",
    "invoice",
    "route",
    "parcel",
    "doctor",
]
VERBS = ["get", "search", "book", "list", "create", "update", "track", "cancel", "find", "set", "compute", "nova"]
ODD_STRINGS = [
    "New York",
    "a, b and c",
    'say "hi"',
    "and",
    "the",
    "3",
    "yes",
    "none",
    "end.",
    "x:",
    "",
    "  padded ",
    "São Paulo",
    "semi; colon",
    "(paren)",
    "as the city",
    "Could you",
    "1.5",
    "nothing",
    "O'Brien",
    "50%",
]


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    kind = rng.choice(
        ["string", "string", "integer", "number", "boolean", "enum", "array", "object", "date", "pattern"][: 10 if depth < 2 else 6]
    )
    if kind == "enum":
        return {"type": "string", "enum": rng.sample(["low", "high", "auto", "and", "New York", "x-1"], 3)}
    if kind == "date":
        return {"type": "string", "format": "date"}
    if kind == "pattern":
        return {"type": "string", "pattern": rng.choice(["^ORD[0-9]{6}$", "^[A-Z]{3}$", "^[a-z][a-z0-9-]{2,8}$"])}
    if kind == "array":
        return {"type": "array", "items": random_schema(rng, depth + 1)}
    if kind == "object":
        keys = rng.sample(WORDS, rng.randint(1, 3))
        return {"type": "object", "properties": {k: random_schema(rng, depth + 1) for k in keys}}
    return {"type": kind}


def random_tools(rng: random.Random, count: int) -> list[dict]:
    tools, names = [], set()
    while len(tools) < count:
        words = [rng.choice(VERBS)] + rng.sample(WORDS, rng.randint(1, 3))
        name = styled_name(words, rng.choice(["snake_case", "camelCase", "PascalCase", "dotted"]))
        if name in names:
            continue
        names.add(name)
        params = {}
        for word in rng.sample(WORDS, rng.randint(0, 5)):
            param = styled_name([word] + ([rng.choice(WORDS)] if rng.random() < 0.4 else []), rng.choice(["snake_case", "camelCase"]))
            params[param] = random_schema(rng)
        description = rng.choice([f"{words[0].capitalize()}s the {' '.join(words[1:])}.", f"The {' '.join(words[1:])} service (beta).", ""])
        tools.append(
            {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": params, "required": [p for p in params if rng.random() < 0.6]},
            }
        )
    return tools


def odd_value(schema: dict, rng: random.Random):
    """Mostly schema values, sometimes awkward strings that must still round-trip."""
    if schema.get("type") == "string" and "enum" not in schema and "pattern" not in schema and rng.random() < 0.4:
        return rng.choice(ODD_STRINGS)
    if schema.get("type") == "array":
        return [odd_value(schema["items"], rng) for _ in range(rng.randint(0, 4))]
    if schema.get("type") == "object":
        return {k: odd_value(s, rng) for k, s in schema["properties"].items() if rng.random() < 0.8}
    return value_for(schema, rng)


def random_call(tool: dict, rng: random.Random) -> dict:
    properties = tool["parameters"]["properties"]
    return {"name": tool["name"], "arguments": {k: odd_value(s, rng) for k, s in properties.items() if rng.random() < 0.75}}


def exact(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    return []


def assert_natural(text: str, tools: list[dict], calls: list[dict]) -> None:
    assert not mentions_function_name(text, tools), text
    assert "{" not in text and "}" not in text, f"JSON-like braces in a user turn: {text}"
    for call in calls:
        for value in strings_in(call["arguments"]):
            assert value.replace('"', '""') in text, f"{value!r} is not copyable from {text!r}"


@pytest.mark.parametrize("seed", range(60))
def test_requests_round_trip_exactly(seed: int) -> None:
    rng = random.Random(seed)
    tools = random_tools(rng, rng.randint(1, 6))
    for _ in range(8):
        kind = rng.choice(["single", "parallel", "dependent", "goal"])
        if kind == "single":
            phases = [[random_call(rng.choice(tools), rng)]]
        elif kind == "parallel":
            phases = [[random_call(rng.choice(tools), rng) for _ in range(rng.randint(2, 4))]]
        else:
            phases = [[random_call(rng.choice(tools), rng) for _ in range(rng.randint(1, 2))] for _ in range(rng.randint(2, 3))]
        text = render_request(tools, phases, rng, goal=kind == "goal")
        assert exact(parse_request(text, tools)) == exact(phases), text
        assert_natural(text, tools, [c for phase in phases for c in phase])


@pytest.mark.parametrize("seed", range(40))
def test_missing_argument_supplement_round_trips(seed: int) -> None:
    rng = random.Random(1000 + seed)
    tools = [t for t in random_tools(rng, rng.randint(1, 4))]
    tool = rng.choice(tools)
    properties = tool["parameters"]["properties"]
    if not properties:
        tool["parameters"]["properties"] = properties = {"day": {"type": "string", "format": "date"}}
    call = random_call(tool, rng)
    withheld = rng.sample(sorted(properties), rng.randint(1, min(2, len(properties))))
    values = {k: call["arguments"].get(k, value_for(properties[k], rng)) for k in withheld}
    asked = {"name": tool["name"], "arguments": {k: v for k, v in call["arguments"].items() if k not in withheld}}
    request = render_request(tools, [[asked]], rng)
    assert exact(parse_request(request, tools)) == exact([[asked]])
    supplement = render_supplement([tool], values, rng)
    assert exact(parse_supplement(supplement, [tool])) == exact(values), supplement
    assert parse_request(supplement, tools) is None, "a supplement must not read as a new request"
    assert_natural(supplement, tools, [{"arguments": values}])


def test_values_are_written_as_people_write_them() -> None:
    assert render_value(True, {"type": "boolean"}) == "yes" and render_value(False, {"type": "boolean"}) == "no"
    assert render_value(["a", "b", "c"], {"type": "array", "items": {"type": "string"}}) == "a, b and c"
    assert render_value(3, {"type": "integer"}) == "3" and render_value(2.5, {"type": "number"}) == "2.5"
    assert render_value("New York", {"type": "string"}) == '"New York"'
    assert render_value("Paris", {"type": "string"}) == "Paris"
    assert (
        render_value(
            {"street": "Main", "zip_code": "0150"},
            {"type": "object", "properties": {"street": {"type": "string"}, "zip_code": {"type": "string"}}},
        )
        == "(street Main, zip code 0150)"
    )


def test_a_purpose_phrase_comes_from_the_description_or_the_name() -> None:
    tools = [
        {
            "name": "book_hotel",
            "description": "Book a hotel room in a city for a number of nights.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {
            "name": "getExchangeRate",
            "description": "Current exchange rate between two currencies.",
            "parameters": {"type": "object", "properties": {}},
        },
    ]
    voices = {v.name: v for v in tool_voices(tools)}
    assert voices["book_hotel"].purposes == ("book a hotel room in a city for a number of nights", "book the hotel")
    assert voices["getExchangeRate"].purposes == ("get the exchange rate",)
    assert name_words("nova.get_weatherForecast") == ["nova", "get", "weather", "forecast"]
    text = render_request(tools, [[{"name": "book_hotel", "arguments": {"city": "Paris"}}]], random.Random(0))
    assert "book_hotel" not in text and "Paris" in text


def test_tools_that_read_the_same_in_words_stay_apart() -> None:
    tools = [
        {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "getWeather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
    ]
    for name in ("get_weather", "getWeather"):
        phases = [[{"name": name, "arguments": {"city": "Oslo"}}]]
        text = render_request(tools, phases, random.Random(1))
        assert parse_request(text, tools) == phases


def test_wording_varies_with_the_seed_and_is_fixed_by_it() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Get the weather forecast for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
        }
    ]
    phases = [[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]]
    texts = {render_request(tools, phases, random.Random(seed)) for seed in range(30)}
    assert len(texts) >= 10, texts
    assert render_request(tools, phases, random.Random(7)) == render_request(tools, phases, random.Random(7))


def test_a_text_that_is_not_a_request_reads_as_none() -> None:
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    assert parse_request("Chat about alpha plans for the weekend.", tools) is None
    assert parse_request("Thanks, that is all.", tools) is None
    assert parse_supplement("Could you get the weather with the city Oslo?", tools) is None


def test_an_unwritable_value_is_an_error_not_a_wrong_text() -> None:
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with pytest.raises(PhrasingError):
        render_request(tools, [[{"name": "get_weather", "arguments": {"ghost": 1}}]], random.Random(0))
    with pytest.raises(PhrasingError):
        render_request(tools, [[{"name": "nope", "arguments": {}}]], random.Random(0))


def test_spelled_function_names_are_detected() -> None:
    tools = [{"name": "get_weather", "parameters": {}}]
    assert mentions_function_name("please call get_weather now", tools)
    assert not mentions_function_name("please get the weather now", tools)
    assert re.search(r"\bget the weather\b", render_request(tools, [[{"name": "get_weather", "arguments": {}}]], random.Random(0)))


def test_a_wording_that_does_not_read_back_is_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """render_request keeps a text only if the parser reads back the truth; here the first
    reading is made to fail, as an ambiguous template draw would."""
    import looptool.sim.phrasing as phrasing

    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    phases = [[{"name": "get_weather", "arguments": {"city": "Oslo"}}]]
    real = phrasing.parse_request
    texts: list[str] = []

    def first_reading_fails(text, tools_):
        texts.append(text)
        return None if len(texts) == 1 else real(text, tools_)

    monkeypatch.setattr(phrasing, "parse_request", first_reading_fails)
    text = render_request(tools, phases, random.Random(3))
    assert len(texts) == 2 and text == texts[1]
    monkeypatch.setattr(phrasing, "parse_request", lambda text, tools_: None)
    with pytest.raises(PhrasingError):
        render_request(tools, phases, random.Random(3))


def test_the_plain_fallback_always_reads_back() -> None:
    for seed in range(40):
        rng = random.Random(5000 + seed)
        tools = random_tools(rng, rng.randint(1, 5))
        phases = [[random_call(rng.choice(tools), rng) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(1, 3))]
        text = render_request(tools, phases, rng, attempts=0)  # attempts=0: the plain form straight away
        assert exact(parse_request(text, tools)) == exact(phases), text
