"""GCP, greedy capability probing (paper §4.2): the new policy answers every sample of D_j.

Greedy (temperature 0, n = 1) through the endpoint client, the same paper-format prompt the
trainer saw, ToolMatch in reward mode against the label, and the perplexity of the policy's own
output from its token logprobs (exp of the mean negative logprob over generated tokens, reasoning
included, as the reference code computes it). Mastered samples with high perplexity are kept as
D_HPPL: solved, but not confidently.
"""

from __future__ import annotations

from typing import Any

from looptool.llm.client import LLMClient
from looptool.loop.config import ProbeSettings
from looptool.loop.iteration import PROBE, IterationData
from looptool.loop.records import ProbeResult
from looptool.loop.ppl import high_ppl_ids, perplexity
from looptool.roles.caller import RoleCaller
from looptool.samples import StepSample
from looptool.tools.match import toolmatch
from looptool.tools.parse import parse_tool_calls
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, atomic_write_json, iter_jsonl
from looptool.tools.render import render_paper_messages
from looptool.ui import console
from looptool.units import run_units

STAGE = PROBE


async def probe_sample(caller: RoleCaller, sample: StepSample, settings: ProbeSettings) -> dict[str, Any]:
    messages = render_paper_messages(sample.tools, sample.messages, sample.current_time)
    answer = await caller.call("policy", "answer", messages=messages, temperature=0.0, max_tokens=settings.max_tokens, logprobs=True)
    choice = answer.result.first
    text = choice.text
    parsed = parse_tool_calls(text)
    match = toolmatch(text, sample.label_calls, sample.tools, mode="reward")
    ppl = perplexity(t.logprob for t in choice.logprobs) if choice.logprobs else None
    return {
        "endpoint": answer.result.endpoint,
        "model": answer.result.model,
        "prediction": text,
        "pred_calls": [c.to_dict() for c in parsed.calls],
        "format_ok": parsed.ok,
        "matched": match.matched,
        "reasons": match.reasons[:8],
        "ppl": ppl,
        "tokens": answer.result.usage.completion_tokens,
        "finish_reason": choice.finish_reason,
    }


def probe_target(client: LLMClient) -> str:
    """Which endpoint(s) and model answer the policy role, for the log line before probing."""
    return ", ".join(f"endpoint {e.name} (model {e.model!r} at {e.base_url})" for e in client.role_endpoints("policy"))


def probe_counts(results: list[dict[str, Any]], hppl: set[str], cutoff: float | None) -> dict[str, Any]:
    mastered = sum(1 for r in results if r["matched"])
    ppls = [r["ppl"] for r in results if r.get("ppl") is not None]
    return {
        "probed": len(results),
        "mastered": mastered,
        "mismatched": len(results) - mastered,
        "accuracy": round(mastered / len(results), 4) if results else 0.0,
        "malformed": sum(1 for r in results if not r["format_ok"]),
        "high_ppl": len(hppl),
        "high_ppl_cutoff": round(cutoff, 4) if cutoff is not None else None,
        "mean_ppl": round(sum(ppls) / len(ppls), 4) if ppls else None,
    }


class ProbeStage(Stage):
    """GCP over D_i against the checkpoint just trained: one result per sample (matched or not,
    the prediction, its perplexity), then the high-perplexity cut."""

    def __init__(self, data: IterationData, caller: RoleCaller, client: LLMClient, fixed_endpoint: bool) -> None:
        self.data = data
        self.caller = caller
        self.client = client
        self.fixed_endpoint = fixed_endpoint
        self.key = data.key(STAGE)
        self.title = f"iteration {data.iteration}: GCP probe"

    async def run(self, ctx: StageContext) -> StageOutcome:
        data, settings = self.data, self.data.settings.probe
        samples = data.dataset()

        async def work(sample_id: str, sample: StepSample) -> dict[str, Any]:
            return ProbeResult.checked(await probe_sample(self.caller, sample, settings))

        console.print(f"iteration {data.iteration}: probing {probe_target(self.client)}")
        out_path = ctx.store.path(self.key, "results.jsonl")
        with JsonlWriter(out_path) as out, JsonlWriter(ctx.store.path(self.key, "errors.jsonl")) as errors:
            await run_units(
                ((s.id, s) for s in samples),
                work,
                out=out,
                errors=errors,
                concurrency=settings.concurrency,
                label=f"iteration {data.iteration}: probe",
                total=len(samples),
            )
        results = list(iter_jsonl(out_path))
        hppl, cutoff = high_ppl_ids(results, settings)
        atomic_write_json(ctx.store.path(self.key, "high_ppl.json"), {"ids": sorted(hppl), "cutoff": cutoff})
        return StageOutcome(counts={**probe_counts(results, hppl, cutoff), "fixed_endpoint": self.fixed_endpoint})
