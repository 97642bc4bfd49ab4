"""A tool world with known truth: tools, value pools split train/test, natural user requests
written by the simulator's phrasing (looptool.sim.phrasing, invertible), and label noise of
realistic kinds injected at a known rate and recorded.

Why not the full seed pipeline (synth/): its dialogs carry the whole policy system prompt and
synthesised tool pools, thousands of tokens per sample; a policy that trains in minutes on two CPU
cores cannot read them. The requests here are the simulator's natural users on a fixed small tool
set, single-step samples, so that truth, noise and held-out disjointness are exact.
"""

from __future__ import annotations

import copy
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from looptool.experiment.settings import WorldSettings
from looptool.samples import Provenance, StepSample
from looptool.sim.phrasing import parse_request, render_request

NoiseKind = Literal["wrong_value", "wrong_tool", "missing_required", "extra_call", "missing_call"]
NOISE_KINDS: tuple[str, ...] = ("wrong_value", "wrong_tool", "missing_required", "extra_call", "missing_call")


def _param(kind: str, description: str, enum: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "description": description}
    if enum:
        out["enum"] = enum
    return out


# name -> (description, properties, required, pool per property)
TOOL_TABLE: dict[str, tuple[str, dict[str, dict[str, Any]], list[str], dict[str, str]]] = {
    "get_weather": ("Get the current weather for a city.", {"city": _param("string", "City name")}, ["city"], {"city": "place"}),
    "book_table": (
        "Book a table at a restaurant.",
        {"restaurant": _param("string", "Restaurant name"), "people": _param("integer", "Number of guests")},
        ["restaurant", "people"],
        {"restaurant": "place", "people": "count"},
    ),
    "send_message": (
        "Send a text message to a contact.",
        {"recipient": _param("string", "Contact name"), "text": _param("string", "Message text")},
        ["recipient", "text"],
        {"recipient": "person", "text": "phrase"},
    ),
    "set_alarm": ("Set an alarm.", {"time": _param("string", "Time as HH:MM")}, ["time"], {"time": "clock"}),
    "get_stock_price": (
        "Get the latest price of a stock.",
        {"symbol": _param("string", "Ticker symbol")},
        ["symbol"],
        {"symbol": "ticker"},
    ),
    "play_music": ("Play a song by an artist.", {"artist": _param("string", "Artist name")}, ["artist"], {"artist": "person"}),
    "search_flights": (
        "Search flights between two cities.",
        {"origin": _param("string", "Departure city"), "destination": _param("string", "Arrival city")},
        ["origin", "destination"],
        {"origin": "place", "destination": "place"},
    ),
    "convert_currency": (
        "Convert an amount between currencies.",
        {
            "amount": _param("integer", "Amount to convert"),
            "to_currency": _param("string", "Target currency", ["USD", "EUR", "GBP", "JPY"]),
        },
        ["amount", "to_currency"],
        {"amount": "count", "to_currency": "currency"},
    ),
}
SYLLABLES = (
    "ba be bi bo ka ke ki ko la le li lo ma me mi mo na ne ni no ra re ri ro sa se si so ta te ti to "
    "va ve vi vo za ze zi zo dan mar tel ron vik sol per gan hul bor"
).split()
PHRASE_WORDS = (
    "running late|see you soon|call me back|meeting moved|happy birthday|dinner is ready|on my way|"
    "thanks a lot|landed safely|bring the keys|lunch tomorrow|good luck|car is fixed|check email|"
    "traffic is bad|all done|wait for me|at the door|need help|love you"
).split("|")


def tool_spec(name: str) -> dict[str, Any]:
    description, properties, required, _ = TOOL_TABLE[name]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


class ValuePools:
    """Procedural values, drawn so that no value is ever in both the train and the test split."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: dict[str, set[Any]] = {"train": set(), "test": set()}

    def _make(self, pool: str, split: str) -> Any:
        r = self.rng
        if pool == "place":
            return "".join(r.choice(SYLLABLES) for _ in range(r.randint(2, 3))).capitalize()
        if pool == "person":
            return "".join(r.choice(SYLLABLES) for _ in range(2)).capitalize()
        if pool == "ticker":
            return "".join(r.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") for _ in range(r.randint(3, 4)))
        if pool == "clock":
            return f"{r.randint(0, 23):02d}:{r.choice(range(0, 60, 5)):02d}"
        if pool == "count":
            return r.randint(2, 999)
        if pool == "currency":
            return r.choice(["USD", "EUR", "GBP", "JPY"])  # an enum: shared by both splits on purpose
        if pool == "phrase":
            return r.choice(PHRASE_WORDS)  # short messages: shared, like the enum
        raise KeyError(pool)

    def draw(self, pool: str, split: str) -> Any:
        other = "test" if split == "train" else "train"
        shared = pool in ("currency", "phrase")
        for _ in range(1000):
            value = self._make(pool, split)
            if shared or value not in self.taken[other]:
                self.taken[split].add(value)
                return value
        raise RuntimeError(f"value pool {pool!r} exhausted for split {split!r}")


class NoiseRecord(BaseModel):
    """One corrupted label: what it was, what it became, and how."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    kind: NoiseKind
    clean_calls: list[dict[str, Any]]
    noisy_calls: list[dict[str, Any]]


class World(BaseModel):
    """Everything the experiment needs, as data: the worker and the report read only this."""

    model_config = ConfigDict(extra="forbid")

    seed_set: list[StepSample]
    truth: dict[str, list[dict[str, Any]]]
    noise: list[NoiseRecord]
    warm_slice: list[StepSample]
    test_set: list[StepSample]


