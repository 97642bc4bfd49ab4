"""One arm, one seed: the same GRPO budget for every arm, held-out accuracy after every iteration.

static    J x steps_per_iteration GRPO steps on D_seed (consecutive slices of a seeded shuffle)
loop      Algorithm 1: GRPO on D_j, GCP (real greedy answers + perplexity), JGLV (simulated judge),
          EDDE (simulated generator), Eq. 5 composition by loop.compose.compose, J iterations
ablation  the loop with one Table 4 switch on (loop.config.AblationSettings, as `looptool run`)
Every D_j has |D_j| = steps_per_iteration x prompts_per_step prompts, so every arm trains the same
steps on the same number of samples per step.
"""

from __future__ import annotations

import random
import time
from typing import Any

from looptool.experiment import policy, roles
from looptool.experiment.measure import jglv_scores
from looptool.experiment.settings import ABLATION_ARMS, ExperimentSettings
from looptool.experiment.world import World, base_id, generator_pools
from looptool.loop.compose import compose, error_seeds
from looptool.loop.config import AblationSettings, ComposeSettings, ProbeSettings
from looptool.loop.ppl import high_ppl_ids, perplexity
from looptool.samples import StepSample
from looptool.tools.match import toolmatch
from looptool.tools.parse import parse_tool_calls


def arm_schedule(arm: str, settings: ExperimentSettings) -> list[int]:
    """GRPO steps per iteration of an arm (equal budgets: the test holds every arm to this)."""
    if arm not in ("static", "loop", *ABLATION_ARMS):
        raise ValueError(f"unknown arm {arm!r}")
    return [settings.grpo.steps_per_iteration] * settings.grpo.iterations


def ablation_settings(arm: str) -> AblationSettings:
    return AblationSettings(**({arm: True} if arm in ABLATION_ARMS else {}))


def static_slices(seed_set: list[StepSample], size: int, iterations: int, seed: int) -> list[list[StepSample]]:
    """D_seed cut into consecutive |D_j|-sized slices of a seeded shuffle (reshuffled on wrap-around)."""
    rng = random.Random(f"static|{seed}")
    order: list[StepSample] = []
    while len(order) < size * iterations:
        round_ = sorted(seed_set, key=lambda s: s.id)
        rng.shuffle(round_)
        order += round_
    return [order[j * size : (j + 1) * size] for j in range(iterations)]


def label_noise_share(samples: list[StepSample], truth: dict[str, list[dict[str, Any]]]) -> float:
    wrong = sum(1 for s in samples if not roles.calls_match(s.label_calls, truth[base_id(s.id)], s.tools))
    return wrong / len(samples) if samples else 0.0


def heldout_accuracy(model: Any, tokenizer: Any, world: World, settings: ExperimentSettings) -> float:
    answers = policy.greedy_answers(model, tokenizer, world.test_set, settings.grpo.max_completion_tokens)
    right = sum(1 for s, (text, _) in zip(world.test_set, answers) if toolmatch(text, s.label_calls, s.tools, mode="reward").matched)
    return right / len(world.test_set)


def probe(model: Any, tokenizer: Any, samples: list[StepSample], settings: ExperimentSettings) -> dict[str, dict[str, Any]]:
    """GCP on D_j with the real policy: what loop/probe.py records, from in-process greedy decoding."""
    answers = policy.greedy_answers(model, tokenizer, samples, settings.grpo.max_completion_tokens)
    out = {}
    for sample, (text, logprobs) in zip(samples, answers):
        parsed = parse_tool_calls(text)
        out[sample.id] = {
            "id": sample.id,
            "prediction": text,
            "pred_calls": [c.to_dict() for c in parsed.calls],
            "format_ok": parsed.ok,
            "matched": toolmatch(text, sample.label_calls, sample.tools, mode="reward").matched,
            "ppl": perplexity(logprobs),
        }
    return out


