"""Tool spec normalisation and validation: every accepted form, every rejection names tool + field."""

from __future__ import annotations

import copy

import pytest

from looptool.tools.spec import ToolSpec, ToolSpecError, load_tool, load_tools, normalize_tool, tool_index

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
        },
        "required": ["city"],
    },
}

BFCL_DOC = {
    "name": "spotify.play",
    "description": "Play songs.",
    "parameters": {
        "type": "dict",
        "properties": {
            "artist": {"type": "string"},
            "duration": {"type": "float"},
            "range": {"type": "tuple", "items": {"type": "integer"}},
            "payload": {"type": "any"},
            "prefs": {"type": "dict", "properties": {"size": {"type": "string"}, "weights": {"type": "array", "items": {"type": "float"}}}},
        },
        "required": ["artist"],
    },
}


def test_openai_wrapper_and_bare_form_normalise_to_the_same_spec():
    assert normalize_tool({"type": "function", "function": WEATHER}) == normalize_tool(WEATHER) == WEATHER


def test_bfcl_doc_types_become_json_schema():
    params = normalize_tool(BFCL_DOC)["parameters"]
    assert params["type"] == "object"
    props = params["properties"]
    assert props["duration"] == {"type": "number"}
    assert props["range"] == {"type": "array", "items": {"type": "integer"}}
    assert props["payload"] == {}  # "any" = unconstrained
    assert props["prefs"]["type"] == "object"
    assert props["prefs"]["properties"]["weights"]["items"] == {"type": "number"}


def test_normalisation_never_mutates_the_input():
    raw = copy.deepcopy(BFCL_DOC)
    normalize_tool(raw)
    assert raw == BFCL_DOC


def test_missing_parameters_means_no_arguments():
    spec = load_tool({"name": "ping"})
    assert spec == ToolSpec("ping", "", {"type": "object", "properties": {}})
    assert spec.to_openai() == {"type": "function", "function": spec.to_dict()}


@pytest.mark.parametrize(
    ("raw", "tool", "field", "fragment"),
    [
        ({"description": "x"}, "?", "name", "non-empty string"),
        ({"name": "bad name!"}, "bad name!", "name", "does not match"),
        ({"name": "f", "description": 3}, "f", "description", "is not of type 'string'"),
        ({"name": "f", "parameters": {"type": "array"}}, "f", "parameters.type", "'object' was expected"),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}},
            "f",
            "parameters.properties.a.type",
            "'strin'",
        ),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}},
            "f",
            "parameters.required",
            "'b' is required but not",
        ),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "object", "properties": {}, "required": ["z"]}}}},
            "f",
            "parameters.properties.a.required",
            "'z'",
        ),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {"a": "string"}}},
            "f",
            "parameters.properties.a",
            "expected a JSON Schema object",
        ),
        (
            {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "a"]}},
            "f",
            "parameters.required",
            "non-unique",
        ),
        ({"type": "retrieval", "function": {"name": "f"}}, "f", "type", "expected 'function'"),
    ],
)
def test_bad_specs_name_the_tool_and_the_field(raw, tool, field, fragment):
    with pytest.raises(ToolSpecError) as info:
        normalize_tool(raw)
    error = info.value
    assert (error.tool, error.field) == (tool, field)
    assert fragment in error.reason
    assert f"tool {tool!r}" in str(error) and field in str(error)


def test_not_an_object_is_rejected():
    with pytest.raises(ToolSpecError, match="expected a JSON object"):
        normalize_tool(["get_weather"])


def test_duplicate_names_in_a_tool_list_are_rejected():
    with pytest.raises(ToolSpecError) as info:
        load_tools([WEATHER, {"type": "function", "function": WEATHER}])
    assert info.value.field == "name" and "duplicate" in info.value.reason


def test_tool_index_maps_names_to_specs():
    index = tool_index([WEATHER, BFCL_DOC])
    assert sorted(index) == ["get_weather", "spotify.play"]
    assert index["get_weather"].required == ("city",)
    assert set(index["spotify.play"].properties) == {"artist", "duration", "range", "payload", "prefs"}
