"""Deterministic wrong (and right-but-differently-written) answers to ACEBench items.

Why: agreement with the official evaluator on its own ground truth alone says little (nearly
everything passes); the checker's leniencies and strictnesses only show on answers that differ
from the ground truth in one way at a time. scripts/acebench_official_golden.py feeds these to
the official evaluator and records its decisions; tests/eval/test_acebench_golden.py feeds the
same answers to looptool.eval.acebench_check and compares. The generator is deterministic (no
randomness, no dependence on dict order beyond the data's own), and every prediction carries a
hash so a stale golden file is detected instead of silently compared against other answers.

Kinds of prediction:
  text     a normal or special item answered with a text (ACEBench's answer format or not);
  state    an agent item's final backend state (+ the messages sent for execution, for process
           accuracy), as the agent loop hands them to the checker;
  replay   an agent item's sequence of agent messages, executed on the scenario backends (the
           official ones by the golden script, ours by the test) to compare execution results
           and final states.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from looptool.eval.acebench_answers import (
    IRRELEVANT_SENTENCE,
    ideal_calls,
    ideal_text,
    milestone_paths,
    milestones,
    special_sentence,
    truth_alternatives,
)
from looptool.eval.acebench_categories import AGENT, KINDS
from looptool.eval.acebench_data import AceItem
from looptool.eval.acebench_decode import DecodeError, decode_execution, render_call, render_calls, render_value
from looptool.eval.acebench_scenarios import world

Calls = list[tuple[str, dict[str, Any]]]


def prediction_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=repr).encode("utf-8")).hexdigest()[:16]


def _docs(item: AceItem) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in item.functions}


def _required(item: AceItem, name: str) -> list[str]:
    parameters = (_docs(item).get(name) or {}).get("parameters") or {}
    required = parameters.get("required") if isinstance(parameters, dict) else None
    return [r for r in required or [] if isinstance(r, str)]


def _properties(item: AceItem, name: str) -> dict[str, Any]:
    parameters = (_docs(item).get(name) or {}).get("parameters") or {}
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    return properties if isinstance(properties, dict) else {}


def _with_argument(calls: Calls, index: int, key: str, value: Any) -> Calls:
    out = copy.deepcopy(calls)
    out[index][1][key] = value
    return out


def _first_of(calls: Calls, kind: type | tuple[type, ...], exclude: tuple[type, ...] = ()) -> tuple[int, str, Any] | None:
    for index, (_, arguments) in enumerate(calls):
        for key, value in arguments.items():
            if isinstance(value, kind) and not isinstance(value, exclude):
                return index, key, value
    return None


def _first_leaf(value: Any, kind: type | tuple[type, ...], exclude: tuple[type, ...] = ()) -> list[Any] | None:
    """Path (keys/indices) to the first leaf of `kind` inside a dict/list value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                found = _first_leaf(item, kind, exclude)
                if found is not None:
                    return [key, *found]
            elif isinstance(item, kind) and not isinstance(item, exclude):
                return [key]
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                found = _first_leaf(item, kind, exclude)
                if found is not None:
                    return [index, *found]
            elif isinstance(item, kind) and not isinstance(item, exclude):
                return [index]
    return None


def _set_path(value: Any, path: list[Any], new: Any) -> Any:
    out = copy.deepcopy(value)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def _get_path(value: Any, path: list[Any]) -> Any:
    for step in path:
        value = value[step]
    return value


