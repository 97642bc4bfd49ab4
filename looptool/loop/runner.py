"""The iteration runner (paper Algorithm 1): train -> serve -> probe -> judge -> expand -> compose.

Every stage's output is on disk and recorded in the manifest before the next starts, so a kill at
any point resumes at the right stage: finished stages are skipped, an interrupted one resumes from
its output file (per-unit results), the trainer resumes from its own checkpoints. The policy is
served only while a stage needs it, under a name that includes the iteration, so cached answers
of an older checkpoint are never reused.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from looptool.config.load import LoadedConfig
from looptool.errors import ConfigError, StageError
from looptool.llm.client import LLMClient
from looptool.loop import compose as composer
from looptool.loop import expand as edde
from looptool.loop import judge as jglv
from looptool.loop import probe as gcp
from looptool.loop.report import write_report
from looptool.synth.quality import expand_quality, judge_quality, write_quality_report
from looptool.roles.caller import RoleCaller
from looptool.samples import StepSample
from looptool.session import EngineSession
from looptool.store import JsonlWriter, RunStore, atomic_write_json, iter_jsonl, iteration_key, read_json
from looptool.train.retention import prune_iteration_models
from looptool.ui import console, print_stage_summary
from looptool.stages import FunctionStage, Stage, StageContext, StageOutcome, run_stage
from looptool.units import run_units

SEED_SAMPLES = "seed/samples/samples.jsonl"
Trainer = Callable[..., Awaitable[Any]]


def read_samples(path: Path) -> list[StepSample]:
    return [StepSample.model_validate(r) for r in iter_jsonl(path)]


def write_samples(path: Path, samples: list[StepSample]) -> None:
    tmp = path.with_suffix(path.suffix + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(sample.model_dump_json() + "\n")
    tmp.replace(path)


def policy_is_served_by_loop(loaded: LoadedConfig) -> str | None:
    """The policy endpoint the loop serves from each checkpoint (launch vllm, model "policy")."""
    for name in loaded.config.roles["policy"].endpoints:
        endpoint = loaded.config.endpoints[name]
        if endpoint.launch == "vllm" and endpoint.vllm is not None and endpoint.vllm.model == "policy":
            return name
    return None


def check_probe_target(loaded: LoadedConfig) -> None:
    """GCP must probe the checkpoint the loop just trained. A policy role that points elsewhere
    would silently measure a fixed model every iteration: a configuration error, unless the user
    asks for exactly that with loop.probe.fixed_endpoint = true."""
    if policy_is_served_by_loop(loaded) is not None or loaded.config.loop.probe.fixed_endpoint:
        return
    endpoints = ", ".join(loaded.config.roles["policy"].endpoints)
    raise ConfigError(
        loaded.source, "roles.policy",
        f"points at {endpoints}, which does not serve the loop's checkpoints, so GCP would probe a fixed model. "
        'Point it at an endpoint with launch = "vllm" and vllm.model = "policy", or set loop.probe.fixed_endpoint = true '
        "to probe a fixed model on purpose",
    )


class TrainStage(Stage):
    """Train the policy of iteration i on D_i; a skipped stage returns the recorded model."""

    def __init__(self, runner: LoopRunner, iteration: int) -> None:
        self.runner = runner
        self.iteration = iteration
        self.key = iteration_key(iteration, "train")
        self.title = f"iteration {iteration}: training"

    async def run(self, ctx: StageContext) -> StageOutcome:
        runner = self.runner
        init = await runner.init_model(self.iteration)
        settings = runner.config.train.for_iteration(self.iteration, runner.loaded.base_dir)
        result = await runner.trainer(settings, runner.dataset_path(self.iteration), init, ctx.store.stage_dir(self.key), console=console)
        return StageOutcome(counts=result.stage_counts(), info={"model_dir": str(result.model_dir), "metrics": dict(result.metrics)},
                            value=Path(result.model_dir))

    def skipped(self, info: dict[str, Any], ctx: StageContext) -> Path:
        return Path(info["model_dir"])


class LoopRunner:
    def __init__(self, loaded: LoadedConfig, store: RunStore, session: EngineSession, trainer: Trainer | None = None) -> None:
        check_probe_target(loaded)
        self.loaded = loaded
        self.config = loaded.config
        self.settings = loaded.config.loop
        self.store = store
        self.session = session
        if trainer is None:
            from looptool.train.runner import run_training

            trainer = run_training
        self.trainer = trainer
        self.iteration_stats: list[dict[str, Any]] = []

    # -- helpers --------------------------------------------------------------------------------
    @property
    def caller(self) -> RoleCaller:
        assert self.session.caller is not None
        return self.session.caller

    def key(self, iteration: int, stage: str) -> str:
        return iteration_key(iteration, stage)

    def dataset_path(self, iteration: int) -> Path:
        return self.store.path(self.key(iteration, "dataset"), "dataset.jsonl")

    async def stage(self, key: str, title: str, body: Callable[[], Awaitable[dict[str, Any]]], client: LLMClient | None = None) -> dict[str, Any]:
        counts: dict[str, Any] = await run_stage(FunctionStage(key, title, body), StageContext(self.store, client or self.session.client))
        return counts

    # -- D_1 ------------------------------------------------------------------------------------
    def seed_pool(self) -> list[StepSample]:
        path = self.store.root / SEED_SAMPLES
        if not path.is_file():
            raise StageError(f"{path} is missing: seed construction has not finished")
        return read_samples(path)

    async def first_dataset(self) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            pool = self.seed_pool()
            if not pool:
                raise StageError("the seed set is empty: seed construction verified no dialog; see seed/verify/verdicts.jsonl for why")
            size, later_size, reserve = composer.first_iteration_sizes(len(pool), self.settings.compose, self.config.run.iterations)
            rng = random.Random(f"{self.config.run.seed}|D1")
            order = list(pool)
            rng.shuffle(order)
            chosen = [composer.with_bucket(s, "SEED_NEW") for s in sorted(order[:size], key=lambda s: s.id)]
            write_samples(self.dataset_path(1), chosen)
            return {"size": len(chosen), "seed_pool": len(pool), "seed_reserved": reserve, "later_size": later_size,
                    "D_SEED_NEW": len(chosen), "share_SEED_NEW": 1.0}

        return await self.stage(self.key(1, "dataset"), "D_1", body)

    # -- training -------------------------------------------------------------------------------
    async def init_model(self, iteration: int) -> Path:
        if iteration > 1:
            info = self.store.stage_info(self.key(iteration - 1, "train"))
            if info is None:
                raise StageError(f"iteration {iteration - 1} has no trained model")
            return Path(info["model_dir"])
        name = self.config.policy.init_model
        if name in ("smollm2", "tiny"):
            from looptool.models import ensure_model

            return await anyio.to_thread.run_sync(ensure_model, name)
        return self.loaded.resolve_path(name)

    async def train(self, iteration: int) -> Path:
        model_dir: Path = await run_stage(TrainStage(self, iteration), StageContext(self.store))
        return model_dir

    # -- serving the policy ----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def policy(self, iteration: int, model_dir: Path) -> AsyncIterator[tuple[RoleCaller, LLMClient]]:
        name = policy_is_served_by_loop(self.loaded)
        if name is None:
            assert self.session.client is not None
            yield self.caller, self.session.client
            return
        from looptool.llm.launch import server_spec
        from looptool.llm.vllm_server import VLLMServer

        endpoint = self.config.endpoints[name]
        assert endpoint.vllm is not None
        served = f"{endpoint.model}-iter{iteration:02d}"
        spec = server_spec(endpoint.vllm, model_dir, served, self.loaded.source, f"endpoints.{name}.vllm")
        logs = self.store.stage_dir("logs")
        async with VLLMServer(spec, log_path=logs / f"vllm-policy-iter{iteration:02d}.log", pid_file=logs / "vllm-policy.pid") as server:
            config = endpoint.model_copy(update={"model": served, "base_url": server.base_url, "launch": "none"})
            shared = self.session.client.cache if self.session.client is not None else None
            client = LLMClient.from_endpoint_configs(
                {name: config}, {"policy": [name]}, config=self.config.client,
                cache_path=self.store.root / "cache" / "requests.sqlite", cache=shared,
            )
            try:
                yield RoleCaller(client, self.loaded), client
            finally:
                with anyio.CancelScope(shield=True):
                    await client.aclose(close_cache=shared is None)

    # -- the four data stages ---------------------------------------------------------------------
    async def probe(self, iteration: int, caller: RoleCaller, client: LLMClient) -> dict[str, Any]:
        key = self.key(iteration, gcp.STAGE)
        samples = read_samples(self.dataset_path(iteration))

        async def body() -> dict[str, Any]:
            async def work(sample_id: str, sample: StepSample) -> dict[str, Any]:
                return await gcp.probe_sample(caller, sample, self.settings.probe)

            console.print(f"iteration {iteration}: probing {gcp.probe_target(client)}")

            out_path = self.store.path(key, "results.jsonl")
            with JsonlWriter(out_path) as out, JsonlWriter(self.store.path(key, "errors.jsonl")) as errors:
                await run_units(((s.id, s) for s in samples), work, out=out, errors=errors, concurrency=self.settings.probe.concurrency, label=f"iteration {iteration}: probe", total=len(samples))
            results = list(iter_jsonl(out_path))
            hppl, cutoff = gcp.high_ppl_ids(results, self.settings.probe)
            atomic_write_json(self.store.path(key, "high_ppl.json"), {"ids": sorted(hppl), "cutoff": cutoff})
            return {**gcp.probe_counts(results, hppl, cutoff), "fixed_endpoint": policy_is_served_by_loop(self.loaded) is None}

        return await self.stage(key, f"iteration {iteration}: GCP probe", body, client)

    def probes(self, iteration: int) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in iter_jsonl(self.store.path(self.key(iteration, gcp.STAGE), "results.jsonl"))}

    async def judge(self, iteration: int) -> dict[str, Any]:
        key = self.key(iteration, jglv.STAGE)
        samples = {s.id: s for s in read_samples(self.dataset_path(iteration))}
        probes = self.probes(iteration)
        mismatched = [(i, samples[i]) for i in sorted(samples) if not probes[i]["matched"]]

        async def body() -> dict[str, Any]:
            async def work(sample_id: str, sample: StepSample) -> dict[str, Any]:
                if self.settings.ablations.without_jglv:
                    return {"verdict": "PRED_WRONG", "orders": [], "analysis": "", "ablation": "without_jglv"}
                judge = self.settings.judge
                return await jglv.judge_sample(self.caller, sample, probes[sample_id], judge.order, self.config.run.seed,
                                               self.config.synth.verify, judge.guard, judge.blocked_fix)

            out_path = self.store.path(key, "verdicts.jsonl")
            with JsonlWriter(out_path) as out, JsonlWriter(self.store.path(key, "errors.jsonl")) as errors:
                await run_units(mismatched, work, out=out, errors=errors, concurrency=self.settings.judge.concurrency, label=f"iteration {iteration}: JGLV")
            counts: dict[str, Any] = {"judged": len(mismatched)}
            verdicts = list(iter_jsonl(out_path))
            for name in jglv.VERDICTS:
                counts[name] = sum(1 for v in verdicts if v["verdict"] == name)
            counts["order_disagreements"] = sum(1 for v in verdicts if jglv.orders_disagree(v))
            counts.update(jglv.guard_counts(verdicts))
            write_quality_report(self.store, key, judge_quality(verdicts, samples))
            return counts

        return await self.stage(key, f"iteration {iteration}: JGLV", body)

    def verdicts(self, iteration: int) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in iter_jsonl(self.store.path(self.key(iteration, jglv.STAGE), "verdicts.jsonl"))}

    async def expand(self, iteration: int) -> dict[str, Any]:
        key = self.key(iteration, edde.STAGE)
        current = read_samples(self.dataset_path(iteration))
        probes = self.probes(iteration)
        verdicts = self.verdicts(iteration)
        seeds = composer.error_seeds(current, probes, verdicts, iteration)

        async def body() -> dict[str, Any]:
            out_path = self.store.path(key, "expansions.jsonl")
            ablations = self.settings.ablations

            async def work(seed_id: str, seed: StepSample) -> dict[str, Any]:
                if not ablations.edde_runs:  # the D_EE ablations: compose fills D_EE's place, no generator
                    return {"verified": [], "rejected": [], "ablation": ablations.active}
                return await edde.expand_seed(self.caller, seed, verdicts[seed_id], probes[seed_id], self.settings.expand, iteration,
                                              self.config.run.seed, self.config.synth.verify)

            with JsonlWriter(out_path) as out, JsonlWriter(self.store.path(key, "errors.jsonl")) as errors:
                summary = await run_units(((s.id, s) for s in seeds), work, out=out, errors=errors, concurrency=self.settings.expand.concurrency, label=f"iteration {iteration}: EDDE", total=len(seeds))
            records = list(iter_jsonl(out_path))
            index = edde.pool_index(current + self.seed_pool(), self.settings.expand.near_duplicate_threshold)
            accepted, dropped = edde.remove_near_duplicates(records, index)
            write_samples(self.store.path(key, "accepted.jsonl"), accepted)
            rejected = [x["reason"] for r in records for x in r["rejected"]] + ["near_duplicate"] * len(dropped)
            generated = len(accepted) + len(rejected)
            counts: dict[str, Any] = {"error_seeds": len(seeds), "generated": generated, "accepted": len(accepted),
                                      "pass_rate": round(len(accepted) / generated, 4) if generated else 0.0,
                                      "llm_failures": summary.failed}
            for reason in sorted(set(rejected)):
                counts[f"rejected[{reason}]"] = rejected.count(reason)
            write_quality_report(self.store, key, expand_quality(records, dropped, len(seeds)))
            return counts

        return await self.stage(key, f"iteration {iteration}: EDDE", body)

    async def compose(self, iteration: int) -> dict[str, Any]:
        key = self.key(iteration, "compose")

        async def body() -> dict[str, Any]:
            current = read_samples(self.dataset_path(iteration))
            used: set[str] = set()
            for j in range(1, iteration + 1):
                used.update(r["id"] for r in iter_jsonl(self.dataset_path(j)))
            unused = [s for s in self.seed_pool() if s.id not in used]
            hppl = read_json(self.store.path(self.key(iteration, gcp.STAGE), "high_ppl.json"), default={"ids": [], "cutoff": None})
            expansions = read_samples(self.store.path(self.key(iteration, edde.STAGE), "accepted.jsonl"))
            target = self.settings.compose.dataset_size or len(read_samples(self.dataset_path(1)))
            dataset, composition = composer.compose(
                current=current, probes=self.probes(iteration), verdicts=self.verdicts(iteration), expansions=expansions,
                hppl_ids=set(hppl["ids"]), hppl_cutoff=hppl["cutoff"], unused_seed=unused, next_iteration=iteration + 1,
                target_size=target, settings=self.settings.compose, ablations=self.settings.ablations, rng_seed=self.config.run.seed,
                expand_k=self.settings.expand.k,
            )
            write_samples(self.dataset_path(iteration + 1), dataset)
            atomic_write_json(self.store.path(key, "composition.json"), composition)
            self.store.mark_finished(self.key(iteration + 1, "dataset"), counts={k: v for k, v in composition.items() if k.startswith(("D_", "share_", "size"))})
            return composition

        return await self.stage(key, f"iteration {iteration}: composition of D_{iteration + 1}", body)

    async def evaluate(self, iteration: int, client: LLMClient) -> dict[str, Any] | None:
        """BFCL and ACEBench after the iteration (each optional); each stage records its own headline
        in the manifest. Returns BFCL's headline (None when BFCL is off)."""
        headline = None
        if self.settings.eval.bfcl_each_iteration:
            from looptool.eval.stage import run_bfcl_stage

            headline = await run_bfcl_stage(self.store, client, iteration, self.settings.eval.bfcl)
            print_stage_summary(f"iteration {iteration}: BFCL", {k: v for k, v in headline.items()})
        if self.settings.eval.acebench_each_iteration:
            from looptool.eval.acebench_stage import run_acebench_stage

            ace = await run_acebench_stage(self.store, client, iteration, self.settings.eval.acebench, user_client=self.session.client)
            print_stage_summary(f"iteration {iteration}: ACEBench", {k: v for k, v in ace.items() if k in ("overall", "strict_overall")})
        return headline

    def needs_policy(self, iteration: int) -> bool:
        from looptool.eval.acebench_stage import STAGE as ACEBENCH_STAGE
        from looptool.eval.stage import STAGE as EVAL_STAGE

        stages = [gcp.STAGE] + ([EVAL_STAGE] if self.settings.eval.bfcl_each_iteration else [])
        stages += [ACEBENCH_STAGE] if self.settings.eval.acebench_each_iteration else []
        return any(not self.store.is_finished(self.key(iteration, s)) for s in stages)

    # -- the loop -------------------------------------------------------------------------------
    async def run(self) -> list[dict[str, Any]]:
        await self.first_dataset()
        for iteration in range(1, self.config.run.iterations + 1):
            self.store.mark_progress(f"iteration {iteration}")
            model_dir = await self.train(iteration)
            prune_iteration_models(self.store.root, iteration, self.config.train, console)
            if self.needs_policy(iteration):
                async with self.policy(iteration, model_dir) as (caller, client):
                    await self.probe(iteration, caller, client)
                    await self.evaluate(iteration, client)
            await self.judge(iteration)
            await self.expand(iteration)
            await self.compose(iteration)
            self.iteration_stats = write_report(self.store, self.config.run.iterations)
        self.store.mark_progress("finished")
        return self.iteration_stats
