"""Context and Constraint trees: the inputs of dual-tree API synthesis (paper, seed step 1).

Each domain file in trees/ holds a Context tree (what the API is about: topic -> specialisation)
and a Constraint tree (how it must look: naming, parameters, output). One leaf path from each,
merged into the generator prompt, yields one API spec; a run walks many distinct pairs so the
pool covers the domain instead of the generator's favourite five APIs. The file format is
documented in trees/README.md; the constraint vocabulary in looptool.synth.api_rules.

Sampling is deterministic (`random.Random(seed)`, no numpy) and can run without replacement,
so a resumed run that replays the same seed, or passes the keys it already used, never asks
for the same pair twice until every pair has been used.

Only the stdlib, jsonschema and the engine's own light modules are imported.
"""

from __future__ import annotations

import copy
import json
import random
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from looptool.errors import InputError
from looptool.paths import data_dir
from looptool.synth.api_rules import (
    JSON_TYPES,
    NAMING_PATTERNS,
    TOOL_NAME_PATTERN,
    ConstraintError,
    describe_constraints,
    merge_constraints,
    unsatisfiable_reason,
    validate_constraints,
)

SHARED_FILE = "_shared_constraints.json"


class TreeError(InputError):
    """A tree file is wrong: the message names the file, the node path and the reason."""

    def __init__(self, source: Path | str, node_path: str, reason: str) -> None:
        self.source = str(source)
        self.node_path = node_path
        self.reason = reason
        super().__init__(f"{self.source}: {node_path}: {reason}" if node_path else f"{self.source}: {reason}")


# --------------------------------------------------------------------------- file schemas

_SLUG = r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$"
_CONTEXT_NODE = {
    "type": "object",
    "required": ["name", "description"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _SLUG},
        "description": {"type": "string", "minLength": 1},
        "children": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/context_node"}},
    },
}
_CONSTRAINT_NODE = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _SLUG},
        "description": {"type": "string", "minLength": 1},
        "constraints": {"type": "object"},
        "children": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/constraint_node"}},
        "children_from": {"type": "string", "pattern": _SLUG},
    },
}
_FRAGMENTS = {
    "type": "object",
    "propertyNames": {"pattern": _SLUG},
    "additionalProperties": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/constraint_node"}},
}
_DEFS = {"context_node": _CONTEXT_NODE, "constraint_node": _CONSTRAINT_NODE}

DOMAIN_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": _DEFS,
    "type": "object",
    "required": ["domain", "description", "context", "constraint"],
    "additionalProperties": False,
    "properties": {
        "domain": {"type": "string", "pattern": _SLUG},
        "description": {"type": "string", "minLength": 1},
        "context": {"$ref": "#/$defs/context_node"},
        "constraint": {"$ref": "#/$defs/constraint_node"},
        "fragments": _FRAGMENTS,
    },
}
SHARED_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": _DEFS,
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "constraints": {"type": "object"},
        "fragments": _FRAGMENTS,
    },
}
_DOMAIN_VALIDATOR = Draft202012Validator(DOMAIN_FILE_SCHEMA)
_SHARED_VALIDATOR = Draft202012Validator(SHARED_FILE_SCHEMA)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TreeNode:
    name: str
    description: str = ""
    constraints: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True, eq=False)
class LeafPath:
    """One root-to-leaf path; `constraints` are the merged (effective) ones, {} for context."""

    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "/".join(self.names)

    @property
    def label(self) -> str:
        return " > ".join(name.replace("_", " ") for name in self.names)


@dataclass(frozen=True, eq=False)
class TreePair:
    """What one generator call is about: a context leaf path and a constraint leaf path."""

    domain: str
    domain_description: str
    context: LeafPath
    constraint: LeafPath

    @property
    def key(self) -> str:
        """Stable id of the pair, for provenance and for resuming without repeats."""
        return f"{self.domain}|{self.context.key}|{self.constraint.key}"

    @property
    def constraints(self) -> Mapping[str, Any]:
        return self.constraint.constraints