def _nested_mutations(calls: Calls) -> Iterator[tuple[str, Calls]]:
    found = _first_of(calls, (dict, list))
    if found is None:
        return
    index, key, value = found
    for label, kind, exclude, change in (
        ("nested_string_append", str, (), lambda s: s + " extra"),
        ("nested_string_replace", str, (), lambda s: "zzz"),
        ("nested_string_spaces", str, (), lambda s: s.replace(" ", "  ") if " " in s else s + " x"),
        ("nested_string_case", str, (), lambda s: s.upper()),
        ("nested_number_change", (int, float), (bool,), lambda n: n * 10 + 1),
        ("nested_number_as_string", (int, float), (bool,), lambda n: str(n)),
        ("nested_bool_flip", bool, (), lambda b: not b),
        ("nested_bool_as_string", bool, (), lambda b: "true" if b else "false"),
    ):
        path = _first_leaf(value, kind, exclude)
        if path is not None:
            yield label, _with_argument(calls, index, key, _set_path(value, path, change(_get_path(value, path))))
    if isinstance(value, dict) and value:
        first = next(iter(value))
        yield "nested_drop_key", _with_argument(calls, index, key, {k: v for k, v in value.items() if k != first})
        yield "nested_extra_key", _with_argument(calls, index, key, {**value, "unexpected_key": "x"})
    if isinstance(value, list) and value:
        yield "list_reversed", _with_argument(calls, index, key, list(reversed(value)))
        yield "list_drop_last", _with_argument(calls, index, key, value[:-1])
        yield "list_append", _with_argument(calls, index, key, value + [copy.deepcopy(value[-1])])
        yield "list_as_tuple", _with_argument(calls, index, key, tuple(value))
        yield "list_empty", _with_argument(calls, index, key, [])


