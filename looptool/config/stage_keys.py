"""Which config keys shape which stage's output: the table a resumed run is checked against.

A run directory holds outputs computed under one config. When the config changes between a run
and its resume, outputs of stages that already ran would silently mix two configs (the rest of
the run skips them as finished). `config_conflicts` finds every changed key whose stages have
already started; the resume is refused with that diff unless the user passes
`--allow-config-change`.

The table is explicit on purpose. Keys are dotted paths; `*` stands for a name the user picks (an
endpoint, a role). A key is classified by its longest matching entry, so a whole section can map
to its stage (a new key there is then treated as shaping that stage: refused, never ignored).
`OPERATIONAL` (changing it cannot change any output: concurrency, timeouts, URLs) is allowed only
for single leaf keys, and a test walks the config model to check that every leaf key resolves,
so a new key cannot escape the check silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

OPERATIONAL = "operational"
EVERY_STAGE = "every stage"
BY_ENDPOINT = "stages of the roles using this endpoint"
BY_ROLE = "stages of this role"

SEED_STAGES = ("apis", "pool", "dialogs", "verify", "samples")
LLM_STAGES = ("apis", "dialogs", "verify", "judge", "expand")

# Stage names are the last part of a manifest key: seed/<name>, iter_XX/<name>.
ROLE_STAGES: dict[str, tuple[str, ...]] = {
    "generator": ("apis", "expand"),
    "planner": ("dialogs",),
    "user": ("dialogs",),
    "assistant": ("dialogs",),
    "tool": ("dialogs",),
    "judge": ("verify", "judge", "expand"),
    "policy": ("probe", "eval_bfcl"),
}

STAGE_KEYS: dict[str, tuple[str, ...] | str] = {
    "run.name": OPERATIONAL,
    "run.dir": OPERATIONAL,
    "run.iterations": OPERATIONAL,  # more iterations are stages not yet run
    "run.seed": EVERY_STAGE,
    "client.cache": OPERATIONAL,
    "client.cache_sampled": OPERATIONAL,
    "client.retry.max_attempts": OPERATIONAL,
    "client.retry.backoff_initial_s": OPERATIONAL,
    "client.retry.backoff_max_s": OPERATIONAL,
    "client.retry.retry_after_max_s": OPERATIONAL,
    "client.retry.endpoint_down_cooldown_s": OPERATIONAL,
    "client.retry.unreachable_grace_s": OPERATIONAL,
    "client.invalid_answer_retries": LLM_STAGES,
    "client.reask_temperature": LLM_STAGES,
    "endpoints.*": BY_ENDPOINT,
    "endpoints.*.base_url": OPERATIONAL,
    "endpoints.*.api_key_env": OPERATIONAL,
    "endpoints.*.max_concurrency": OPERATIONAL,
    "endpoints.*.timeout_s": OPERATIONAL,
    "endpoints.*.connect_timeout_s": OPERATIONAL,
    "endpoints.*.http_transport": OPERATIONAL,
    "endpoints.*.vllm.kv_cache_bytes": OPERATIONAL,
    "endpoints.*.vllm.enforce_eager": OPERATIONAL,
    "endpoints.*.vllm.reserved_cpus": OPERATIONAL,
    "endpoints.*.vllm.startup_timeout_s": OPERATIONAL,
    "endpoints.*.sim.latency_ms": OPERATIONAL,
    "roles.*": BY_ROLE,
    "policy.init_model": ("train",),
    "policy.tokenizer_runtime": ("samples",),
    "synth.domains": ("apis",),
    "synth.apis": ("apis",),
    "synth.apis.concurrency": OPERATIONAL,
    "synth.pool": ("pool",),
    "synth.dialogs": ("dialogs",),
    "synth.dialogs.concurrency": OPERATIONAL,
    "synth.verify": ("verify",),
    "synth.verify.concurrency": OPERATIONAL,
    "synth.verify.grounding": ("verify", "judge", "expand"),  # one rule tier: seeds, the JGLV guard, EDDE
    "synth.verify.structure": ("verify", "judge", "expand"),
    "synth.samples": ("samples",),
    "train": ("train",),
    "train.log_tail_lines": OPERATIONAL,
    "train.keep_trainer_checkpoints": OPERATIONAL,
    "train.keep_iteration_models": OPERATIONAL,
    "train.sft.save_freq": OPERATIONAL,
    "loop.probe": ("probe",),
    "loop.probe.concurrency": OPERATIONAL,
    "loop.judge": ("judge",),
    "loop.judge.concurrency": OPERATIONAL,
    "loop.expand": ("expand",),
    "loop.expand.concurrency": OPERATIONAL,
    "loop.compose": ("compose",),
    "loop.compose.first_iteration_size": ("dataset",),
    "loop.ablations.without_high_ppl": ("compose",),
    "loop.ablations.high_ppl_replace": ("expand", "compose"),
    "loop.ablations.without_jglv": ("judge", "expand", "compose"),
    "loop.ablations.remove_edde": ("expand", "compose"),
    "loop.ablations.error_seed_repetition": ("expand", "compose"),
    "loop.eval": ("eval_bfcl",),
    "loop.eval.bfcl.concurrency": OPERATIONAL,
    "loop.eval.bfcl.python": OPERATIONAL,
}

_NAMED = ("endpoints", "roles")  # sections whose second part is a user-chosen name


def table_entry(path: str) -> tuple[str, tuple[str, ...] | str] | None:
    """(entry, stages) of the longest table entry matching a dotted config path."""
    parts = path.split(".")
    if parts[0] in _NAMED and len(parts) > 1:
        parts = [parts[0], "*", *parts[2:]]
    for end in range(len(parts), 0, -1):
        entry = ".".join(parts[:end])
        if entry in STAGE_KEYS:
            return entry, STAGE_KEYS[entry]
    return None


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf (dotted path, value) pairs of a resolved config; lists are leaves."""
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from flatten(sub, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


_MISSING = object()


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    before, after = dict(flatten(old)), dict(flatten(new))
    out = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a != b:
            out[key] = (a, b)
    return out


def stages_of(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...] | str:
    """Stage names the key shapes, OPERATIONAL, or EVERY_STAGE (an unknown key counts as every stage)."""
    found = table_entry(path)
    if found is None:
        return EVERY_STAGE
    _, stages = found
    parts = path.split(".")
    if stages == BY_ENDPOINT:
        endpoint = parts[1]
        roles = {
            role
            for config in (old, new)
            for role, role_config in (config.get("roles") or {}).items()
            if endpoint in ((role_config or {}).get("endpoints") or [])
        }
        return tuple(sorted({s for role in roles for s in ROLE_STAGES.get(role, ())}))
    if stages == BY_ROLE:
        return ROLE_STAGES.get(parts[1], ())
    return stages


def show(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def config_conflicts(old: Mapping[str, Any], new: Mapping[str, Any], started: set[str]) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """All changed keys, and one line per changed key that shapes a stage already started."""
    changes = changed_keys(old, new)
    lines = []
    for key, (a, b) in changes.items():
        stages = stages_of(key, old, new)
        if stages == OPERATIONAL:
            continue
        hit = sorted(s for s in started if stages == EVERY_STAGE or s.rsplit("/", 1)[-1] in stages)
        if hit:
            shown = ", ".join(hit[:4]) + (f" and {len(hit) - 4} more" if len(hit) > 4 else "")
            lines.append(f"{key}: {show(a)} -> {show(b)} (shapes {shown}, already run)")
    return changes, lines


def jsonable_changes(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {k: [None if a is _MISSING else a, None if b is _MISSING else b] for k, (a, b) in changes.items()}
