"""Run ACEBench's OFFICIAL evaluator code on predictions and print its decisions (JSON lines).

Runs inside a separate virtual environment (pandas/openpyxl, as ACEBench's evaluator needs) with
an ACEBench checkout on sys.path; it imports nothing from looptool, and nothing of ACEBench is
copied into this repository: scripts/acebench_official_golden.py starts this driver and turns
its output into the committed golden file.

What is called, per prediction (one item at a time, so every decision is the official one for
that item alone):
  text, normal single-turn   eval_main.normal_single_turn_eval   -> accuracy 1.0 / 0.0
  text, normal multi-turn    eval_main.normal_multi_turn_eval    (one turn) -> 1 / 0
  text, special              eval_main.special_eval
  state (agent)              eval_main.agent_eval                -> end-to-end, process accuracy
  replay (agent)             the agent loop's execution as model_inference does it:
                             multi_step: EXECUTION_STEP.respond for every message;
                             multi_turn: APIAgent_turn's routing check (regex + decode), then
                             EXECUTION.respond for the messages it sends to execution;
                             then the final state (the SAVED_CLASS attributes, through JSON as
                             the result file does) and agent_eval on it.
eval_main's report writers (score JSON files, Excel sheets) are replaced by no-ops: they only
write files and do not take part in any decision. A prediction on which the official code
raises gets "crash" (in a real official run the exception aborts the whole category).

    python acebench_official_driver.py --checkout ACEBench --language en --predictions in.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import types

SAVED_CLASS = {  # model_inference/apimodel_inference.py
    "BaseApi": ["wifi", "logged_in"],
    "MessageApi": ["inbox"],
    "ReminderApi": ["reminder_list"],
    "FoodPlatform": ["users", "logged_in_users", "orders"],
    "Finance": ["user_accounts", "is_logged_in", "deposit_history", "withdrawal_history", "loan_history", "orders", "holdings"],
    "Travel": ["users", "reservations"],
}
MODEL = "golden"


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()[:8]


def load_rows(path: str) -> dict[str, dict]:
    rows = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                rows[row["id"]] = row
    return rows


class Official:
    def __init__(self, checkout: str, language: str) -> None:
        self.language = language
        sys.path.insert(0, checkout)
        # model_inference/multi_turn/APIModel_agent.py imports the OpenAI SDK for its client; only
        # its decoding methods are used here, so a stand-in module keeps the SDK out of this env.
        sys.modules.setdefault("openai", types.SimpleNamespace(OpenAI=object))
        import eval_main

        eval_main.save_score_as_json = lambda *args, **kwargs: None
        eval_main.convert_result_to_excel = lambda *args, **kwargs: None
        eval_main.language = language
        # eval_main sets its path globals only when run as a script.
        eval_main.INPUT_PATH = eval_main.OUTPUT_PATH = os.path.join(os.getcwd(), "score_all", f"score_{language}")
        eval_main.PROMPT_PATH = os.path.join(checkout, "data_all", f"data_{language}")
        eval_main.POSSIBLE_ANSWER_PATH = os.path.join(eval_main.PROMPT_PATH, "possible_answer")
        self.eval_main = eval_main
        from model_inference.multi_step.execution_role_step import EXECUTION_STEP
        from model_inference.multi_turn.APIModel_agent import APIAgent_turn
        from model_inference.multi_turn.execution_role import EXECUTION

        self.EXECUTION_STEP, self.EXECUTION, self.APIAgent_turn = EXECUTION_STEP, EXECUTION, APIAgent_turn
        base = os.path.join(checkout, "data_all", f"data_{language}")
        self.base = base
        self._rows: dict[str, tuple[dict, dict]] = {}
        self.paths = {"INPUT_PATH": "unused", "PROMPT_PATH": base, "POSSIBLE_ANSWER_PATH": base, "OUTPUT_PATH": "unused"}
        self.sequence = 0

    def rows(self, category: str) -> tuple[dict, dict]:
        if category not in self._rows:
            self._rows[category] = (
                load_rows(os.path.join(self.base, f"data_{category}.json")),
                load_rows(os.path.join(self.base, "possible_answer", f"data_{category}.json")),
            )
        return self._rows[category]

    def text(self, prediction: dict) -> str:
        category = prediction["category"]
        questions, answers = self.rows(category)
        prompt, answer = questions[prediction["id"]], answers[prediction["id"]]
        result = [{"id": prediction["id"], "result": prediction["text"]}]
        main = self.eval_main
        with contextlib.redirect_stdout(io.StringIO()):
            if "special" in category:
                accuracy = main.special_eval(result, [prompt], [answer], category, MODEL, self.paths)
            elif "normal_multi_turn" in category:
                accuracy = main.normal_multi_turn_eval(result, [prompt], [answer], category, MODEL, self.paths)
            else:
                accuracy = main.normal_single_turn_eval(result, [prompt], [answer], category, MODEL, self.paths)
        return "1" if accuracy == 1 else "0"

    def state(self, category: str, item_id: str, states: list, process: list) -> tuple[str, float]:
        questions, answers = self.rows(category)
        result = [{"id": item_id, "result": states, "process": process}]
        with contextlib.redirect_stdout(io.StringIO()):
            accuracy, process_accuracy = self.eval_main.agent_eval(result, [questions[item_id]], [answers[item_id]], category, MODEL)
        return ("1" if accuracy == 1 else "0"), process_accuracy

    def replay(self, prediction: dict) -> dict:
        category = prediction["category"]
        questions, _ = self.rows(category)
        row = questions[prediction["id"]]
        self.sequence += 1
        # Instances live in the execution module's globals under the agent model name and test
        # id: a fresh name per sequence gives every sequence fresh backends.
        name = f"golden_{self.sequence}"
        test_id = row["id"].split("_")[-1]
        steps, routes, instances = [], "", []
        with contextlib.redirect_stdout(io.StringIO()):
            if "multi_step" in category:
                execution = self.EXECUTION_STEP(
                    agent_model_name=name,
                    initial_config=row["initial_config"],
                    involved_classes=row["involved_classes"],
                    test_id=test_id,
                    language=self.language,
                )
                for message in prediction["messages"]:
                    reply, instance = execution.respond([{"sender": "agent", "recipient": "execution", "message": message}])
                    steps.append(digest(reply["message"]))
                    routes += "e"
                    if instance not in instances:
                        instances.append(instance)
            else:
                execution = self.EXECUTION(
                    agent_model_name=name,
                    initial_config=row["initial_config"],
                    involved_classes=row["involved_classes"],
                    test_id=test_id,
                    language=self.language,
                )
                agent = object.__new__(self.APIAgent_turn)  # its decoding methods only, no client
                for message in prediction["messages"]:
                    routed = False
                    if re.search(r"\[.*\]", message):
                        try:
                            agent.decode_function_list(message)
                            routed = True
                        except Exception:  # noqa: BLE001 - ACEBench sends the message to the user then
                            routed = False
                    if not routed:
                        routes += "u"
                        steps.append("")
                        continue
                    routes += "e"
                    reply, instance = execution.respond([{"sender": "agent", "recipient": "execution", "message": message}])
                    steps.append(digest(reply["message"]))
                    if isinstance(instance, dict) and instance not in instances:
                        instances.append(instance)
        final = []
        for instance in instances:
            for cls, obj in instance.items():
                final.append({cls: {k: v for k, v in obj.__dict__.items() if k in SAVED_CLASS[cls]}})
        final = json.loads(json.dumps(final, ensure_ascii=False, default=str))
        executed = [m for m, r in zip(prediction["messages"], routes) if r == "e"]
        valid, process = self.state(category, row["id"], final, executed)
        return {"steps": steps, "routes": routes, "state": digest(final), "valid": valid, "process": process, "final": final}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True)
    parser.add_argument("--language", required=True, choices=("en", "zh"))
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    checkout = os.path.abspath(args.checkout)
    scratch = tempfile.mkdtemp(prefix="acebench-official-")
    os.makedirs(os.path.join(scratch, "score_all", f"score_{args.language}", MODEL), exist_ok=True)
    os.chdir(scratch)  # agent_eval writes its process file under ./score_all
    official = Official(checkout, args.language)
    with open(args.predictions, encoding="utf-8") as source, open(args.out, "w", encoding="utf-8") as out:
        for line in source:
            prediction = json.loads(line)
            record = {"id": prediction["id"], "kind": prediction["kind"], "sha": prediction["sha"]}
            try:
                if prediction["kind"] == "text":
                    record["valid"] = official.text(prediction)
                elif prediction["kind"] == "state":
                    record["valid"], record["process"] = official.state(
                        prediction["category"], prediction["id"], prediction["states"], prediction["process"]
                    )
                else:
                    record.update(official.replay(prediction))
            except Exception as exc:  # noqa: BLE001 - recorded: the official code raised on this input
                record["valid"] = "c"
                record["crash"] = f"{type(exc).__name__}: {exc}"[:300]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