def _scalar_mutations(calls: Calls) -> Iterator[tuple[str, Calls]]:
    found = _first_of(calls, str)
    if found:
        index, key, value = found
        yield "string_append", _with_argument(calls, index, key, value + " please")
        yield "string_prefix", _with_argument(calls, index, key, "the " + value)
        yield "string_replace", _with_argument(calls, index, key, "zzz")
        yield "string_upper", _with_argument(calls, index, key, value.upper())
        yield "string_no_spaces", _with_argument(calls, index, key, value.replace(" ", ""))
        yield "string_punctuation", _with_argument(calls, index, key, value.replace(" ", "-") + ".")
        yield "string_truncated", _with_argument(calls, index, key, value[: max(1, len(value) // 2)])
        yield "string_as_true", _with_argument(calls, index, key, "true")
        yield "string_as_list", _with_argument(calls, index, key, [value])
    found = _first_of(calls, (int, float), exclude=(bool,))
    if found:
        index, key, value = found
        yield "number_change", _with_argument(calls, index, key, value * 10 + 1)
        yield "number_negated", _with_argument(calls, index, key, -value if value else -1)
        yield "number_as_string", _with_argument(calls, index, key, str(value))
        yield "number_int_float_swap", _with_argument(calls, index, key, float(value) if isinstance(value, int) else int(value))
        yield "number_as_bool", _with_argument(calls, index, key, True)
    found = _first_of(calls, bool)
    if found:
        index, key, value = found
        yield "bool_flip", _with_argument(calls, index, key, not value)
        yield "bool_as_string", _with_argument(calls, index, key, "true" if value else "false")
        yield "bool_as_int", _with_argument(calls, index, key, int(value))


def _structural_mutations(item: AceItem, calls: Calls) -> Iterator[tuple[str, Calls]]:
    if len(calls) > 1:
        yield "reorder", list(reversed(calls))
        yield "drop_call", calls[1:]
    yield "duplicate_call", calls + [copy.deepcopy(calls[0])]
    name, arguments = calls[0]
    yield "wrong_name", [(name + "X", arguments)] + calls[1:]
    yield "suffixed_name", [(name + "_1", arguments)] + calls[1:]
    other = next((d["name"] for d in item.functions if d["name"] != name), None)
    if other:
        yield "other_function", [(other, arguments)] + calls[1:]
    if arguments:
        first = next(iter(arguments))
        yield "drop_first_argument", [(name, {k: v for k, v in arguments.items() if k != first})] + calls[1:]
    required = [r for r in _required(item, name) if r in arguments]
    optional = [k for k in arguments if k not in _required(item, name)]
    if required:
        yield "drop_required", [(name, {k: v for k, v in arguments.items() if k != required[-1]})] + calls[1:]
    if optional:
        yield "drop_optional", [(name, {k: v for k, v in arguments.items() if k != optional[-1]})] + calls[1:]
    yield "extra_argument", [(name, {**arguments, "unexpected_param": "x"})] + calls[1:]
    unused = [k for k in _properties(item, name) if k not in arguments]
    if unused:
        yield "extra_schema_argument", [(name, {**arguments, unused[0]: "x"})] + calls[1:]
    yield "no_arguments", [(name, {})] + calls[1:]


def _text_forms(item: AceItem, calls: Calls) -> Iterator[tuple[str, str]]:
    text = render_calls(calls)
    yield "prose_around", f"Sure, here are the calls:\n{text}\nLet me know if you need anything else."
    yield "newlines_inside", "[" + ",\n  ".join(render_call(n, a) for n, a in calls) + "\n]"
    yield (
        "double_quotes",
        "["
        + ", ".join(
            f"{n}("
            + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) else render_value(v)}" for k, v in a.items())
            + ")"
            for n, a in calls
        )
        + "]",
    )
    yield "no_brackets", ", ".join(render_call(n, a) for n, a in calls)
    yield "two_lists", text + " " + text
    yield "json_calls", json.dumps([{"name": n, "arguments": a} for n, a in calls], ensure_ascii=False, default=list)
    yield "prose_only", "I am not able to help with that request."
    yield "empty", ""
    yield "truncated", text[: max(2, len(text) // 2)]
    name, arguments = calls[0]
    if arguments:
        values = list(arguments.items())
        positional = f"{name}(" + ", ".join([render_value(values[0][1]), *(f"{k}={render_value(v)}" for k, v in values[1:])]) + ")"
        yield "positional_argument", "[" + ", ".join([positional, *(render_call(n, a) for n, a in calls[1:])]) + "]"
    if arguments:
        # Python constructs a model may write: what decodes to what, and what fails, must be
        # ACEBench's decision (it eval()s some of them; we never do).
        key = next(iter(arguments))
        for label, source in (
            ("value_none", "None"),
            ("value_ellipsis", "..."),
            ("value_subscript", "data[0]"),
            ("value_set", "{1, 2}"),
            ("value_fstring", "f'{x}'"),
            ("value_lambda", "lambda: 1"),
            ("value_nested_call", "dict(a=1)"),
            ("value_bare_call", "now()"),
            ("value_name_true", "true"),
            ("value_negated_name", "-x"),
            ("value_negated_string", "-'a'"),
            ("value_not", "not 0"),
            ("value_string_sum", "'a' + 'b'"),
            ("value_name_sum", "x + 1"),
            ("value_division_by_zero", "1 / 0"),
            ("value_comparison", "1 < 2"),
            ("value_attribute", "a.b"),
            ("value_tuple", "(1, 'a')"),
        ):
            body = ", ".join(f"{k}={source if k == key else render_value(v)}" for k, v in arguments.items())
            yield label, "[" + ", ".join([f"{name}({body})", *(render_call(n, a) for n, a in calls[1:])]) + "]"
        yield "star_arguments", "[" + ", ".join([f"{name}(**{render_value(arguments)})", *(render_call(n, a) for n, a in calls[1:])]) + "]"
    yield "dotted_name", "[" + ", ".join([f"api.{render_call(name, arguments)}", *(render_call(n, a) for n, a in calls[1:])]) + "]"
    yield "tuple_of_calls", "(" + ", ".join(render_call(n, a) for n, a in calls) + ",)"
    yield "list_with_text", "[" + ", ".join([*(render_call(n, a) for n, a in calls), "'done'"]) + "]"
    numbers = _first_of(calls, int, exclude=(bool,))
    if numbers:
        index, key, value = numbers
        for label, source in (
            ("number_as_sum", f"({value - 1} + 1)"),
            ("number_unary_plus", f"+{value}"),
            ("number_as_product", f"{value} * 1"),
        ):
            rendered = [
                render_call(n, a)
                if i != index
                else f"{n}(" + ", ".join(f"{k}={source if k == key else render_value(v)}" for k, v in a.items()) + ")"
                for i, (n, a) in enumerate(calls)
            ]
            yield label, "[" + ", ".join(rendered) + "]"
    strings = _first_of(calls, str)
    if strings and strings[2].isidentifier():
        index, key, value = strings
        rendered = [
            render_call(n, a)
            if i != index
            else f"{n}(" + ", ".join(f"{k}={value if k == key else render_value(v)}" for k, v in a.items()) + ")"
            for i, (n, a) in enumerate(calls)
        ]
        yield "string_as_name", "[" + ", ".join(rendered) + "]"


def _normal_predictions(item: AceItem) -> Iterator[tuple[str, str]]:
    for alternative in range(len(truth_alternatives(item))):
        yield f"truth{alternative}", ideal_text(item, alternative)
    calls = ideal_calls(item)
    if not calls:
        return
    yield from _text_forms(item, calls)
    for label, mutated in (*_structural_mutations(item, calls), *_scalar_mutations(calls), *_nested_mutations(calls)):
        yield label, render_calls(mutated)


def _special_predictions(item: AceItem) -> Iterator[tuple[str, str]]:
    sentence = special_sentence(item)
    yield "truth0", ideal_text(item)
    yield "bare_sentence", sentence
    yield "prose_around", f"I looked at the request. {sentence} Please clarify."
    yield "lower_case", sentence.lower()
    yield "irrelevant_sentence", f'["{IRRELEVANT_SENTENCE}"]'
    yield "empty", ""
    first = item.functions[0]["name"] if item.functions else "Api"
    yield "function_call", f"[{first}()]"
    truth = item.ground_truth
    if item.category == "special_incomplete":
        (name, values), *_ = truth.items()
        yield "values_stripped", f'["Missing necessary parameters ({", ".join(v.strip() for v in values)}) for the api ({name})"]'
        yield "drop_value", f'["Missing necessary parameters ({", ".join(values[:-1])}) for the api ({name})"]'
        yield "wrong_api", f'["Missing necessary parameters ({", ".join(values)}) for the api ({name}X)"]'
        yield "other_phrase", f'["There is incorrect value ({", ".join(values)}) for the parameters ({name}) in the conversation history."]'
    elif item.category == "special_error_param":
        (name, values), *_ = truth.items()
        yield (
            "values_as_names",
            f'["There is incorrect value ({name}) for the parameters ({", ".join(values)}) in the conversation history."]',
        )
        yield "wrong_parameter", f'["There is incorrect value ({", ".join(values)}) for the parameters (x) in the conversation history."]'
        yield (
            "value_changed",
            f'["There is incorrect value ({", ".join(v + "0" for v in values)}) for the parameters ({name}) in the conversation history."]',
        )
        yield "other_phrase", f'["Missing necessary parameters ({", ".join(values)}) for the api ({name})"]'
    else:
        yield "paraphrase", '["I cannot solve this problem with the given functions."]'
        yield "sentence_in_prose", "Sorry. Due to the limitations of the function, I cannot solve this problem. Bye."


def text_predictions(item: AceItem) -> list[dict[str, Any]]:
    """Every text prediction for a normal or special item, in a fixed order."""
    kind = KINDS[item.category]
    source = _special_predictions(item) if kind == "special" else _normal_predictions(item)
    out, seen = [], set()
    for mutation, text in source:
        if mutation in seen:
            continue
        seen.add(mutation)
        out.append(
            {"id": item.id, "category": item.category, "kind": "text", "mutation": mutation, "text": text, "sha": prediction_hash(text)}
        )
    return out


# -- agent: final states ------------------------------------------------------------------------


def _state_mutations(truth: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield "truth", copy.deepcopy(truth)
    yield "reversed_classes", list(reversed(copy.deepcopy(truth)))
    if len(truth) > 1:
        yield "drop_last_class", copy.deepcopy(truth[:-1])
    yield "extra_class", copy.deepcopy(truth) + [{"Finance": {}}]
    yield "empty", []
    for position, entry in enumerate(truth):
        ((cls, attributes),) = entry.items()
        for attribute, value in attributes.items():
            prefix = f"{cls}.{attribute}"
            if isinstance(value, bool):
                yield f"{prefix}:flip", _replace(truth, position, attribute, not value)
            elif isinstance(value, dict) and value:
                first = next(iter(value))
                yield f"{prefix}:drop_key", _replace(truth, position, attribute, {k: v for k, v in value.items() if k != first})
                yield f"{prefix}:extra_key", _replace(truth, position, attribute, {**value, "99": {"note": "extra"}})
                leaf = _first_leaf(value, (int, float), exclude=(bool,))
                if leaf is not None:
                    yield f"{prefix}:number", _replace(truth, position, attribute, _set_path(value, leaf, _get_path(value, leaf) + 1))
                leaf = _first_leaf(value, str)
                if leaf is not None:
                    yield f"{prefix}:string", _replace(truth, position, attribute, _set_path(value, leaf, _get_path(value, leaf) + "!"))
            elif isinstance(value, list):
                yield f"{prefix}:append", _replace(truth, position, attribute, value + ["extra"])
                if value:
                    yield f"{prefix}:drop", _replace(truth, position, attribute, value[:-1])
            yield f"{prefix}:missing", _replace(truth, position, attribute, None, drop=True)
        yield f"{cls}:extra_attribute", _replace(truth, position, "unexpected_attribute", 1)


def _replace(truth: list[dict[str, Any]], position: int, attribute: str, value: Any, drop: bool = False) -> list[dict[str, Any]]:
    out = copy.deepcopy(truth)
    ((cls, attributes),) = out[position].items()
    if drop:
        attributes.pop(attribute, None)
    else:
        attributes[attribute] = value
    return out


def _process_mutations(item: AceItem) -> Iterator[tuple[str, list[str]]]:
    path = milestones(item)
    yield "milestones", list(path)
    yield "milestones_padded", [f"  {m}  " for m in path]
    if path:
        yield "drop_first", path[1:]
        yield "drop_last", path[:-1]
        yield "reversed", list(reversed(path))
        yield "with_noise", [x for m in path for x in (m, "[view_logged_in_users()]")]
    yield "none", []
    for alternative in range(1, milestone_paths(item)):
        yield f"alternative{alternative}", milestones(item, alternative)


def state_predictions(item: AceItem) -> list[dict[str, Any]]:
    """Final-state predictions for an agent item; each pairs a state with a process variant."""
    out = []
    processes = list(_process_mutations(item))
    for index, (mutation, states) in enumerate(_state_mutations(item.ground_truth)):
        process_name, process = processes[index % len(processes)]
        payload = {"states": states, "process": process}
        out.append(
            {
                "id": item.id,
                "category": item.category,
                "kind": "state",
                "mutation": f"{mutation}|{process_name}",
                **payload,
                "sha": prediction_hash(payload),
            }
        )
    return out


# -- agent: message sequences to execute ---------------------------------------------------------


def perturbed_message(message: str, change: Callable[[Any], Any]) -> str:
    """The message with the first plain argument of each call changed (unchanged if it does not decode)."""
    try:
        calls = decode_execution(message, non_call="skip")
    except DecodeError:
        return message
    if not calls:
        return message
    rendered = []
    for call in calls:
        ((name, arguments),) = call.items()
        changed = False
        new = {}
        for key, value in arguments.items():
            if not changed and not isinstance(value, dict):
                new[key] = change(value)
                changed = True
            else:
                new[key] = value
        rendered.append(render_call(name, new))
    return "[" + ", ".join(rendered) + "]"


def changed_value(value: Any) -> Any:
    """A different value of the same kind (quantities of order items drop to 0)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        first = dict(value[0])
        if "quantity" in first:
            first["quantity"] = 0
        return [first, *value[1:]]
    return value


_VOCABULARY = {
    "string": "Eve",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [{"product": "Margherita Pizza", "quantity": 1}],
    "object": {},
}


def _probe_call(doc: dict[str, Any], vocabulary: dict[str, Any]) -> str:
    parameters = doc.get("parameters") or {}
    properties = parameters.get("properties") or {}
    arguments = {}
    for name in parameters.get("required") or []:
        if name in vocabulary:
            arguments[name] = vocabulary[name]
        else:
            arguments[name] = _VOCABULARY.get((properties.get(name) or {}).get("type", "string"), "Eve")
    return "[" + render_call(doc["name"], arguments) + "]"


def _argument_vocabulary(item: AceItem) -> dict[str, Any]:
    """Argument values the milestones use (e.g. merchant names, flight numbers), by name."""
    vocabulary: dict[str, Any] = {}
    for alternative in range(milestone_paths(item)):
        for message in milestones(item, alternative):
            try:
                calls = decode_execution(message, non_call="skip") or []
            except DecodeError:
                continue
            for call in calls:
                for arguments in call.values():
                    for key, value in arguments.items():
                        vocabulary.setdefault(key, value)
    return vocabulary


def _edge_cases(item: AceItem) -> list[str]:
    """Calls at the boundaries of the backends' rules, built from the language's initial data
    (an order costing exactly the balance, searches over placed orders, full inboxes, flights
    that do not exist, cancellations and cabin changes)."""
    data = world(item.language)["initial"]
    texts = world(item.language)["texts"]
    messages: list[str] = ["[turn_on_wifi()]", "[login_device()]"]
    classes = set(item.involved_classes)
    if "FoodPlatform" in classes:
        users = data["FoodPlatform"]["users"]
        merchants = data["FoodPlatform"]["merchant_list"]
        for user, info in list(users.items())[:3]:
            messages.append(f"[login_food_platform(username={user!r}, password={info['password']!r})]")
        buyer, info = next(iter(users.items()))
        merchant, entry = next(iter(merchants.items()))
        product = entry["menu"][0]
        exact = int(info["balance"] // product["price"])
        messages += [
            f"[add_food_delivery_order(username={buyer!r}, merchant_name={merchant!r}, items=[{{'product': {product['product']!r}, 'quantity': {exact}}}])]",
            f"[add_food_delivery_order(username={buyer!r}, merchant_name={merchant!r}, items=[{{'product': {product['product']!r}}}])]",
            f"[add_food_delivery_order(username={buyer!r}, merchant_name={merchant!r}, items=[{{'product': {product['product']!r}, 'quantity': 1.5}}])]",
            f"[search_orders(keyword={merchant[:3]!r})]",
            f"[search_orders(keyword={product['product'][:4]!r})]",
            f"[view_orders(user_name={buyer!r})]",
            "[check_balance(user_name='Nobody')]",
            f"[get_products(merchant_name={merchant!r})]",
            "[view_logged_in_users()]",
        ]
        exact_orders = [
            (u, m, p["product"], int(i["balance"] // p["price"]), i["password"])
            for u, i in users.items()
            for m, e in merchants.items()
            for p in e["menu"]
            if u != buyer and i["balance"] % p["price"] == 0
        ]
        if exact_orders:  # costs exactly the balance: English accepts, Chinese refuses
            user, merchant, product_name, quantity, password = exact_orders[0]
            messages += [
                f"[login_food_platform(username={user!r}, password={password!r})]",
                f"[add_food_delivery_order(username={user!r}, merchant_name={merchant!r}, items=[{{'product': {product_name!r}, 'quantity': {quantity}}}])]",
            ]
    if "MessageApi" in classes:
        messages += [
            "[send_message(sender_name='Eve', receiver_name='Frank', message='one')]",
            "[delete_message(message_id=1)]",
            "[send_message(sender_name='Eve', receiver_name='Frank', message='two')]",
            "[get_latest_message_id()]",
            "[get_all_message_times_with_ids()]",
            "[search_messages(user_name='Eve', keyword='TWO')]",
            "[view_messages_between_users(sender_name='Eve', receiver_name='Frank')]",
            "[delete_message(message_id=[1])]",
        ]
    if "ReminderApi" in classes:
        messages += [
            "[view_all_reminders()]",
            "[add_reminder(title='A', description='B', time='2024-07-15 09:30')]",
            "[add_reminder(title='C', description='D', time='2024-07-15 10:30')]",
            "[add_reminder(title='E', description='F', time='2024-07-15 11:30')]",
            "[add_reminder(title='G', description='H', time='2024-07-15 12:30')]",
            "[delete_reminder(reminder_id=1001)]",
            "[delete_reminder(reminder_id=2)]",
            "[mark_as_notified(reminder_id=1)]",
            "[search_reminders(keyword='A')]",
            "[search_reminders(keyword='zzz')]",
        ]
    if "Travel" in classes:
        economy, business = texts["travel_economy"], texts["travel_business"]
        flight = data["Travel"]["flights"][0]
        messages += [
            f"[reserve_flight(user_id='user1', password='password123', flight_no='XX0000', cabin={economy!r}, payment_method='bank', baggage_count=1)]",
            f"[reserve_flight(user_id='user1', password='wrong', flight_no={flight['flight_no']!r}, cabin={economy!r}, payment_method='bank', baggage_count=1)]",
            f"[reserve_flight(user_id='user3', password='password789', flight_no={flight['flight_no']!r}, cabin={business!r}, payment_method='cash', baggage_count=5)]",
            f"[reserve_flight(user_id='user1', password='password123', flight_no={flight['flight_no']!r}, cabin={economy!r}, payment_method='card', baggage_count=0)]",
            f"[modify_flight(user_id='user1', reservation_id='res_1', new_cabin={business!r}, add_baggage=3)]",
            f"[modify_flight(user_id='user1', reservation_id='res_2', new_cabin={economy!r}, new_payment_method='cash')]",
            "[modify_flight(user_id='user2', reservation_id='res_3', new_flight_no='CZ4321')]",
            f"[cancel_reservation(user_id='user1', reservation_id='res_1', reason={texts['travel_airline_cancel_reason']!r})]",
            "[cancel_reservation(user_id='user1', reservation_id='res_2', reason='other')]",
            "[cancel_reservation(user_id='user2', reservation_id='res_4', reason='other')]",
            f"[find_transfer_flights(origin_city={flight['origin']!r}, transfer_city={flight['destination']!r}, destination_city={flight['origin']!r})]",
            "[get_reservation_details()]",
            "[get_reservation_details(user_id='user2')]",
            "[process_refund(user={'cash_balance': 1}, amount=5)]",
            "[get_user_details(user_id='user2', password='password456')]",
        ]
    return messages


def replay_sequences(item: AceItem) -> list[dict[str, Any]]:
    """Message sequences that exercise an agent item's backends (milestones, perturbations, every
    function once, error paths)."""
    sequences: list[tuple[str, list[str]]] = []
    for alternative in range(milestone_paths(item)):
        sequences.append((f"milestones{alternative}", milestones(item, alternative)))
    path = milestones(item)
    sequences.append(("reversed", list(reversed(path))))
    sequences.append(("doubled", [m for m in path for _ in range(2)]))
    sequences.append(("perturbed", [perturbed_message(m, changed_value) for m in path]))
    vocabulary = _argument_vocabulary(item)
    probes = [_probe_call(doc, vocabulary) for doc in item.functions]
    sequences.append(("every_function", probes + path))
    sequences.append(("every_function_after", path + probes))
    sequences.append(
        (
            "errors",
            [
                "[no_such_method(x=1)]",
                "[" + item.functions[0]["name"] + "(unexpected_argument=1)]" if item.functions else "[x()]",
                "[send_message('Eve')]",
                "[add_food_delivery_order(username='Eve', merchant_name='Heytea', items=[dict(product='Cheese Milk Tea', quantity=2)])]",
                "[login_food_platform(username='Eve', password='password123'), 'oops']",
                "finish the task please",
                "[]",
                "[turn_on_wifi(), login_device()]",
                *path,
                "[get_products(merchant_name=1+2)]",
                "[delete_message(message_id=-1)]",
            ],
        )
    )
    sequences.append(("edge_cases", _edge_cases(item)))
    out = []
    for name, messages in sequences:
        out.append(
            {
                "id": item.id,
                "category": item.category,
                "kind": "replay",
                "sequence": name,
                "messages": messages,
                "sha": prediction_hash(messages),
            }
        )
    return out


def all_predictions(items: list[AceItem]) -> list[dict[str, Any]]:
    """Every prediction for `items`, in item order."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item.category in AGENT:
            out.extend(state_predictions(item))
            out.extend(replay_sequences(item))
        else:
            out.extend(text_predictions(item))
    return out
