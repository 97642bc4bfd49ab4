"""A hand-made iteration outcome for composition tests (tests only): 20 samples in D_j, known
probe results and verdicts, 8 verified EDDE samples and 40 never-trained seed samples.

    s00..s11  mastered, perplexity 3.0, 2.9, ... 1.9 (s00 highest); D_HPPL = s00..s02 (cutoff 2.8)
    s12..s14  PRED_WRONG          s15, s16  LABEL_WRONG (prediction = the right call)
    s17       BOTH_WRONG          s18       BOTH_CORRECT, perplexity 2.95 (>= cutoff: kept in D_HPPL)
    s19       PRED_WRONG (malformed prediction)
"""

from __future__ import annotations

from looptool.samples import Provenance, StepSample

TOOLS = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def _sample(sample_id: str, city: str, origin: str = "seed") -> StepSample:
    return StepSample(
        id=sample_id,
        tools=TOOLS,
        messages=[{"role": "user", "content": f"Could you get the weather with the city {city}?"}],
        label_calls=[{"name": "get_weather", "arguments": {"city": city}}],
        provenance=Provenance(origin=origin),
    )


def outcome() -> dict:
    current = [_sample(f"s{i:02d}", f"city{i}") for i in range(20)]
    probes = {}
    for i, sample in enumerate(current):
        matched = i < 12
        ppl = round(3.0 - 0.1 * i, 2) if matched else 1.5
        pred = sample.label_calls if matched else [{"name": "get_weather", "arguments": {"city": f"wrong{i}"}}]
        probes[sample.id] = {
            "id": sample.id,
            "matched": matched,
            "ppl": ppl,
            "pred_calls": pred,
            "prediction": "<tool_call>x</tool_call>",
            "format_ok": i != 19,
        }
    probes["s18"].update(ppl=2.95, pred_calls=[{"name": "get_weather", "arguments": {"city": "city18 "}}])
    verdicts = {
        f"s{i}": {"id": f"s{i}", "verdict": "PRED_WRONG", "analysis": "the incorrect answer has the wrong city"} for i in (12, 13, 14, 19)
    }
    for i in (15, 16):
        verdicts[f"s{i}"] = {"id": f"s{i}", "verdict": "LABEL_WRONG", "analysis": "the incorrect answer has the wrong city"}
        probes[f"s{i}"]["pred_calls"] = [{"name": "get_weather", "arguments": {"city": f"fixed{i}"}}]
    verdicts["s17"] = {"id": "s17", "verdict": "BOTH_WRONG", "analysis": ""}
    verdicts["s18"] = {"id": "s18", "verdict": "BOTH_CORRECT", "analysis": ""}
    expansions = [_sample(f"s12-i01e{n}", f"new{n}", origin="edde") for n in range(8)]
    unused = [_sample(f"u{i:02d}", f"seed{i}") for i in range(40)]
    return {
        "current": current,
        "probes": probes,
        "verdicts": verdicts,
        "expansions": expansions,
        "hppl_ids": {"s00", "s01", "s02"},
        "hppl_cutoff": 2.8,
        "unused_seed": unused,
    }


ERROR_SEEDS = {"s12", "s13", "s14", "s15", "s16", "s19"}
PAPER_HPPL = {"s00", "s01", "s02", "s18"}
MASTERED = {f"s{i:02d}" for i in range(12)}
