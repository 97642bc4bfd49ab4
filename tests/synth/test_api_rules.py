"""Rule checks for generated API specs: one table row per rejection reason, plus acceptance."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from looptool.similarity import jaccard
from looptool.tools.spec import normalize_tool
from looptool.synth.api_rules import (
    REASON_CODES,
    ConstraintError,
    SpecIndex,
    action_verb,
    canonical_name,
    check_generated_spec,
    describe_constraints,
    merge_constraints,
    name_words,
    similarity_tokens,
    unsatisfiable_reason,
    validate_constraints,
)

CONSTRAINT: dict[str, Any] = {
    "naming": "snake_case",
    "name_verbs": ["search", "find"],
    "param_count": [2, 4],
    "param_types": ["string", "integer", "enum"],
    "required_ratio": [0.25, 0.75],
    "optional_defaults": True,
    "output_format": "object",
    "output_fields": ["status", "message"],
    "domain_params": [{"name": "trip_id", "type": "string", "pattern": "^TRP-[0-9]{8}$", "required": True}],
}


def good_spec() -> dict[str, Any]:
    return {
        "name": "search_hotel_rooms",
        "description": "Search hotel rooms available in a city for a trip's travel dates.",
        "parameters": {
            "type": "object",
            "properties": {
                "trip_id": {"type": "string", "description": "Trip the rooms are for.", "pattern": "^TRP-[0-9]{8}$"},
                "city": {"type": "string", "description": "City name, e.g. Lisbon."},
                "guests": {"type": "integer", "description": "Number of guests.", "minimum": 1, "default": 2},
                "room_type": {
                    "type": "string",
                    "enum": ["single", "double", "suite"],
                    "description": "Kind of room.",
                    "default": "double",
                },
            },
            "required": ["trip_id", "city"],
        },
        "returns": {
            "type": "object",
            "description": "Outcome of the search.",
            "properties": {"status": {"type": "string"}, "message": {"type": "string"}},
        },
    }


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def apply(spec: dict) -> None:
        *parents, last = path.split("/")
        node = spec
        for key in parents:
            node = node[key]
        node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict], None]:
    def apply(spec: dict) -> None:
        *parents, last = path.split("/")
        node = spec
        for key in parents:
            node = node[key]
        del node[last]

    return apply


def _steps(*fns: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(spec: dict) -> None:
        for fn in fns:
            fn(spec)

    return apply


P = "parameters/properties"

# (case id, mutation of good_spec(), exact set of expected reason codes)
CASES: list[tuple[str, Callable[[dict], None], set[str]]] = [
    ("accepted", lambda s: None, set()),
    ("param_without_type", _delete(f"{P}/city/type"), {"invalid_schema"}),
    ("array_without_items", _set(f"{P}/city", {"type": "array", "description": "Cities."}), {"invalid_schema"}),
    ("name_with_space", _set("name", "search hotel"), {"invalid_schema"}),
    ("parameters_not_object", _set("parameters/type", "array"), {"invalid_schema"}),
    ("bfcl_dict_type", _set(f"{P}/city/type", "dict"), {"invalid_schema"}),
    ("enum_value_wrong_type", _set(f"{P}/room_type/enum", ["single", 2]), {"invalid_schema"}),
    ("default_outside_enum", _set(f"{P}/room_type/default", "penthouse"), {"invalid_schema"}),
    ("default_wrong_type", _set(f"{P}/guests/default", "two"), {"invalid_schema"}),
    ("pattern_does_not_compile", _set(f"{P}/city/pattern", "[a-"), {"invalid_schema"}),
    ("pattern_needs_backtracking", _set(f"{P}/city/pattern", r"^(\w)\1$"), {"unsafe_pattern"}),
    ("bad_keyword_value", _set(f"{P}/guests/minimum", "one"), {"invalid_schema"}),
    ("unknown_top_level_key", _set("examples", []), {"invalid_schema"}),
    ("required_not_a_list", _set("parameters/required", "city"), {"invalid_schema"}),
    ("camel_name_under_snake", _set("name", "searchHotelRooms"), {"bad_name_convention"}),
    ("one_word_name", _set("name", "search"), {"bad_name_convention"}),
    ("wrong_verb", _set("name", "book_hotel_rooms"), {"bad_name_verb"}),
    (
        "too_many_params",
        _set(f"{P}/stars", {"type": "integer", "description": "Minimum hotel stars.", "default": 3}),
        {"param_count_out_of_range"},
    ),
    ("enum_type_missing", _delete(f"{P}/room_type/enum"), {"missing_param_types"}),
    ("tool_description_empty", _set("description", "  "), {"missing_description"}),
    ("param_description_missing", _delete(f"{P}/city/description"), {"missing_description"}),
    (
        "nested_param_description_missing",
        _set(
            f"{P}/city",
            {"type": "object", "description": "Place.", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        ),
        {"missing_description"},
    ),
    ("required_unknown_name", _set("parameters/required", ["trip_id", "city", "country"]), {"required_not_subset"}),
    (
        "nested_required_unknown_name",
        _set(
            f"{P}/city",
            {
                "type": "object",
                "description": "Place.",
                "properties": {"name": {"type": "string", "description": "City name."}},
                "required": ["zip"],
            },
        ),
        {"required_not_subset"},
    ),
    ("all_required", _set("parameters/required", ["trip_id", "city", "guests", "room_type"]), {"required_ratio_out_of_range"}),
    (
        "domain_param_absent",
        _steps(
            _set(f"{P}/journey_id", {"type": "string", "description": "Journey.", "pattern": "^TRP-[0-9]{8}$"}),
            _delete(f"{P}/trip_id"),
            _set("parameters/required", ["journey_id", "city"]),
        ),
        {"missing_domain_param"},
    ),
    ("domain_param_wrong_pattern", _set(f"{P}/trip_id/pattern", "^[0-9]+$"), {"missing_domain_param"}),
    ("domain_param_wrong_type", _set(f"{P}/trip_id", {"type": "integer", "description": "Trip."}), {"missing_domain_param"}),
    (
        "domain_param_not_required",
        _steps(_set("parameters/required", ["city"]), _set(f"{P}/trip_id/default", "TRP-00000001")),
        {"missing_domain_param"},
    ),
    ("optional_without_default", _delete(f"{P}/guests/default"), {"missing_default"}),
    ("no_returns", _delete("returns"), {"output_format_mismatch"}),
    ("returns_wrong_type", _set("returns", {"type": "array", "items": {"type": "string"}}), {"output_format_mismatch"}),
    ("returns_missing_field", _delete("returns/properties/message"), {"output_format_mismatch"}),
    (
        "several_rules_at_once",
        _steps(_set("name", "BookRooms"), _delete(f"{P}/guests/default"), _delete("returns")),
        {"bad_name_convention", "bad_name_verb", "missing_default", "output_format_mismatch"},
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[c[0] for c in CASES])
def test_rejection_reasons(mutate: Callable[[dict], None], expected: set[str]) -> None:
    spec = good_spec()
    mutate(spec)
    rejections = check_generated_spec(spec, CONSTRAINT, SpecIndex())
    assert {r.code for r in rejections} == expected, [str(r) for r in rejections]
    assert len(rejections) == len(expected), "each reason is reported at most once per spec"
    assert all(r.detail for r in rejections)


def test_every_reason_code_has_a_case() -> None:
    covered = set().union(*(e for _, _, e in CASES)) | {"duplicate_name", "near_duplicate_description"}
    assert covered == set(REASON_CODES)


def test_accepted_spec_passes_the_engine_wide_tool_gate() -> None:
    spec = good_spec()
    assert check_generated_spec(spec, CONSTRAINT, SpecIndex()) == []
    assert normalize_tool(spec)["parameters"] == spec["parameters"]


def test_engine_gate_rejections_surface_as_invalid_schema() -> None:
    spec = good_spec()
    spec["parameters"]["required"] = ["trip_id", "trip_id"]
    (rejection,) = check_generated_spec(spec, CONSTRAINT, SpecIndex())
    assert rejection.code == "invalid_schema" and "required" in rejection.detail


def test_not_a_dict_is_invalid_schema() -> None:
    for junk in ("search_hotel_rooms", None, [], {"name": "x_y"}):
        (rejection,) = check_generated_spec(junk, CONSTRAINT, SpecIndex())
        assert rejection.code == "invalid_schema"


def test_invalid_schema_detail_names_the_field() -> None:
    spec = good_spec()
    del spec["parameters"]["properties"]["city"]["type"]
    (rejection,) = check_generated_spec(spec, CONSTRAINT, SpecIndex())
    assert "city" in rejection.detail and "type" in rejection.detail


def test_duplicate_name_ignores_naming_convention() -> None:
    index = SpecIndex()
    index.add({"name": "searchHotelRooms", "description": "Reports weather radar imagery for a region."})
    rejections = check_generated_spec(good_spec(), CONSTRAINT, index)
    assert [r.code for r in rejections] == ["duplicate_name"]
    assert "searchHotelRooms" in rejections[0].detail


def test_near_duplicate_description() -> None:
    index = SpecIndex(threshold=0.6)
    index.add({"name": "find_hotel_rooms", "description": "Search hotel rooms available in a city for the trip's travel dates."})
    rejections = check_generated_spec(good_spec(), CONSTRAINT, index)
    assert [r.code for r in rejections] == ["near_duplicate_description"]
    assert "find_hotel_rooms" in rejections[0].detail


def test_dissimilar_spec_is_accepted_next_to_existing_ones() -> None:
    index = SpecIndex()
    index.add({"name": "get_flight_status", "description": "Live departure and arrival status for a flight number."})
    assert check_generated_spec(good_spec(), CONSTRAINT, index) == []


def test_no_constraints_checks_only_general_rules() -> None:
    spec = good_spec()
    spec["name"] = "Book"
    del spec["returns"]
    assert check_generated_spec(spec, {}, SpecIndex()) == []


@pytest.mark.parametrize(
    ("naming", "name", "ok"),
    [
        ("snake_case", "get_user_profile", True),
        ("snake_case", "get_user_2fa", True),
        ("snake_case", "Get_user", False),
        ("snake_case", "get__user", False),
        ("camelCase", "getUserProfile", True),
        ("camelCase", "getHTTPStatus", True),
        ("camelCase", "GetUserProfile", False),
        ("camelCase", "get_user", False),
        ("PascalCase", "GetUserProfile", True),
        ("PascalCase", "getUserProfile", False),
        ("dotted", "users.get_profile", True),
        ("dotted", "users.profile.get", True),
        ("dotted", "users_get_profile", False),
        ("dotted", "Users.getProfile", False),
    ],
)
def test_naming_conventions(naming: str, name: str, ok: bool) -> None:
    spec = good_spec()
    spec["name"] = name
    codes = {r.code for r in check_generated_spec(spec, {"naming": naming}, SpecIndex())}
    assert ("bad_name_convention" not in codes) is ok


def test_name_words_and_verbs() -> None:
    assert name_words("getHTTPStatus") == ["get", "http", "status"]
    assert name_words("flights.search_fares") == ["flights", "search", "fares"]
    assert canonical_name("SearchFlights") == canonical_name("search_flights") == "search_flights"
    assert action_verb("flights.search_fares", "dotted") == "search"
    assert action_verb("GetUser", "PascalCase") == "get"


def test_validate_constraints_names_the_key() -> None:
    with pytest.raises(ConstraintError) as err:
        validate_constraints({"naming": "kebab-case"})
    assert err.value.key == "naming"
    with pytest.raises(ConstraintError) as err:
        validate_constraints({"param_count": [5, 2]})
    assert err.value.key == "param_count" and "exceeds" in err.value.reason
    with pytest.raises(ConstraintError) as err:
        validate_constraints({"naming_style": "snake_case"})
    assert "naming_style" in str(err.value)
    with pytest.raises(ConstraintError) as err:
        validate_constraints({"domain_params": [{"name": "n", "type": "integer", "enum": ["a"]}]})
    assert err.value.key == "domain_params/0"
    with pytest.raises(ConstraintError):
        validate_constraints({"domain_params": [{"name": "n", "type": "string", "pattern": "[a-"}]})


def test_merge_overrides_but_accumulates_domain_params_and_guidance() -> None:
    parent = {
        "naming": "snake_case",
        "param_count": [1, 8],
        "guidance": ["a"],
        "domain_params": [{"name": "x", "type": "string"}, {"name": "y", "type": "string"}],
    }
    child = {"param_count": [2, 3], "guidance": ["b"], "domain_params": [{"name": "y", "type": "integer"}]}
    merged = merge_constraints(parent, child)
    assert merged["naming"] == "snake_case" and merged["param_count"] == [2, 3]
    assert merged["guidance"] == ["a", "b"]
    assert merged["domain_params"] == [{"name": "x", "type": "string"}, {"name": "y", "type": "integer"}]
    assert parent["param_count"] == [1, 8], "the parent is not mutated"


@pytest.mark.parametrize(
    ("constraints", "fragment"),
    [
        ({"param_count": [1, 1], "param_types": ["string", "integer"]}, "at most 1"),
        (
            {
                "param_count": [1, 2],
                "param_types": ["boolean"],
                "domain_params": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}],
            },
            "at most 2",
        ),
        ({"output_format": "string", "output_fields": ["status"]}, "output_fields"),
        (
            {"param_count": [2, 2], "required_ratio": [0.0, 0.3], "domain_params": [{"name": "a", "type": "string", "required": True}]},
            "required_ratio",
        ),
    ],
)
def test_unsatisfiable_constraints(constraints: dict, fragment: str) -> None:
    reason = unsatisfiable_reason(constraints)
    assert reason is not None and fragment in reason


def test_satisfiable_constraints() -> None:
    assert unsatisfiable_reason(CONSTRAINT) is None
    assert unsatisfiable_reason({"param_count": [1, 2], "param_types": ["string", "enum"]}) is None


def test_describe_constraints_shows_values() -> None:
    text = "\n".join(describe_constraints(CONSTRAINT))
    for needle in (
        "snake_case",
        "search, find",
        "2 to 4",
        "integer",
        "25%",
        "75%",
        "trip_id",
        "^TRP-[0-9]{8}$",
        "status, message",
        "default",
    ):
        assert needle in text


# ------------------------------------------------------------------ index


def _random_specs(rng: random.Random, n: int) -> list[dict[str, str]]:
    vocab = [f"w{i}" for i in range(60)]
    specs = []
    for i in range(n):
        words = rng.sample(vocab, rng.randint(3, 9))
        specs.append({"name": f"tool_{i}", "description": " ".join(words)})
    return specs


def test_index_lookup_matches_brute_force() -> None:
    rng = random.Random(7)
    stored = _random_specs(rng, 3000)
    index = SpecIndex(threshold=0.5, specs=stored)
    assert len(index) == 3000
    queries = _random_specs(random.Random(8), 300)
    # Near copies of stored specs, so some queries must hit.
    queries += [{"name": f"q_{i}", "description": stored[i]["description"]} for i in range(0, 3000, 50)]
    stored_tokens = [similarity_tokens(s["name"], s["description"]) for s in stored]
    hits = 0
    for q in queries:
        qt = similarity_tokens(q["name"], q["description"])
        scores = [jaccard(qt, st) for st in stored_tokens]
        best = max(scores)
        found = index.most_similar(q["name"], q["description"])
        if best >= 0.5:
            hits += 1
            assert found is not None and found[1] == pytest.approx(best)
        else:
            assert found is None
    assert hits >= 60


def test_index_threshold_bounds() -> None:
    with pytest.raises(ValueError):
        SpecIndex(threshold=0)
    with pytest.raises(ValueError):
        SpecIndex(threshold=1.5)


def test_check_does_not_mutate_inputs() -> None:
    spec, constraint = good_spec(), copy.deepcopy(CONSTRAINT)
    before = (copy.deepcopy(spec), copy.deepcopy(constraint))
    check_generated_spec(spec, constraint, SpecIndex())
    assert (spec, constraint) == before
