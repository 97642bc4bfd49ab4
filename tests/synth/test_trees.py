"""Tree files, the pair sampler, the generator prompt and the response schema."""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from looptool.paths import data_dir
from looptool.synth.api_rules import (
    NAMING_EXAMPLES,
    SpecIndex,
    check_generated_spec,
)
from looptool.synth.witness import spec_satisfying
from looptool.synth.trees import (
    API_SPEC_RESPONSE_SCHEMA,
    PairSampler,
    TreeError,
    _LazyPermutation,
    count_pairs,
    load_domain,
    load_generator_prompt,
    load_trees,
    render_generator_prompt,
    resolve_pair,
    response_schema_for,
)


@pytest.fixture(scope="module")
def shipped():
    return load_trees()


# ------------------------------------------------------------------ shipped trees


def test_shipped_trees_are_rich_enough(shipped) -> None:
    assert len(shipped) >= 8
    for domain in shipped.values():
        assert len(domain.context_leaves) >= 20, domain.domain
        assert domain.pair_count >= 5000, domain.domain
    assert count_pairs(shipped) >= 80_000


def test_readme_sizes_match_the_files(shipped) -> None:
    readme = (data_dir("trees") / "README.md").read_text(encoding="utf-8")
    rows = dict(
        (m[0], tuple(int(x.replace(",", "")) for x in m[1:]))
        for m in re.findall(r"^\| (\w+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", readme, re.M)
    )
    assert set(rows) == set(shipped)
    for name, domain in shipped.items():
        assert rows[name] == (len(domain.context_leaves), len(domain.constraint_leaves), domain.pair_count)
    total = re.search(r"\*\*total \((\d+) domains\)\*\* \| ([\d,]+) \| ([\d,]+) \| \*\*([\d,]+)\*\*", readme)
    assert total is not None
    assert int(total[1]) == len(shipped)
    assert int(total[4].replace(",", "")) == count_pairs(shipped)


def witness(constraints: dict[str, Any]) -> dict[str, Any]:
    """A spec built to satisfy `constraints` (the simulator's generator uses the same builder)."""
    return spec_satisfying(constraints, words=["widget", "status", "report"], rng=random.Random(0))


def test_every_shipped_constraint_leaf_is_satisfiable(shipped) -> None:
    checked = 0
    for domain in shipped.values():
        for leaf in domain.constraint_leaves:
            spec = witness(dict(leaf.constraints))
            assert check_generated_spec(spec, leaf.constraints, SpecIndex()) == [], leaf.key
            assert Draft202012Validator(response_schema_for(leaf.constraints)).is_valid(spec), leaf.key
            checked += 1
    assert checked == sum(len(d.constraint_leaves) for d in shipped.values())


def test_effective_constraints_merge_shared_domain_and_leaf(shipped) -> None:
    leaf = next(
        node for node in shipped["travel"].constraint_leaves if node.key == "travel_api/reservations/dotted/numeric_ranges/acknowledgement"
    )
    c = leaf.constraints
    assert c["naming"] == "dotted"
    assert c["param_count"] == [3, 6], "the signature overrides the shared root's [1, 8]"
    assert c["name_verbs"][0] == "book"
    assert c["domain_params"][0]["name"] == "trip_id"
    assert c["output_fields"] == ["status", "message"]
    assert c["guidance"][0].startswith("Parameter descriptions"), "shared guidance comes first"
    assert any("IATA" in g for g in c["guidance"]) and any("minimum" in g for g in c["guidance"])


def test_domain_fragment_shadows_shared_fragment(shipped) -> None:
    dev = shipped["developer_tools"]
    namings = {leaf.names[2] for leaf in dev.constraint_leaves}
    outputs = {leaf.names[-1] for leaf in dev.constraint_leaves}
    assert namings == {"snake_case", "dotted", "camel_case"}
    assert "job_handle" in outputs and "acknowledgement" not in outputs
    assert {leaf.names[-1] for leaf in shipped["travel"].constraint_leaves} >= {"acknowledgement"}


# ------------------------------------------------------------------ loading errors


