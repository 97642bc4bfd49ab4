"""Write the golden file of ACEBench's OFFICIAL evaluator decisions (tests/eval/data/).

Why: our re-implementation of ACEBench's checker and scenario backends (looptool.eval.acebench_*)
must make the official decisions. The official code cannot run in CI (it is not installable
and may not be copied here), so this script runs it on a machine that has an ACEBench checkout
and records what it decides; the committed result is data produced by the reference
implementation, and tests/eval/test_acebench_golden.py compares our code with it.

What it does:
  1. checks that the checkout's data_all/ is byte for byte the data shipped in
     looptool/eval/data/acebench (SOURCE.json hashes), so the decisions are about our data;
  2. builds (once) a separate virtual environment with what ACEBench's evaluator imports
     (pandas 2.2.3 and openpyxl 3.1.5, the pins of its requirements.txt);
  3. generates the predictions of looptool.eval.acebench_mutations (the ground truth, answers
     written differently, and answers wrong in one way at a time; agent states; message
     sequences to execute);
  4. runs scripts/acebench_official_driver.py in that environment: the official functions
     decide every prediction (see its docstring);
  5. runs ACEBench's own command line (`python eval_main.py --model oracle --category normal
     special agent`) on the ground-truth predictions in a scratch copy of the checkout, to
     check that the per-item decisions add up to the accuracies the real evaluator prints;
  6. writes tests/eval/data/acebench_official_<language>.jsonl: a header line (commit, how it
     was made, the command line's accuracies), then one line per item (text and state
     predictions: one decision character per prediction, in generation order, and a hash of
     the predictions) and one per message sequence (routing, a hash of the execution result
     after every message, of the final state, and the end-to-end decision).

    python scripts/acebench_official_golden.py --checkout ~/src/ACEBench            # en and zh
    python scripts/acebench_official_golden.py --checkout DIR --commit SHA --language en --out-dir /tmp/golden

The checkout is a git clone of github.com/chenchen0103/ACEBench (its commit is read with git;
pass --commit for a copy without .git).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from looptool.eval.acebench_data import SHIPPED_DIR, load_items  # noqa: E402
from looptool.eval.acebench_mutations import all_predictions, prediction_hash  # noqa: E402
from looptool.paths import runtime_env_dir  # noqa: E402

REQUIREMENTS = ("pandas==2.2.3", "openpyxl==3.1.5")
DRIVER = REPO / "scripts" / "acebench_official_driver.py"
GOLDEN_FORMAT = 1


def checkout_commit(checkout: Path, given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"{checkout}: cannot read its git commit; pass --commit") from None


def verify_data(checkout: Path) -> None:
    """The checkout's data must be the shipped data, file for file."""
    source = json.loads((SHIPPED_DIR / "SOURCE.json").read_text(encoding="utf-8"))
    for relative, digest in source["sha256"].items():
        path = checkout / ("LICENSE.md" if relative == "LICENSE.md" else f"data_all/{relative}")
        if not path.exists():
            raise SystemExit(f"{path}: missing in the checkout")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{path}: differs from the shipped copy (looptool/eval/data/acebench); use the commit in SOURCE.json")