def _calls_for(names: list[str], pools: ValuePools, split: str) -> list[dict[str, Any]]:
    calls = []
    for name in names:
        _, properties, _, pool_of = TOOL_TABLE[name]
        calls.append({"name": name, "arguments": {p: pools.draw(pool_of[p], split) for p in properties}})
    return calls


def make_sample(sample_id: str, calls: list[dict[str, Any]], rng: random.Random, split: str) -> StepSample:
    """A one-turn step sample: the simulator's natural user asks for `calls`; the label is `calls`."""
    names = [c["name"] for c in calls]
    distractors = rng.sample(sorted(set(TOOL_TABLE) - set(names)), 2)
    tools = [tool_spec(n) for n in sorted(set(names) | set(distractors))]
    text = render_request(tools, [calls], rng)
    if parse_request(text, tools) is None:  # render_request guarantees it; a broken phrasing must not pass silently
        raise RuntimeError(f"{sample_id}: the request does not read back")
    return StepSample(
        id=sample_id,
        tools=tools,
        messages=[{"role": "user", "content": text}],
        label_calls=copy.deepcopy(calls),
        current_time="2025-03-14 09:00",
        domain="experiment",
        provenance=Provenance(origin="seed"),
    )


def draw_samples(prefix: str, count: int, pools: ValuePools, rng: random.Random, split: str, parallel_share: float) -> list[StepSample]:
    samples = []
    names = sorted(TOOL_TABLE)
    for i in range(count):
        k = 2 if rng.random() < parallel_share else 1
        samples.append(make_sample(f"{prefix}-{i:04d}", _calls_for(rng.sample(names, k), pools, split), rng, split))
    return samples


def corrupt(
    calls: list[dict[str, Any]], kind: str, tools: list[dict[str, Any]], pools: ValuePools, rng: random.Random
) -> list[dict[str, Any]]:
    """A realistic wrong label of the given kind (always different from `calls`)."""
    out = copy.deepcopy(calls)
    target = rng.randrange(len(out))
    call = out[target]
    _, properties, required, pool_of = TOOL_TABLE[call["name"]]
    if kind == "wrong_value":
        param = rng.choice(sorted(call["arguments"]))
        old = call["arguments"][param]
        while call["arguments"][param] == old:
            call["arguments"][param] = pools.draw(pool_of[param], "train")
    elif kind == "wrong_tool":
        offered = sorted(t["function"]["name"] for t in tools if t["function"]["name"] not in {c["name"] for c in out})
        call["name"] = rng.choice(offered)
    elif kind == "missing_required":
        del call["arguments"][rng.choice(required)]
    elif kind == "extra_call":
        offered = sorted(t["function"]["name"] for t in tools if t["function"]["name"] not in {c["name"] for c in out})
        out += _calls_for([rng.choice(offered)], pools, "train")
    elif kind == "missing_call":
        del out[target]
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return out


def noise_kinds_for(calls: list[dict[str, Any]]) -> list[str]:
    """Kinds that apply: a missing call needs two calls (one left), otherwise the label would be prose."""
    return [k for k in NOISE_KINDS if k != "missing_call" or len(calls) > 1]


def inject_noise(
    samples: list[StepSample], rate: float, pools: ValuePools, rng: random.Random
) -> tuple[list[StepSample], list[NoiseRecord]]:
    count = round(len(samples) * rate)
    chosen = set(rng.sample([s.id for s in samples], count))
    out, records = [], []
    for sample in samples:
        if sample.id not in chosen:
            out.append(sample)
            continue
        kind = rng.choice(noise_kinds_for(sample.label_calls))
        noisy = corrupt(sample.label_calls, kind, sample.tools, pools, rng)
        records.append(NoiseRecord(sample_id=sample.id, kind=kind, clean_calls=sample.label_calls, noisy_calls=noisy))
        out.append(sample.model_copy(update={"label_calls": noisy}))
    return out, records


def build_world(settings: WorldSettings) -> World:
    rng = random.Random(f"experiment-world|{settings.seed}")
    pools = ValuePools(random.Random(f"experiment-values|{settings.seed}"))
    clean_seed = draw_samples("seed", settings.seed_set_size, pools, rng, "train", settings.parallel_share)
    warm = draw_samples("warm", settings.warm_slice_size, pools, rng, "train", settings.parallel_share)
    test = draw_samples("test", settings.test_size, pools, rng, "test", settings.parallel_share)
    noisy_seed, noise = inject_noise(clean_seed, settings.noise_rate, pools, rng)
    truth = {s.id: s.label_calls for s in clean_seed}
    return World(seed_set=noisy_seed, truth=truth, noise=noise, warm_slice=warm, test_set=test)


def split_values(samples: list[StepSample]) -> set[str]:
    """Every non-shared argument value in the samples' truth (for the disjointness check)."""
    out = set()
    for sample in samples:
        for call in sample.label_calls:
            _, _, _, pool_of = TOOL_TABLE[call["name"]]
            for param, value in call["arguments"].items():
                pool = pool_of.get(param, "foreign")  # a wrong_tool label keeps the other tool's arguments
                if pool not in ("currency", "phrase"):
                    out.add(f"{pool}={value}")
    return out


def generator_pools(world: World, seed: str) -> ValuePools:
    """Fresh values for EDDE variants that can never be a held-out value."""
    pools = ValuePools(random.Random(seed))
    for sample in world.test_set:
        for call in sample.label_calls:
            pools.taken["test"].update(call["arguments"].values())
    return pools


def base_id(sample_id: str) -> str:
    """The world sample an id stands for (Error-Seed Repetition copies are `<id>~rep<n>`)."""
    return sample_id.split("~rep", 1)[0]