def run_arm(arm: str, seed: int, world: World, settings: ExperimentSettings, load_policy: Any, work_dir: str, log: Any) -> dict[str, Any]:
    started = time.perf_counter()
    model, tokenizer = load_policy()
    size = settings.dataset_size
    iterations = settings.grpo.iterations
    truth = dict(world.truth)
    record: dict[str, Any] = {
        "arm": arm,
        "seed": seed,
        "accuracy": [],
        "rewards": [],
        "label_noise": [],
        "jglv": [],
        "edde": [],
        "composition": [],
        "steps": arm_schedule(arm, settings),
    }
    if arm == "static":
        datasets = static_slices(world.seed_set, size, iterations, seed)
        for j in range(iterations):
            record["label_noise"].append(label_noise_share(datasets[j], truth))
            record["rewards"].append(policy.grpo(model, tokenizer, datasets[j], settings.grpo, seed * 100 + j, f"{work_dir}/grpo"))
            record["accuracy"].append(heldout_accuracy(model, tokenizer, world, settings))
            log(f"{arm} seed {seed} iteration {j + 1}: held-out {record['accuracy'][-1]:.3f}")
        record["wall_s"] = time.perf_counter() - started
        return record
    ablations = ablation_settings(arm)
    compose_settings = ComposeSettings(dataset_size=size, first_iteration_size=size)
    rng = random.Random(f"loop|{arm}|{seed}")
    pool = sorted(world.seed_set, key=lambda s: s.id)
    rng.shuffle(pool)
    current, unused = pool[:size], pool[size:]
    pools = generator_pools(world, f"edde|{arm}|{seed}")
    for j in range(1, iterations + 1):
        record["label_noise"].append(label_noise_share(current, truth))
        record["rewards"].append(policy.grpo(model, tokenizer, current, settings.grpo, seed * 100 + j, f"{work_dir}/grpo"))
        record["accuracy"].append(heldout_accuracy(model, tokenizer, world, settings))
        log(f"{arm} seed {seed} iteration {j}: held-out {record['accuracy'][-1]:.3f}")
        if j == iterations:
            break
        probes = probe(model, tokenizer, current, settings)
        hppl, cutoff = high_ppl_ids(list(probes.values()), ProbeSettings())
        verdicts: dict[str, dict[str, Any]] = {}
        judge_rng = random.Random(f"judge|{arm}|{seed}|{j}")
        for sample in current:
            if probes[sample.id]["matched"]:
                continue
            if ablations.without_jglv:
                verdicts[sample.id] = {"verdict": "PRED_WRONG"}
            else:
                verdicts[sample.id] = roles.judge(
                    sample, probes[sample.id]["pred_calls"], truth[base_id(sample.id)], settings.roles.judge_accuracy, judge_rng
                )
        record["jglv"].append(None if ablations.without_jglv else jglv_scores(list(verdicts.values())))
        expansions: list[StepSample] = []
        edde = {"requested": 0, "valid": 0, "skipped_no_call": 0}
        if ablations.edde_runs:
            gen_rng = random.Random(f"edde|{arm}|{seed}|{j}")
            for es in error_seeds(current, probes, verdicts, j):
                if not es.label_calls:
                    # A label "fixed" to a prose prediction (a judge error): this world has no prose
                    # answers, so the simulated generator has no variant to write for it.
                    edde["skipped_no_call"] += 1
                    continue
                # the generator writes from the corrected label (what the judge said is right)
                for variant, calls, valid in roles.expand(
                    es, es.label_calls, settings.roles.expand_k, settings.roles.generator_validity, j, pools, gen_rng
                ):
                    truth[variant.id] = calls
                    expansions.append(variant)
                    edde["requested"] += 1
                    edde["valid"] += int(valid)
        record["edde"].append(edde)
        current, composition = compose(
            current=current,
            probes=probes,
            verdicts=verdicts,
            expansions=expansions,
            hppl_ids=hppl,
            hppl_cutoff=cutoff,
            unused_seed=unused,
            next_iteration=j + 1,
            target_size=size,
            settings=compose_settings,
            ablations=ablations,
            rng_seed=seed,
            expand_k=settings.roles.expand_k,
        )
        taken = {s.id for s in current}
        unused = [s for s in unused if s.id not in taken]
        record["composition"].append(composition)
    record["wall_s"] = time.perf_counter() - started
    return record