def _ctx(name: str = "root", children: list | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Root.",
        "children": children
        or [
            {
                "name": "topic",
                "description": "Topic.",
                "children": [
                    {"name": "leaf_a", "description": "A."},
                    {"name": "leaf_b", "description": "B."},
                ],
            },
        ],
    }


def _domain(name: str = "demo", **overrides: Any) -> dict[str, Any]:
    doc = {
        "domain": name,
        "description": "Demo domain.",
        "context": _ctx(),
        "constraint": {
            "name": "demo_api",
            "constraints": {"naming": "snake_case"},
            "children": [
                {"name": "small", "constraints": {"param_count": [1, 2]}},
                {"name": "large", "constraints": {"param_count": [3, 5]}},
            ],
        },
    }
    doc.update(overrides)
    return doc


def _write(directory: Path, name: str, doc: Any) -> Path:
    path = directory / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _mutated(mutate) -> dict[str, Any]:
    doc = _domain()
    mutate(doc)
    return doc


LOAD_ERRORS = [
    ("invalid_json", '{"domain": "demo",', "", "not valid JSON"),
    ("domain_mismatch", _domain(name="other"), "domain", "does not match the file name"),
    ("missing_key", {k: v for k, v in _domain().items() if k != "context"}, "<file>", "'context' is a required property"),
    (
        "leaf_without_description",
        _mutated(lambda d: d["context"]["children"][0]["children"][1].pop("description")),
        "context/root/topic/leaf_b",
        "'description' is a required property",
    ),
    (
        "bad_node_name",
        _mutated(lambda d: d["context"]["children"][0]["children"][0].update(name="Leaf A")),
        "context/root/topic/Leaf A (key name)",
        "does not match",
    ),
    (
        "typo_in_node_key",
        _mutated(lambda d: d["context"]["children"][0].update(childs=[])),
        "context/root/topic",
        "childs",
    ),
    (
        "empty_children",
        _mutated(lambda d: d["context"]["children"][0].update(children=[])),
        "context/root/topic (key children)",
        "should be non-empty",
    ),
    (
        "unknown_constraint_key",
        _mutated(lambda d: d["constraint"]["children"][1]["constraints"].update(naming_style="x")),
        "constraint/demo_api/large",
        "naming_style",
    ),
    (
        "reversed_range",
        _mutated(lambda d: d["constraint"]["children"][0]["constraints"].update(param_count=[4, 2])),
        "constraint/demo_api/small",
        "constraints.param_count: minimum 4 exceeds maximum 2",
    ),
    (
        "duplicate_siblings",
        _mutated(lambda d: d["context"]["children"][0]["children"][1].update(name="leaf_a")),
        "context/root/topic",
        "two children are named 'leaf_a'",
    ),
    (
        "unknown_fragment",
        _mutated(lambda d: d["constraint"]["children"][0].update(children_from="nope")),
        "constraint/demo_api/small",
        "children_from 'nope' is not a fragment",
    ),
    (
        "fragment_cycle",
        _mutated(
            lambda d: (
                d["constraint"]["children"][0].update(children_from="a"),
                d.update(fragments={"a": [{"name": "x", "children_from": "b"}], "b": [{"name": "y", "children_from": "a"}]}),
            )
        ),
        "fragments/b/y",
        "children_from cycle: a -> b -> a",
    ),
    (
        "children_and_children_from",
        _mutated(lambda d: d["constraint"].update(children_from="a")),
        "constraint/demo_api",
        "has both children and children_from",
    ),
    (
        "unsatisfiable_leaf",
        _mutated(lambda d: d["constraint"]["children"][0]["constraints"].update(param_types=["string", "integer", "boolean"])),
        "constraint/demo_api/small",
        "unsatisfiable",
    ),
]