@dataclass(frozen=True, eq=False)
class DomainTrees:
    domain: str
    description: str
    source: Path
    context: TreeNode
    constraint: TreeNode
    context_leaves: tuple[LeafPath, ...]
    constraint_leaves: tuple[LeafPath, ...]

    @property
    def pair_count(self) -> int:
        return len(self.context_leaves) * len(self.constraint_leaves)

    def pair(self, index: int) -> TreePair:
        """Pair number `index` in [0, pair_count): context-major order."""
        ci, ki = divmod(index, len(self.constraint_leaves))
        return TreePair(self.domain, self.description, self.context_leaves[ci], self.constraint_leaves[ki])


@dataclass(frozen=True)
class SharedConstraints:
    """trees/_shared_constraints.json: root constraints and fragments every domain may use."""

    source: Path
    constraints: Mapping[str, Any] = field(default_factory=dict)
    fragments: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TreeError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TreeError(path, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _schema_error(validator: Draft202012Validator, doc: Any, source: Path) -> None:
    error = best_match(validator.iter_errors(doc))
    if error is None:
        return
    node_path, rest = _describe_location(doc, list(error.absolute_path))
    where = node_path + (f" (key {rest})" if rest else "")
    raise TreeError(source, where or "<file>", error.message)


def _describe_location(doc: Any, path: list[Any]) -> tuple[str, str]:
    """Turn a JSON path (['context', 'children', 2, 'name']) into a node path by node names
    ('context/travel/flights') plus the key left over ('name'), so errors say where in tree terms."""
    parts: list[str] = []
    cur = doc
    i = 0

    def node_label(node: Any, fallback: str) -> str:
        name = node.get("name") if isinstance(node, dict) else None
        return name if isinstance(name, str) and name else fallback

    while i < len(path):
        key = path[i]
        if cur is doc and key in ("context", "constraint"):
            cur = doc[key]
            parts += [key, node_label(cur, "<root>")]
            i += 1
        elif cur is doc and key == "fragments" and i + 2 < len(path):
            cur = doc["fragments"][path[i + 1]][path[i + 2]]
            parts += ["fragments", str(path[i + 1]), node_label(cur, f"[{path[i + 2]}]")]
            i += 3
        elif key == "children" and i + 1 < len(path) and isinstance(cur, dict):
            cur = cur["children"][path[i + 1]]
            parts.append(node_label(cur, f"children[{path[i + 1]}]"))
            i += 2
        else:
            break
    rest = ".".join(str(p) for p in path[i:])
    return "/".join(parts), rest


def load_shared(path: Path) -> SharedConstraints:
    """Load and validate the shared constraints file."""
    doc = _read_json(path)
    _schema_error(_SHARED_VALIDATOR, doc, path)
    constraints = _checked_constraints(doc.get("constraints", {}), path, "")
    fragments = doc.get("fragments", {})
    for frag, nodes in fragments.items():
        for node in nodes:
            _check_fragment_constraints(node, path, f"fragments/{frag}/{node['name']}")
    return SharedConstraints(path, constraints, fragments)


def _check_fragment_constraints(node: Mapping[str, Any], source: Path, where: str) -> None:
    _checked_constraints(node.get("constraints", {}), source, where)
    for child in node.get("children", ()):
        _check_fragment_constraints(child, source, f"{where}/{child['name']}")


def _checked_constraints(raw: Any, source: Path, where: str) -> dict[str, Any]:
    try:
        return validate_constraints(raw)
    except ConstraintError as exc:
        key = f"constraints.{exc.key}" if exc.key else "constraints"
        raise TreeError(source, where, f"{key}: {exc.reason}") from None


class _Builder:
    """Turns raw nodes into TreeNodes, expanding `children_from` fragment references.

    Fragments resolve in the using domain's scope (its own fragments shadow shared ones by name),
    so a domain can replace, say, the output styles under the whole shared structure.
    """

    def __init__(self, source: Path, shared: SharedConstraints | None, own: Mapping[str, list]) -> None:
        self.source = source
        self.fragments: dict[str, tuple[list, Path]] = {}
        if shared is not None:
            self.fragments.update({k: (v, shared.source) for k, v in shared.fragments.items()})
        self.fragments.update({k: (v, source) for k, v in own.items()})
        self._built: dict[str, tuple[TreeNode, ...]] = {}

    def node(self, raw: Mapping[str, Any], source: Path, where: str, stack: tuple[str, ...]) -> TreeNode:
        constraints = _checked_constraints(raw.get("constraints", {}), source, where)
        if "children_from" in raw and "children" in raw:
            raise TreeError(source, where, "has both children and children_from; a node takes its children from one")
        if "children_from" in raw:
            children = self.fragment(raw["children_from"], source, where, stack)
        else:
            children = tuple(self.node(child, source, f"{where}/{child['name']}", stack) for child in raw.get("children", ()))
        names = [child.name for child in children]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise TreeError(source, where, f"two children are named {duplicate!r}; sibling names must be unique")
        return TreeNode(raw["name"], raw.get("description", ""), constraints, children)

    def fragment(self, name: str, source: Path, where: str, stack: tuple[str, ...]) -> tuple[TreeNode, ...]:
        if name in stack:
            raise TreeError(source, where, f"children_from cycle: {' -> '.join((*stack, name))}")
        if name not in self.fragments:
            known = ", ".join(sorted(self.fragments)) or "none"
            raise TreeError(source, where, f"children_from {name!r} is not a fragment (known: {known})")
        if name not in self._built:
            nodes, frag_source = self.fragments[name]
            self._built[name] = tuple(self.node(n, frag_source, f"fragments/{name}/{n['name']}", (*stack, name)) for n in nodes)
        return self._built[name]


def _leaves(root: TreeNode, base: Mapping[str, Any] | None) -> Iterator[LeafPath]:
    """Every root-to-leaf path; with `base` (constraint trees) the merged constraints too."""

    def walk(node: TreeNode, names: tuple, descs: tuple, merged: Mapping[str, Any] | None) -> Iterator[LeafPath]:
        names, descs = (*names, node.name), (*descs, node.description)
        if merged is not None:
            merged = merge_constraints(merged, node.constraints)
        if not node.children:
            yield LeafPath(names, descs, merged if merged is not None else {})
            return
        for child in node.children:
            yield from walk(child, names, descs, merged)

    yield from walk(root, (), (), base)


def load_domain(path: Path, shared: SharedConstraints | None = None) -> DomainTrees:
    """Load one trees/<domain>.json; any problem raises TreeError naming file and node path."""
    path = Path(path)
    doc = _read_json(path)
    _schema_error(_DOMAIN_VALIDATOR, doc, path)
    if doc["domain"] != path.stem:
        raise TreeError(path, "domain", f"domain {doc['domain']!r} does not match the file name {path.stem!r}")
    builder = _Builder(path, shared, doc.get("fragments", {}))
    for frag, nodes in doc.get("fragments", {}).items():
        for node in nodes:
            _check_fragment_constraints(node, path, f"fragments/{frag}/{node['name']}")
    context = builder.node(doc["context"], path, f"context/{doc['context']['name']}", ())
    constraint = builder.node(doc["constraint"], path, f"constraint/{doc['constraint']['name']}", ())
    context_leaves = tuple(_leaves(context, None))
    base = dict(shared.constraints) if shared is not None else {}
    constraint_leaves = tuple(_leaves(constraint, base))
    for leaf in constraint_leaves:
        reason = unsatisfiable_reason(leaf.constraints)
        if reason:
            raise TreeError(path, f"constraint/{leaf.key}", f"effective constraints are unsatisfiable: {reason}")
    return DomainTrees(
        domain=doc["domain"],
        description=doc["description"],
        source=path,
        context=context,
        constraint=constraint,
        context_leaves=context_leaves,
        constraint_leaves=constraint_leaves,
    )


def load_trees(directory: Path | None = None, domains: Iterable[str] | None = None) -> dict[str, DomainTrees]:
    """Load every domain in `directory` (default: the shipped trees/), or only `domains`.

    Files starting with "_" are not domains; `_shared_constraints.json`, if present, is merged
    under every domain's constraint tree.
    """
    directory = Path(directory) if directory is not None else data_dir("trees")
    shared_path = directory / SHARED_FILE
    shared = load_shared(shared_path) if shared_path.is_file() else None
    available = {p.stem: p for p in sorted(directory.glob("*.json")) if not p.name.startswith("_")}
    wanted = list(domains) if domains is not None else list(available)
    unknown = [d for d in wanted if d not in available]
    if unknown:
        raise TreeError(directory, "", f"no tree file for domain(s) {', '.join(unknown)} (available: {', '.join(available) or 'none'})")
    if not wanted:
        raise TreeError(directory, "", "no domain tree files (*.json) found")
    return {d: load_domain(available[d], shared) for d in wanted}


def count_pairs(trees: Mapping[str, DomainTrees] | Iterable[DomainTrees]) -> int:
    """Number of distinct (context leaf path, constraint leaf path) pairs over all domains."""
    return sum(d.pair_count for d in _domain_list(trees))


def resolve_pair(trees: Mapping[str, DomainTrees], key: str) -> TreePair:
    """The pair a stored `TreePair.key` names (e.g. to re-render a prompt on resume)."""
    try:
        domain, context_key, constraint_key = key.split("|")
        d = trees[domain]
        ctx = next(leaf for leaf in d.context_leaves if leaf.key == context_key)
        con = next(leaf for leaf in d.constraint_leaves if leaf.key == constraint_key)
    except (ValueError, KeyError, StopIteration):
        raise KeyError(f"pair key {key!r} names no pair in the loaded trees") from None
    return TreePair(d.domain, d.description, ctx, con)


def _domain_list(trees: Mapping[str, DomainTrees] | Iterable[DomainTrees]) -> list[DomainTrees]:
    items = trees.values() if isinstance(trees, Mapping) else trees
    return sorted(items, key=lambda d: d.domain)


# --------------------------------------------------------------------------- sampling


class _LazyPermutation:
    """Fisher-Yates shuffle drawn one element at a time: O(1) per draw, memory O(draws), so a
    domain with millions of pairs costs nothing until used."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.drawn = 0
        self._swapped: dict[int, int] = {}

    @property
    def exhausted(self) -> bool:
        return self.drawn >= self.size

    def next(self, rng: random.Random) -> int:
        i = self.drawn
        j = rng.randrange(i, self.size)
        value = self._swapped.get(j, j)
        self._swapped[j] = self._swapped.pop(i, i)
        self.drawn += 1
        return value


class PairSampler:
    """Deterministic (context path, constraint path) sampler over one or more domains.

    Each draw picks a domain uniformly (among those with pairs left), then a pair in it. With
    `distinct=True` pairs are drawn without replacement: N draws give N distinct pairs while
    N <= the number of pairs; after that a new cycle starts and pairs repeat, one full pass at a
    time (`cycle` counts finished passes). `exclude` holds keys a previous run already used;
    they are skipped during the first pass.
    """

    def __init__(
        self,
        trees: Mapping[str, DomainTrees] | Iterable[DomainTrees],
        seed: int,
        *,
        distinct: bool = True,
        exclude: Iterable[str] = (),
    ) -> None:
        self._domains = _domain_list(trees)
        if not self._domains:
            raise ValueError("PairSampler needs at least one domain")
        self._rng = random.Random(seed)
        self.distinct = distinct
        self._exclude = set(exclude)
        self.cycle = 0
        self._perms = self._fresh()

    def _fresh(self) -> dict[str, _LazyPermutation]:
        return {d.domain: _LazyPermutation(d.pair_count) for d in self._domains}

    @property
    def remaining(self) -> int:
        """Pairs not yet drawn in the current pass (excluded keys still count until skipped)."""
        return sum(p.size - p.drawn for p in self._perms.values())

    def sample(self) -> TreePair:
        if not self.distinct:
            domain = self._rng.choice(self._domains)
            return domain.pair(self._rng.randrange(domain.pair_count))
        while True:
            live = [d for d in self._domains if not self._perms[d.domain].exhausted]
            if not live:
                self.cycle += 1
                self._exclude.clear()
                self._perms = self._fresh()
                continue
            domain = self._rng.choice(live)
            pair = domain.pair(self._perms[domain.domain].next(self._rng))
            if pair.key not in self._exclude:
                return pair

    def sample_many(self, n: int) -> list[TreePair]:
        return [self.sample() for _ in range(n)]


# --------------------------------------------------------------------------- prompt

PROMPT_FILE = "api_generator.md"
PROMPT_PLACEHOLDERS = (
    "domain",
    "domain_description",
    "context_path",
    "context_details",
    "constraint_path",
    "constraint_details",
    "constraint_rules",
    "constraint_guidance",
    "constraint_json",
    "existing_names",
)
REQUIRED_PLACEHOLDERS = ("context_path", "context_details", "constraint_path", "constraint_rules")


def load_generator_prompt(path: Path | None = None) -> string.Template:
    """Load the generator prompt template ($placeholders; `$$` is a literal dollar) and check
    that it uses only known placeholders and all required ones, so a typo fails at load time."""
    path = Path(path) if path is not None else data_dir("prompts") / PROMPT_FILE
    try:
        template = string.Template(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TreeError(path, "", f"cannot read prompt template: {exc.strerror or exc}") from None
    if not template.is_valid():
        raise TreeError(path, "", "invalid placeholder syntax (write $$ for a literal dollar sign)")
    used = set(template.get_identifiers())
    unknown = sorted(used - set(PROMPT_PLACEHOLDERS))
    if unknown:
        raise TreeError(path, "", f"unknown placeholder(s) {', '.join(unknown)}; known: {', '.join(PROMPT_PLACEHOLDERS)}")
    missing = [p for p in REQUIRED_PLACEHOLDERS if p not in used]
    if missing:
        raise TreeError(path, "", f"template lacks required placeholder(s) {', '.join(missing)}")
    return template


def render_generator_prompt(
    pair: TreePair,
    *,
    existing_names: Sequence[str] = (),
    template: string.Template | None = None,
) -> str:
    """The generator's user message for one pair. `existing_names` lists APIs already made for
    the same context leaf, so the generator steers away from them instead of being rejected."""
    template = template if template is not None else load_generator_prompt()

    def details(leaf: LeafPath) -> str:
        return (
            "\n".join(f"- {name.replace('_', ' ')}: {desc}" for name, desc in zip(leaf.names, leaf.descriptions) if desc) or "- (no notes)"
        )

    rules = describe_constraints(pair.constraints)
    values = {
        "domain": pair.domain,
        "domain_description": pair.domain_description,
        "context_path": pair.context.label,
        "context_details": details(pair.context),
        "constraint_path": pair.constraint.label,
        "constraint_details": details(pair.constraint),
        "constraint_rules": "\n".join(f"- {rule}" for rule in rules) or "- (no extra rules)",
        "constraint_guidance": "\n".join(f"- {note}" for note in pair.constraints.get("guidance", ())) or "- (none)",
        "constraint_json": json.dumps(pair.constraints, ensure_ascii=False, sort_keys=True),
        "existing_names": ", ".join(existing_names) if existing_names else "(none yet)",
    }
    return template.substitute(values)


# --------------------------------------------------------------------------- response schema

_RESPONSE_PARAM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "description"],
    "properties": {
        "type": {"enum": list(JSON_TYPES)},
        "description": {"type": "string", "minLength": 1},
        "enum": {"type": "array", "minItems": 1},
        "items": {"type": "object"},
        "properties": {"type": "object"},
        "required": {"type": "array", "items": {"type": "string"}},
        "pattern": {"type": "string"},
        "format": {"type": "string"},
        "default": {},
    },
}

# What the generator's answer must look like, for structured-output requests
# (vLLM `structured_outputs` / `response_format`). Deliberately non-recursive so grammar
# backends compile it quickly; the full rules run afterwards in api_rules.check_generated_spec.
API_SPEC_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "parameters"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
        "description": {"type": "string", "minLength": 1},
        "parameters": {
            "type": "object",
            "required": ["type", "properties", "required"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "object"},
                "properties": {"type": "object", "additionalProperties": _RESPONSE_PARAM},
                "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
        },
        "returns": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": list(JSON_TYPES)},
                "description": {"type": "string"},
                "properties": {"type": "object"},
                "items": {"type": "object"},
            },
        },
    },
}


def response_schema_for(constraints: Mapping[str, Any]) -> dict[str, Any]:
    """API_SPEC_RESPONSE_SCHEMA tightened by one leaf's constraints (name style, parameter count,
    returns type), so a structured-output backend enforces those while decoding."""
    schema = copy.deepcopy(API_SPEC_RESPONSE_SCHEMA)
    props = schema["properties"]
    naming = constraints.get("naming")
    if naming:
        props["name"]["pattern"] = f"^{NAMING_PATTERNS[naming].pattern}$"
    count = constraints.get("param_count")
    if count:
        params = props["parameters"]["properties"]["properties"]
        params["minProperties"], params["maxProperties"] = count
    output = constraints.get("output_format")
    if output:
        schema["required"] = [*schema["required"], "returns"]
        props["returns"]["properties"]["type"] = {"const": output}
    return schema