def official_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    marker = venv / ".looptool-acebench-official"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(REQUIREMENTS):
        return python
    print(f"building {venv} ({', '.join(REQUIREMENTS)})", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    marker.write_text("\n".join(REQUIREMENTS))
    return python


def run_driver(python: Path, checkout: Path, language: str, predictions: list[dict], scratch: Path) -> list[dict]:
    source = scratch / f"predictions_{language}.jsonl"
    target = scratch / f"official_{language}.jsonl"
    with open(source, "w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(json.dumps(prediction, ensure_ascii=False) + "\n")
    subprocess.run(
        [str(python), str(DRIVER), "--checkout", str(checkout), "--language", language, "--predictions", str(source), "--out", str(target)],
        check=True,
    )
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    if [r["sha"] for r in records] != [p["sha"] for p in predictions]:
        raise SystemExit("the driver's output does not line up with the predictions")
    return records


def official_cli(
    python: Path, checkout: Path, language: str, predictions: list[dict], records: list[dict], scratch: Path
) -> dict[str, float]:
    """ACEBench's eval_main.py on the ground-truth predictions; its printed accuracies."""
    work = scratch / "cli" / "ACEBench"
    if work.exists():
        shutil.rmtree(work.parent)
    work.mkdir(parents=True)
    for name in ("eval_main.py", "category.py", "model_eval", "model_inference", "data_all"):
        source = checkout / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, work / name)
    results = work / "result_all" / f"result_{language}" / "oracle"
    results.mkdir(parents=True)
    rows: dict[str, list[dict]] = {}
    for prediction, record in zip(predictions, records):
        category = prediction["category"]
        if prediction["kind"] == "text" and prediction["mutation"] == "truth0":
            rows.setdefault(category, []).append({"id": prediction["id"], "result": prediction["text"]})
        elif prediction["kind"] == "replay" and prediction["sequence"] == "milestones0":
            executed = [m for m, r in zip(prediction["messages"], record["routes"]) if r == "e"]
            rows.setdefault(category, []).append({"id": prediction["id"], "result": record["final"], "process": executed})
    for category, entries in rows.items():
        with open(results / f"data_{category}_result.json", "w", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    (work / "score_all" / f"score_{language}" / "oracle").mkdir(parents=True)
    done = subprocess.run(
        [str(python), "eval_main.py", "--model", "oracle", "--category", "normal", "special", "agent", "--language", language],
        cwd=work,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"eval_main.py failed:\n{done.stderr[-3000:]}")
    accuracies = {}
    for line in done.stdout.splitlines():
        found = re.search(r"Test '([^']+)'.*? Accuracy: ([0-9.]+)", line)
        if found:
            accuracies[found.group(1)] = float(found.group(2).rstrip("."))
        process = re.search(r"Test '([^']+)'.*Process Accuracy: ([0-9.]+)", line)
        if process:
            accuracies[process.group(1) + ":process"] = float(process.group(2).rstrip("."))
    return accuracies


def golden_lines(predictions: list[dict], records: list[dict]) -> list[dict]:
    """Group decisions per item (text, state) and per message sequence (replay)."""
    lines: list[dict] = []
    grouped: dict[tuple[str, str], dict] = {}
    for prediction, record in zip(predictions, records):
        kind = prediction["kind"]
        if kind == "replay":
            lines.append(
                {
                    "id": prediction["id"],
                    "kind": kind,
                    "sequence": prediction["sequence"],
                    "sha": prediction["sha"],
                    "routes": record.get("routes"),
                    "steps": record.get("steps"),
                    "state": record.get("state"),
                    "valid": record["valid"],
                    "process": record.get("process"),
                }
            )
            continue
        key = (prediction["id"], kind)
        if key not in grouped:
            grouped[key] = {"id": prediction["id"], "kind": kind, "shas": [], "valid": "", "process": []}
            lines.append(grouped[key])
        entry = grouped[key]
        entry["shas"].append(prediction["sha"])
        entry["valid"] += record["valid"]
        if kind == "state":
            entry["process"].append(record["process"])
    for line in lines:
        if "shas" in line:
            line["sha"] = prediction_hash(line.pop("shas"))
            if line["kind"] == "text":
                line.pop("process")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, help="an ACEBench checkout (git clone of chenchen0103/ACEBench)")
    parser.add_argument("--commit", help="its commit, when the checkout has no .git")
    parser.add_argument("--language", nargs="+", default=["en", "zh"], choices=("en", "zh"))
    parser.add_argument("--venv", default=str(runtime_env_dir("acebench-official")), help="environment for the official evaluator")
    parser.add_argument("--out-dir", default=str(REPO / "tests" / "eval" / "data"))
    args = parser.parse_args()
    checkout = Path(args.checkout).expanduser().resolve()
    commit = checkout_commit(checkout, args.commit)
    verify_data(checkout)
    python = official_python(Path(args.venv).expanduser())
    versions = subprocess.run(
        [str(python), "-c", "import sys, pandas, openpyxl; print(sys.version.split()[0], pandas.__version__, openpyxl.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="acebench-golden-") as tmp:
        scratch = Path(tmp)
        for language in args.language:
            started = time.monotonic()
            predictions = all_predictions(load_items(language=language))
            records = run_driver(python, checkout, language, predictions, scratch)
            cli = official_cli(python, checkout, language, predictions, records, scratch)
            lines = golden_lines(predictions, records)
            header = {
                "golden": "acebench-official-decisions",
                "format": GOLDEN_FORMAT,
                "language": language,
                "repository": "https://github.com/chenchen0103/ACEBench",
                "commit": commit,
                "made_by": "scripts/acebench_official_golden.py (official code run by scripts/acebench_official_driver.py)",
                "official_env": {"python": versions[0], "pandas": versions[1], "openpyxl": versions[2]},
                "made_on": {"python": platform.python_version(), "date": time.strftime("%Y-%m-%d")},
                "predictions": len(predictions),
                "crashes": sum(1 for r in records if r.get("valid") == "c"),
                "official_cli_accuracy_on_ground_truth": cli,
                "seconds": round(time.monotonic() - started, 1),
            }
            path = out_dir / f"acebench_official_{language}.jsonl"
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(header, ensure_ascii=False) + "\n")
                for line in lines:
                    handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            print(f"{path}: {len(predictions)} predictions, {header['crashes']} official crashes, {header['seconds']} s", flush=True)
            print(f"  eval_main.py accuracies on the ground truth: {json.dumps(cli)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
