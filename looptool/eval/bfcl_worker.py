"""BFCL worker: data, AST scoring and multi-turn backends, served over JSON lines (bfcl env).

Why a process: bfcl-eval and its dependencies live in their own virtual environment (built by
scripts/setup_bfcl.sh), which the orchestrator never imports. One long-lived worker loads the
data once, holds the backend instances of every dialog in play, and answers small requests.

Protocol: the worker prints {"ready": true, "bfcl_eval": <version>} once loaded, then answers
each request line {"id": n, "op": ..., ...} with one line {"id": n, "result": ...} or
{"id": n, "error": "..."}. Anything the backends print goes to stderr, never into the protocol.

Ops
  items        {categories, limit?, ids?} -> {"items": [prompt entries], "available": {cat: n}}
  ground_truth {ids} -> {id: ground truth}; multi-turn ground truth as keyword calls per turn
  score_ast    {item, calls|null} -> verdict of bfcl's own ast_checker
  mt_open      {item} / mt_exec {item, calls} -> [results] / mt_end_turn {item, turn} -> verdict
  mt_close     {item}

Usage: python -m looptool.eval.bfcl_worker   (PYTHONPATH=<directory holding looptool>)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from looptool.eval.categories import KINDS, MULTI_TURN, category_of

CHECKER_MODEL_NAME = "looptool-eval"  # registered below: names are compared with their dots


def _register_checker_model() -> None:
    """bfcl's checker looks the model up to decide whether `.` in names became `_`; we map names
    back before checking, so our entry says they did not."""
    from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING, ModelConfig

    MODEL_CONFIG_MAPPING[CHECKER_MODEL_NAME] = ModelConfig(
        model_name=CHECKER_MODEL_NAME,
        display_name="looptool evaluation",
        url="",
        org="",
        license="",
        model_handler=None,
        is_fc_model=False,
        underscore_to_dot=False,
    )


class Worker:
    def __init__(self) -> None:
        from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

        self._load_entries = load_dataset_entry
        self._load_truth = load_ground_truth_entry
        self.entries: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[str]] = {}
        self.truth: dict[str, Any] = {}
        self.checker_docs: dict[str, list[dict[str, Any]]] = {}
        self.dialogs: dict[str, Any] = {}
        self.sandboxes: dict[str, Any] = {}
        _register_checker_model()

    # -- data -------------------------------------------------------------------------------
    def _ensure(self, category: str) -> None:
        if category in self.order:
            return
        if category not in KINDS:
            raise ValueError(f"unknown category {category!r}")
        entries = self._load_entries(category)
        self.order[category] = [e["id"] for e in entries]
        for entry in entries:
            self.entries[entry["id"]] = entry
        if KINDS[category] in ("ast", "multi_turn"):
            for row in self._load_truth(category):
                self.truth[row["id"]] = row["ground_truth"]
        if KINDS[category] == "ast":
            # The checker gets the docs without the prompt-side language hint, as `bfcl evaluate` does.
            for entry in self._load_entries(category, include_prereq=False, include_language_specific_hint=False):
                self.checker_docs[entry["id"]] = entry["function"]

    def _entry(self, item_id: str) -> dict[str, Any]:
        self._ensure(category_of(item_id))
        try:
            return self.entries[item_id]
        except KeyError:
            raise ValueError(f"no BFCL item {item_id!r}") from None

    def op_items(self, categories: list[str], limit: int | None = None, ids: list[str] | None = None) -> dict[str, Any]:
        wanted = set(ids) if ids else None
        items, available = [], {}
        for category in categories:
            self._ensure(category)
            chosen = [i for i in self.order[category] if wanted is None or i in wanted]
            available[category] = len(self.order[category])
            for item_id in chosen[:limit] if limit is not None else chosen:
                entry = self.entries[item_id]
                item = {"id": item_id, "category": category, "question": entry["question"], "function": entry["function"]}
                if category in MULTI_TURN:
                    item["missed_function"] = entry.get("missed_function") or {}
                items.append(item)
        if wanted is not None:
            unknown = wanted - {i["id"] for i in items}
            if unknown:
                raise ValueError(f"ids not found in the selected categories: {sorted(unknown)[:10]}")
        return {"items": items, "available": available}

    def op_ground_truth(self, ids: list[str]) -> dict[str, Any]:
        from looptool.eval.bfcl_backends import Dialog

        out = {}
        for item_id in ids:
            entry = self._entry(item_id)
            category = category_of(item_id)
            if category in MULTI_TURN:
                dialog = Dialog(entry, self.truth[item_id], long_context="long_context" in category)
                out[item_id] = dialog.keyword_ground_truth()
            else:
                out[item_id] = self.truth.get(item_id)
        return out

    # -- single-turn scoring ------------------------------------------------------------------
    def op_score_ast(self, item: str, calls: list[dict[str, Any]] | None) -> dict[str, Any]:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

        self._entry(item)
        category = category_of(item)
        if KINDS[category] != "ast":
            raise ValueError(f"{item} is not in an AST category")
        if not calls:
            return {"valid": False, "error_type": "ast_decoder:decoder_failed", "error": "no function call decoded"}
        model_output = [{c["name"]: c["arguments"]} for c in calls]
        try:
            verdict = ast_checker(self.checker_docs[item], model_output, self.truth[item], Language.PYTHON, category, CHECKER_MODEL_NAME)
        except Exception as exc:  # noqa: BLE001 - malformed ground truth makes the checker raise; the item is wrong either way
            return {"valid": False, "error_type": "checker_error", "error": f"{type(exc).__name__}: {exc}"}
        if verdict["valid"]:
            return {"valid": True}
        return {"valid": False, "error_type": verdict.get("error_type"), "error": verdict.get("error")}

    # -- multi-turn ---------------------------------------------------------------------------
    def op_mt_open(self, item: str) -> dict[str, Any]:
        from looptool.eval.bfcl_backends import Dialog

        category = category_of(item)
        if category not in MULTI_TURN:
            raise ValueError(f"{item} is not a multi-turn item")
        entry = self._entry(item)
        self.dialogs[item] = Dialog(entry, self.truth[item], long_context="long_context" in category)
        return {"turns": len(entry["question"])}

    def _dialog(self, item: str) -> Any:
        try:
            return self.dialogs[item]
        except KeyError:
            raise ValueError(f"no open dialog for {item!r} (mt_open first)") from None

    def op_mt_exec(self, item: str, calls: list[dict[str, Any]]) -> list[str]:
        return self._dialog(item).run_model_calls(calls)

    def op_mt_end_turn(self, item: str, turn: int) -> dict[str, Any]:
        return self._dialog(item).end_turn(int(turn))

    def op_mt_close(self, item: str) -> dict[str, Any]:
        self.dialogs.pop(item, None)
        return {"open": len(self.dialogs)}

    # -- sandboxes for dialog synthesis -----------------------------------------------------------
    def op_sandbox_open(self, session: str, class_name: str, seed: int = 0) -> dict[str, Any]:
        """Fresh backend state for one synthetic dialog: the initial scenario of a multi_turn_base
        item that uses the class (deterministic per seed), so tools act on realistic data."""
        import random

        from looptool.eval.bfcl_backends import Backends

        self._ensure("multi_turn_base")
        scenarios = [
            self.entries[i].get("initial_config", {})
            for i in self.order["multi_turn_base"]
            if class_name in self.entries[i].get("involved_classes", [])
        ]
        config = random.Random(seed).choice(scenarios) if scenarios else {}
        self.sandboxes[session] = Backends([class_name], config, long_context=False)
        return {"functions": sorted(self.sandboxes[session].methods)}

    def op_sandbox_exec(self, session: str, calls: list[dict[str, Any]]) -> list[str]:
        try:
            backends = self.sandboxes[session]
        except KeyError:
            raise ValueError(f"no open sandbox {session!r} (sandbox_open first)") from None
        results = []
        for call in calls:
            arguments = call.get("arguments")
            if not isinstance(arguments, dict):
                results.append("Error during execution: arguments must be an object")
            else:
                results.append(backends.execute(call.get("name"), (), arguments))
        return results

    def op_sandbox_close(self, session: str) -> dict[str, Any]:
        self.sandboxes.pop(session, None)
        return {"open": len(self.sandboxes)}

    def op_ping(self) -> str:
        return "pong"

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        handler: Callable[..., Any] | None = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        arguments = {k: v for k, v in request.items() if k not in ("id", "op")}
        if handler is None:
            return {"id": request.get("id"), "error": f"unknown op {op!r}"}
        try:
            return {"id": request.get("id"), "result": handler(**arguments)}
        except Exception as exc:  # noqa: BLE001 - reported to the caller, which names the item
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return {"id": request.get("id"), "error": detail}


def main() -> int:
    # The protocol owns the real stdout; anything printed by bfcl or its backends goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    worker = Worker()
    protocol.write(json.dumps({"ready": True, "bfcl_eval": importlib.metadata.version("bfcl-eval")}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            reply: dict[str, Any] = {"id": None, "error": f"request is not JSON: {exc}"}
        else:
            reply = worker.handle(request) if isinstance(request, dict) else {"id": None, "error": "request must be an object"}
        protocol.write(json.dumps(reply, ensure_ascii=False, default=repr) + "\n")
        protocol.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
