"""The iteration runner (paper Algorithm 1): train -> serve -> probe -> judge -> expand -> compose.

Every stage's output is on disk and recorded in the manifest before the next starts, so a kill at
any point resumes at the right stage: finished stages are skipped, an interrupted one resumes from
its output file (per-unit results), the trainer resumes from its own checkpoints. The policy is
served only while a stage needs it, under a name that includes the iteration, so cached answers
of an older checkpoint are never reused.
"""

from __future__ import annotations

import contextlib
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
from looptool.loop.iteration import SEED_SAMPLES, IterationData, read_samples, write_samples
from looptool.loop.report import write_report
from looptool.roles.caller import RoleCaller
from looptool.samples import StepSample
from looptool.session import EngineSession
from looptool.store import RunStore, iteration_key
from looptool.train.retention import prune_iteration_models
from looptool.ui import console, print_stage_summary
from looptool.stages import Stage, StageContext, StageOutcome, run_stage

Trainer = Callable[..., Awaitable[Any]]

# SEED_SAMPLES, read_samples and write_samples live in loop/iteration.py; named here for callers of old.
__all__ = [
    "SEED_SAMPLES",
    "LoopRunner",
    "TrainStage",
    "Trainer",
    "check_probe_target",
    "policy_is_served_by_loop",
    "read_samples",
    "write_samples",
]


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
        loaded.source,
        "roles.policy",
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
        return StageOutcome(
            counts=result.stage_counts(),
            info={"model_dir": str(result.model_dir), "metrics": dict(result.metrics)},
            value=Path(result.model_dir),
        )

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

    def data(self, iteration: int) -> IterationData:
        return IterationData(self.loaded, self.store, iteration)

    async def run_stage(self, stage: Stage, client: LLMClient | None = None) -> dict[str, Any]:
        """Run one counts-returning stage, metering `client` (default: the session's)."""
        counts: dict[str, Any] = await run_stage(stage, StageContext(self.store, client or self.session.client))
        return counts

    # -- D_1 ------------------------------------------------------------------------------------
    def seed_pool(self) -> list[StepSample]:
        return self.data(1).seed_pool()

    async def first_dataset(self) -> dict[str, Any]:
        return await self.run_stage(composer.FirstDatasetStage(self.data(1)))

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
                {name: config},
                {"policy": [name]},
                config=self.config.client,
                cache_path=self.store.root / "cache" / "requests.sqlite",
                cache=shared,
            )
            try:
                yield RoleCaller(client, self.loaded), client
            finally:
                with anyio.CancelScope(shield=True):
                    await client.aclose(close_cache=shared is None)

    # -- the four data stages (their bodies, counts and ablation switches live in their modules) --
    async def probe(self, iteration: int, caller: RoleCaller, client: LLMClient) -> dict[str, Any]:
        stage = gcp.ProbeStage(self.data(iteration), caller, client, fixed_endpoint=policy_is_served_by_loop(self.loaded) is None)
        return await self.run_stage(stage, client)

    def probes(self, iteration: int) -> dict[str, dict[str, Any]]:
        return self.data(iteration).probes()

    async def judge(self, iteration: int) -> dict[str, Any]:
        return await self.run_stage(jglv.JudgeStage(self.data(iteration), self.session.caller))

    def verdicts(self, iteration: int) -> dict[str, dict[str, Any]]:
        return self.data(iteration).verdicts()

    async def expand(self, iteration: int) -> dict[str, Any]:
        return await self.run_stage(edde.ExpandStage(self.data(iteration), self.session.caller))

    async def compose(self, iteration: int) -> dict[str, Any]:
        return await self.run_stage(composer.ComposeStage(self.data(iteration)))

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
