"""Tables (Markdown + JSON) and plots of an experiment's results.jsonl: accuracy per iteration per
arm (mean and std over seeds), JGLV precision/recall against the injected noise, EDDE yield,
GRPO reward curves, wall time, and the verdicts on the issue's bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from looptool.experiment.measure import mean_std, pooled
from looptool.experiment.settings import ALL_ARMS, ExperimentSettings

ROLE_NOTE = (
    "The policy is real ({model}, trained with TRL GRPO and the ToolMatch reward on CPU). The judge and the generator are "
    "SIMULATED with known truth: judge right with probability {judge}, generator writes a valid variant with probability {gen}."
)
ARM_TITLES = {
    "static": "static (w/o iterations)",
    "loop": "LoopTool",
    "without_high_ppl": "w/o High-PPL",
    "without_jglv": "w/o JGLV",
    "remove_edde": "Remove EDDE",
    "high_ppl_replace": "HighPPL-Replace",
    "error_seed_repetition": "Error-Seed Repetition",
}


def load_results(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summarize(settings: ExperimentSettings, warm: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    warm_acc = warm["heldout_accuracy"]
    arms: dict[str, Any] = {}
    for arm in [a for a in ALL_ARMS if any(r["arm"] == a for r in results)]:
        rows = sorted((r for r in results if r["arm"] == arm), key=lambda r: r["seed"])
        per_iteration = []
        for j in range(settings.grpo.iterations):
            values = [r["accuracy"][j] for r in rows if len(r["accuracy"]) > j]
            mean, std = mean_std(values)
            per_iteration.append({"iteration": j + 1, "mean": mean, "std": std, "n": len(values)})
        jglv_rows = [{"j": v} for r in rows for v in r["jglv"] if v]
        edde = [e for r in rows for e in r["edde"]]
        requested = sum(e["requested"] for e in edde)
        steps = [s for r in rows for it in r["rewards"] for s in it]
        curves = [[s.get("reward") for it in r["rewards"] for s in it] for r in rows]
        arms[arm] = {
            "seeds": [r["seed"] for r in rows],
            "accuracy": per_iteration,
            "final_by_seed": [r["accuracy"][-1] for r in rows],
            "label_noise": [mean_std([r["label_noise"][j] for r in rows])[0] for j in range(settings.grpo.iterations)],
            "jglv": pooled(jglv_rows, "j") if jglv_rows else None,
            "edde": {
                "requested": requested,
                "valid": sum(e["valid"] for e in edde),
                "yield": sum(e["valid"] for e in edde) / requested if requested else None,
            },
            "grpo_steps": sum(len(it) for it in rows[0]["rewards"]),
            "mean_reward": mean_std([s["reward"] for s in steps if "reward" in s])[0],
            "groups_with_spread": 1 - mean_std([s["frac_reward_zero_std"] for s in steps if "frac_reward_zero_std" in s])[0],
            "reward_curve_mean": [
                mean_std([c[i] for c in curves if len(c) > i and c[i] is not None])[0] for i in range(max(map(len, curves)))
            ],
            "wall_s_mean": mean_std([r["wall_s"] for r in rows])[0],
        }
    verdicts: dict[str, Any] = {}
    for arm in ("static", "loop"):
        if arm in arms:
            final = arms[arm]["accuracy"][-1]
            verdicts[f"{arm}_above_warm_start"] = {
                "gain": final["mean"] - warm_acc,
                "std": final["std"],
                "holds": final["mean"] - warm_acc > final["std"] and final["n"] >= 2,
            }
    if "static" in arms and "loop" in arms:
        s, lo = arms["static"]["accuracy"][-1], arms["loop"]["accuracy"][-1]
        spread = max(s["std"], lo["std"])
        verdicts["loop_beats_static_by_2std"] = {
            "difference": lo["mean"] - s["mean"],
            "two_std": 2 * spread,
            "holds": lo["mean"] - s["mean"] > 2 * spread,
        }
    if "loop" in arms and arms["loop"]["jglv"]:
        verdicts["jglv_recall_at_least_0.9"] = {
            "recall": arms["loop"]["jglv"]["recall"],
            "holds": (arms["loop"]["jglv"]["recall"] or 0) >= 0.9,
        }
    return {"settings": settings.model_dump(), "warm_start": warm, "arms": arms, "verdicts": verdicts}


def markdown(summary: dict[str, Any], model: str) -> str:
    settings = ExperimentSettings.model_validate(summary["settings"])
    warm = summary["warm_start"]
    j_count = settings.grpo.iterations
    lines = [
        ROLE_NOTE.format(model=model, judge=settings.roles.judge_accuracy, gen=settings.roles.generator_validity),
        "",
        f"World: {settings.world.seed_set_size} seed samples with {settings.world.noise_rate:.0%} label noise, "
        f"{settings.world.warm_slice_size} clean warm-start samples, {settings.world.test_size} held-out samples (values never trained on). "
        f"Every arm: {j_count} x {settings.grpo.steps_per_iteration} GRPO steps of {settings.grpo.prompts_per_step} prompts x "
        f"{settings.grpo.rollouts_per_prompt} rollouts.",
        "",
        f"Warm start (copy pretraining + SFT): held-out accuracy {warm['base_heldout_accuracy']:.3f} -> {warm['heldout_accuracy']:.3f}.",
        "",
        "| arm | seeds | "
        + " | ".join(f"held-out after it. {j + 1}" for j in range(j_count))
        + " | label noise in D_j | JGLV precision / recall | EDDE yield | groups with reward spread | wall s / seed |",
        "|---|---|" + "---|" * (j_count + 5),
    ]
    for arm, a in summary["arms"].items():
        acc = " | ".join(f"{x['mean']:.3f} ± {x['std']:.3f}" for x in a["accuracy"])
        noise = " / ".join(f"{x:.2f}" for x in a["label_noise"])
        jglv = (
            f"{_fmt(a['jglv']['precision'], 2)} / {_fmt(a['jglv']['recall'], 2)} (of {a['jglv']['corrupted_shown']})" if a["jglv"] else "-"
        )
        lines.append(
            f"| {ARM_TITLES[arm]} | {len(a['seeds'])} | {acc} | {noise} | {jglv} | {_fmt(a['edde']['yield'], 2)} | "
            f"{a['groups_with_spread']:.2f} | {a['wall_s_mean']:.0f} |"
        )
    lines += ["", "Bars:"]
    for name, v in summary["verdicts"].items():
        detail = ", ".join(f"{k} {_fmt(x) if isinstance(x, float) else x}" for k, x in v.items() if k != "holds")
        lines.append(f"- {name}: {'yes' if v['holds'] else 'NO'} ({detail})")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warm = summary["warm_start"]["heldout_accuracy"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (arm, a) in enumerate(summary["arms"].items()):
        xs = [0] + [x["iteration"] for x in a["accuracy"]]
        offset = (i - len(summary["arms"]) / 2) * 0.03
        ax.errorbar(
            [x + offset for x in xs],
            [warm] + [x["mean"] for x in a["accuracy"]],
            yerr=[0] + [x["std"] for x in a["accuracy"]],
            label=ARM_TITLES[arm],
            marker="o",
            capsize=3,
        )
    ax.set_xlabel("iteration (0 = warm start)")
    ax.set_ylabel("held-out ToolMatch accuracy")
    ax.set_title("Real tiny policy; judge and generator simulated")
    ax.legend(fontsize=8)
    fig.tight_layout()
    accuracy_png = out / "accuracy.png"
    fig.savefig(accuracy_png, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, a in summary["arms"].items():
        ax.plot(range(1, len(a["reward_curve_mean"]) + 1), a["reward_curve_mean"], label=ARM_TITLES[arm])
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward (over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    rewards_png = out / "rewards.png"
    fig.savefig(rewards_png, dpi=110)
    plt.close(fig)
    return [accuracy_png, rewards_png]


def write_report(out: Path, model: str) -> dict[str, Any]:
    settings = ExperimentSettings.model_validate(json.loads((out / "job.json").read_text())["settings"])
    warm = json.loads((out / "warm_start.json").read_text())
    summary = summarize(settings, warm, load_results(out))
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "results.md").write_text(markdown(summary, model))
    plot(summary, out)
    return summary