@pytest.mark.parametrize(("doc", "where", "reason"), [c[1:] for c in LOAD_ERRORS], ids=[c[0] for c in LOAD_ERRORS])
def test_load_errors_name_file_node_and_reason(tmp_path: Path, doc: Any, where: str, reason: str) -> None:
    path = _write(tmp_path, "demo.json", doc)
    with pytest.raises(TreeError) as err:
        load_domain(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert where in message, message
    assert reason in message, message
    assert err.value.node_path.startswith(where) or where == "", message


def test_bad_shared_fragment_names_the_shared_file(tmp_path: Path) -> None:
    _write(tmp_path, "demo.json", _domain())
    shared = _write(
        tmp_path,
        "_shared_constraints.json",
        {"fragments": {"output": [{"name": "record", "constraints": {"output_format": "xml"}}]}},
    )
    with pytest.raises(TreeError) as err:
        load_trees(tmp_path)
    assert str(err.value).startswith(str(shared))
    assert "fragments/output/record" in str(err.value) and "output_format" in str(err.value)


def test_load_trees_selects_domains_and_reports_unknown(tmp_path: Path) -> None:
    _write(tmp_path, "demo.json", _domain())
    _write(tmp_path, "other.json", _domain(name="other"))
    assert list(load_trees(tmp_path, ["other"])) == ["other"]
    with pytest.raises(TreeError) as err:
        load_trees(tmp_path, ["demo", "missing"])
    assert "missing" in str(err.value) and "available: demo, other" in str(err.value)
    with pytest.raises(TreeError):
        load_trees(tmp_path / "empty_dir_does_not_exist")


def test_shared_constraints_and_fragment_shadowing(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "_shared_constraints.json",
        {
            "constraints": {"param_count": [1, 8], "guidance": ["shared"]},
            "fragments": {
                "shape": [{"name": "tiny", "constraints": {"param_count": [1, 1]}, "children_from": "out"}],
                "out": [{"name": "obj", "constraints": {"output_format": "object"}}],
            },
        },
    )
    plain = _domain(constraint={"name": "api", "children_from": "shape"})
    shadow = _domain(
        name="shadow",
        constraint={"name": "api", "constraints": {"guidance": ["own"]}, "children_from": "shape"},
        fragments={
            "out": [{"name": "arr", "constraints": {"output_format": "array"}}, {"name": "txt", "constraints": {"output_format": "string"}}]
        },
    )
    _write(tmp_path, "demo.json", plain)
    _write(tmp_path, "shadow.json", shadow)
    trees = load_trees(tmp_path)
    (demo_leaf,) = trees["demo"].constraint_leaves
    assert demo_leaf.key == "api/tiny/obj"
    assert demo_leaf.constraints == {"param_count": [1, 1], "guidance": ["shared"], "output_format": "object"}
    assert [leaf.key for leaf in trees["shadow"].constraint_leaves] == ["api/tiny/arr", "api/tiny/txt"]
    assert trees["shadow"].constraint_leaves[0].constraints["guidance"] == ["shared", "own"]


# ------------------------------------------------------------------ sampling


def test_lazy_permutation_is_a_permutation() -> None:
    rng = random.Random(0)
    for size in (1, 2, 7, 100):
        perm = _LazyPermutation(size)
        values = [perm.next(rng) for _ in range(size)]
        assert sorted(values) == list(range(size))
        assert perm.exhausted


def test_sampler_is_deterministic_and_order_independent(shipped) -> None:
    first = [p.key for p in PairSampler(shipped, seed=11).sample_many(200)]
    again = [p.key for p in PairSampler(list(reversed(list(shipped.values()))), seed=11).sample_many(200)]
    other = [p.key for p in PairSampler(shipped, seed=12).sample_many(200)]
    assert first == again
    assert first != other
    with_replacement = [p.key for p in PairSampler(shipped, seed=11, distinct=False).sample_many(50)]
    assert with_replacement == [p.key for p in PairSampler(shipped, seed=11, distinct=False).sample_many(50)]


def test_sampler_gives_distinct_pairs_across_domains(shipped) -> None:
    pairs = PairSampler(shipped, seed=3).sample_many(5000)
    keys = [p.key for p in pairs]
    assert len(set(keys)) == 5000
    per_domain = {d: sum(p.domain == d for p in pairs) for d in shipped}
    assert min(per_domain.values()) > 5000 / len(shipped) / 2, per_domain


def test_sampler_exhausts_then_cycles(tmp_path: Path) -> None:
    _write(tmp_path, "demo.json", _domain())
    _write(tmp_path, "other.json", _domain(name="other"))
    trees = load_trees(tmp_path)
    total = count_pairs(trees)
    assert total == 8
    sampler = PairSampler(trees, seed=5)
    first_pass = [p.key for p in sampler.sample_many(total)]
    assert len(set(first_pass)) == total and sampler.remaining == 0 and sampler.cycle == 0
    second_pass = [p.key for p in sampler.sample_many(total)]
    assert sampler.cycle == 1
    assert set(second_pass) == set(first_pass)


def test_sampler_skips_excluded_keys_for_resume(shipped) -> None:
    done = [p.key for p in PairSampler(shipped, seed=1).sample_many(300)]
    resumed = PairSampler(shipped, seed=2, exclude=done).sample_many(300)
    assert not {p.key for p in resumed} & set(done)


def test_resolve_pair_round_trips(shipped) -> None:
    for pair in PairSampler(shipped, seed=9).sample_many(20):
        again = resolve_pair(shipped, pair.key)
        assert again.key == pair.key and again.constraints == pair.constraints
    with pytest.raises(KeyError):
        resolve_pair(shipped, "travel|nope|nope")


# ------------------------------------------------------------------ prompt and schema


def test_prompt_contains_both_paths_and_constraint_values(shipped) -> None:
    leaf_key = "travel_api/reservations/pascal_case/filtered_search/acknowledgement"
    pair = resolve_pair(shipped, f"travel|travel/flights/seat_selection|{leaf_key}")
    text = render_generator_prompt(pair, existing_names=["AssignSeat", "GetSeatMap"])
    assert "travel > flights > seat selection" in text
    assert "travel api > reservations > pascal case > filtered search > acknowledgement" in text
    assert "cabin seat map" in text, "the context leaf description is shown"
    for value in (
        "PascalCase",
        NAMING_EXAMPLES["PascalCase"],
        "book, reserve",
        "3 to 6",
        "integer, boolean",
        "15%",
        "50%",
        "trip_id",
        "^TRP-[0-9]{8}$",
        "status, message",
        "AssignSeat, GetSeatMap",
        "IATA",
    ):
        assert value in text, value
    assert json.dumps(pair.constraints["param_count"]) in text
    assert not re.search(r"\$[a-z_]+", text), "no unfilled placeholder"


def test_prompt_template_errors(tmp_path: Path) -> None:
    good = load_generator_prompt()
    assert isinstance(good, string.Template)
    cases = [
        ("$context_path $context_details $constraint_path $constraint_rules $contxt", "unknown placeholder(s) contxt"),
        ("$context_path $constraint_rules", "lacks required placeholder(s) context_details, constraint_path"),
        ("$context_path $context_details $constraint_path $constraint_rules costs 5$", "invalid placeholder syntax"),
    ]
    for text, reason in cases:
        path = _write(tmp_path, "p.md", text)
        with pytest.raises(TreeError) as err:
            load_generator_prompt(path)
        assert str(err.value).startswith(str(path)) and reason in str(err.value)


def test_response_schemas_are_valid_and_tightened() -> None:
    Draft202012Validator.check_schema(API_SPEC_RESPONSE_SCHEMA)
    constraints = {"naming": "camelCase", "param_count": [1, 2], "output_format": "array"}
    tight = response_schema_for(constraints)
    Draft202012Validator.check_schema(tight)
    spec = witness(constraints)
    assert Draft202012Validator(tight).is_valid(spec)
    assert Draft202012Validator(API_SPEC_RESPONSE_SCHEMA).is_valid(spec)
    wrong_name = {**spec, "name": "get_widget_status"}
    assert not Draft202012Validator(tight).is_valid(wrong_name)
    assert Draft202012Validator(API_SPEC_RESPONSE_SCHEMA).is_valid(wrong_name)
    no_returns = {k: v for k, v in spec.items() if k != "returns"}
    assert not Draft202012Validator(tight).is_valid(no_returns)
    assert "returns" not in API_SPEC_RESPONSE_SCHEMA["required"], "the generic schema is not mutated"
