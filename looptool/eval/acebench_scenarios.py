"""ACEBench's simulated phone platform and airline, re-implemented: the backends the agent
categories execute model calls on.

Why our own classes: ACEBench's scenario code is not installable and may not be copied here;
what scores an agent item is the backends' final state, so what matters is that the same calls
produce the same states and the same results. Initial states, result texts and the few
behaviours that differ between the English and the Chinese version come from
`looptool/eval/data/acebench/scenarios/<lang>.json` (dumped from ACEBench's classes, MIT); the
behaviour is written here. tests/eval/test_acebench_scenarios.py replays the golden message
sequences (run on ACEBench's own classes by scripts/acebench_official_golden.py) and requires
identical results after every step and identical final states.

Faithfulness notes (each one is ACEBench's behaviour, kept because it decides states):
  * every phone class inherits `turn_on_wifi`/`login_device` and has its own copy of the
    Wi-Fi/login flags; the executor calls such a method on every involved instance;
  * `_load_scenario` runs twice per instance (its own config, then BaseApi's), so BaseApi's
    flags win and FoodPlatform's `logged_in_users` is reset by the second call;
  * message and reminder ids are dict keys; a sent message has no "time", so the latest/earliest
    lookups then fail with KeyError('time');
  * Travel's `cancel_reservation` refunds but keeps the reservation; `reserve_flight` with an
    unknown flight fails with a TypeError (no check before the lookup);
  * Chinese FoodPlatform refuses an order costing exactly the balance (`>=`), and its
    `search_orders` calls `.lower()` on order items (dicts), which fails unless the merchant
    name already matched.
Method signatures (names, parameters, defaults) are ACEBench's, so a wrong call fails with the
same TypeError text Python gives there.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "data" / "acebench" / "scenarios"

# What the evaluator reads from each class (ACEBench's SAVED_CLASS).
SAVED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "BaseApi": ("wifi", "logged_in"),
    "MessageApi": ("inbox",),
    "ReminderApi": ("reminder_list",),
    "FoodPlatform": ("users", "logged_in_users", "orders"),
    "Travel": ("users", "reservations"),
}


@lru_cache(maxsize=4)
def world(language: str) -> dict[str, Any]:
    """Initial states, texts, switches and the allow-list of one language version."""
    data = json.loads((SCENARIO_DIR / f"{language}.json").read_text(encoding="utf-8"))
    for cls, key in (("MessageApi", "inbox"), ("ReminderApi", "reminder_list")):
        data["initial"][cls][key] = {int(k): v for k, v in data["initial"][cls][key].items()}
    return data


class _Scenario:
    def __init__(self, language: str) -> None:
        self._world = world(language)
        self._texts: dict[str, str] = self._world["texts"]
        self._switches: dict[str, bool] = self._world["switches"]

    def _text(self, key: str, **fields: Any) -> str:
        return self._texts[key].format(**fields)

    def _initial(self, cls: str) -> dict[str, Any]:
        return copy.deepcopy(self._world["initial"][cls])


class BaseApi(_Scenario):
    def __init__(self, language: str) -> None:
        super().__init__(language)
        self.wifi = False
        self.logged_in = True

    def _load_scenario(self, scenario: dict, long_context: bool = False) -> None:
        self.wifi = scenario.get("wifi", False)
        self.logged_in = scenario.get("logged_in", True)

    def turn_on_wifi(self):
        self.wifi = True
        return {"status": True, "message": self._text("wifi_on")}

    def login_device(self):
        self.logged_in = True
        return {"status": True, "message": self._text("device_login")}


class MessageApi(BaseApi):
    def __init__(self, language: str) -> None:
        super().__init__(language)
        initial = self._initial("MessageApi")
        self.max_capacity = initial["max_capacity"]
        self.user_list = initial["user_list"]
        self.inbox = initial["inbox"]
        self.message_id_counter = initial["message_id_counter"]

    def send_message(self, sender_name: str, receiver_name: str, message: str):
        if self.logged_in == False:  # noqa: E712 - ACEBench compares with ==
            return {"status": False, "message": self._text("send_not_logged_in")}
        if self.wifi == False:  # noqa: E712
            return {"status": False, "message": self._text("send_no_wifi")}
        if len(self.inbox) >= self.max_capacity:
            return {"status": False, "message": self._text("send_full")}
        if sender_name not in self.user_list or receiver_name not in self.user_list:
            return {"status": False, "message": self._text("send_unknown_user")}
        sender_id = self.user_list[sender_name]["user_id"]
        receiver_id = self.user_list[receiver_name]["user_id"]
        self.message_id_counter += 1
        self.inbox[self.message_id_counter] = {"sender_id": sender_id, "receiver_id": receiver_id, "message": message}
        return {"status": True, "message": self._text("send_ok", receiver_name=receiver_name)}

    def delete_message(self, message_id: int):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("delete_not_logged_in")}
        if message_id not in self.inbox:
            return {"status": False, "message": self._text("delete_unknown")}
        del self.inbox[message_id]
        return {"status": True, "message": self._text("delete_ok", message_id=message_id)}

    def view_messages_between_users(self, sender_name: str, receiver_name: str):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("view_not_logged_in")}
        if sender_name not in self.user_list:
            return {"status": False, "message": self._text("view_unknown_sender")}
        if receiver_name not in self.user_list:
            return {"status": False, "message": self._text("view_unknown_receiver")}
        sender_id = self.user_list[sender_name]["user_id"]
        receiver_id = self.user_list[receiver_name]["user_id"]
        found = [
            {"id": message_id, "sender": sender_name, "receiver": receiver_name, "message": entry["message"]}
            for message_id, entry in self.inbox.items()
            if entry["sender_id"] == sender_id and entry["receiver_id"] == receiver_id
        ]
        if not found:
            return {"status": False, "message": self._text("view_none")}
        return {"status": True, "messages": found}

    def search_messages(self, user_name: str, keyword: str):
        if user_name not in self.user_list:
            return {"status": False, "message": self._text("search_unknown_user")}
        user_id = self.user_list[user_name]["user_id"]
        found = []
        for message_id, entry in self.inbox.items():
            if (entry["sender_id"] == user_id or entry["receiver_id"] == user_id) and keyword.lower() in entry["message"].lower():
                found.append(
                    {"id": message_id, "sender_id": entry["sender_id"], "receiver_id": entry["receiver_id"], "message": entry["message"]}
                )
        if not found:
            return {"status": False, "message": self._text("search_none")}
        return {"status": True, "messages": found}

    def get_all_message_times_with_ids(self):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("times_not_logged_in")}
        return {message_id: entry["time"] for message_id, entry in self.inbox.items()}

    def _extreme_message_id(self, later: bool) -> int | None:
        best_id, best_time = None, None
        for message_id, entry in self.inbox.items():
            when = datetime.strptime(entry["time"], "%Y-%m-%d")
            if best_time is None or (when > best_time if later else when < best_time):
                best_id, best_time = message_id, when
        return best_id

    def get_latest_message_id(self):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("latest_not_logged_in")}
        if not self.inbox:
            return {"status": False, "message": self._text("latest_empty")}
        message_id = self._extreme_message_id(later=True)
        return {"status": True, "message": self._text("latest_ok", message_id=message_id), "message_id": message_id}

    def get_earliest_message_id(self):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("earliest_not_logged_in")}
        if not self.inbox:
            return {"status": False, "message": self._text("earliest_empty")}
        message_id = self._extreme_message_id(later=False)
        return {"status": True, "message": self._text("earliest_ok", message_id=message_id), "message_id": message_id}


class ReminderApi(BaseApi):
    def __init__(self, language: str) -> None:
        _Scenario.__init__(self, language)  # ACEBench's ReminderApi never sets the flags before loading
        initial = self._initial("ReminderApi")
        self.max_capacity = initial["max_capacity"]
        self.reminder_list = initial["reminder_list"]
        self.reminder_id_counter = initial["reminder_id_counter"]

    def _check_capacity(self) -> bool:
        return len(self.reminder_list) >= self.max_capacity

    def view_reminder_by_title(self, title: str):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("reminder_view_not_logged_in")}
        for reminder in self.reminder_list.values():
            if reminder["title"] == title:
                return {"status": True, "reminder": reminder}
        return {"status": False, "message": self._text("reminder_view_none", title=title)}

    def add_reminder(self, title: str, description: str, time: datetime):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("reminder_add_not_logged_in")}
        if self._check_capacity():
            return {"status": False, "message": self._text("reminder_add_full")}
        self.reminder_id_counter += 1
        reminder_id = self.reminder_id_counter
        self.reminder_list[reminder_id] = {
            "reminder_id": reminder_id,
            "title": title,
            "description": description,
            "time": time,
            "notified": False,
        }
        return {"status": True, "message": self._text("reminder_add_ok", title=title)}

    def delete_reminder(self, reminder_id: int):
        if self.logged_in == False:  # noqa: E712
            return {"status": False, "message": self._text("reminder_delete_not_logged_in")}
        if reminder_id not in self.reminder_list:
            return {"status": False, "message": self._text("reminder_delete_unknown")}
        del self.reminder_list[reminder_id]
        return {"status": True, "message": self._text("reminder_delete_ok", reminder_id=reminder_id)}

    def view_all_reminders(self):
        if not self.reminder_list:
            return {"status": False, "message": self._text("reminder_none")}
        reminders = [
            {"title": r["title"], "description": r["description"], "time": r["time"], "notified": r["notified"]}
            for r in self.reminder_list.values()
        ]
        return {"status": True, "reminders": reminders}

    # The Chinese version only (see the allow-list in scenarios/zh.json).
    def mark_as_notified(self, reminder_id: int):
        if reminder_id not in self.reminder_list:
            return {"status": False, "message": self._text("reminder_notified_unknown")}
        self.reminder_list[reminder_id]["notified"] = True
        return {"status": True, "message": self._text("reminder_notified_ok", reminder_id=reminder_id)}

    def search_reminders(self, keyword: str):
        found = []
        for reminder in self.reminder_list.values():
            if keyword.lower() in reminder["title"].lower() or keyword.lower() in reminder["description"].lower():
                # ACEBench formats the time with strftime, but times are strings: this raises.
                found.append(
                    {
                        "title": reminder["title"],
                        "description": reminder["description"],
                        "time": reminder["time"].strftime("%Y-%m-%d %H:%M"),
                    }
                )
        if not found:
            return {"status": False, "message": self._text("reminder_search_none")}
        return {"status": True, "reminders": found}


class FoodPlatform(BaseApi):
    def __init__(self, language: str) -> None:
        _Scenario.__init__(self, language)
        initial = self._initial("FoodPlatform")
        self.users = initial["users"]
        self.merchant_list = initial["merchant_list"]
        self.logged_in_users: list[str] = []
        self.orders: list[dict[str, Any]] = []

    def _load_scenario(self, scenario: dict, long_context: bool = False) -> None:
        self.wifi = scenario.get("wifi", False)
        self.logged_in = scenario.get("logged_in", True)
        self.logged_in_users = scenario.get("logged_in_users", [])

    def login_food_platform(self, username: str, password: str):
        if self.wifi == False:  # noqa: E712
            return {"status": False, "message": self._text("food_login_no_wifi")}
        if username not in self.users:
            return {"status": False, "message": self._text("food_login_unknown")}
        if self.users[username]["password"] != password:
            return {"status": False, "message": self._text("food_login_bad_password")}
        if username in self.logged_in_users:
            return {"status": False, "message": self._text("food_login_already", username=username)}
        self.logged_in_users.append(username)
        return {"status": True, "message": self._text("food_login_ok", username=username)}

    def view_logged_in_users(self):
        if not self.logged_in_users:
            return {"status": False, "message": self._text("food_nobody_logged_in")}
        return {"status": True, "logged_in_users": self.logged_in_users}

    def check_balance(self, user_name: str):
        if user_name in self.users:
            return self.users[user_name]["balance"]
        return 0.0  # ACEBench also prints that the user does not exist

    def add_food_delivery_order(self, username: str, merchant_name: str, items: list):
        if username not in self.logged_in_users:
            return {"status": False, "message": self._text("food_order_not_logged_in", username=username)}
        if merchant_name not in self.merchant_list:
            return {"status": False, "message": self._text("food_order_unknown_merchant")}
        total_price = 0.0
        order_items = []
        for item in items:
            product_name = item.get("product")
            quantity = item.get("quantity", 1)
            if not isinstance(quantity, int) or quantity <= 0:
                return {"status": False, "message": self._text("food_order_bad_quantity", quantity=quantity, product_name=product_name)}
            entry = next((p for p in self.merchant_list[merchant_name]["menu"] if p["product"] == product_name), None)
            if entry is None:
                return {
                    "status": False,
                    "message": self._text("food_order_unknown_product", product_name=product_name, merchant_name=merchant_name),
                }
            total_price += entry["price"] * quantity
            order_items.append({"product": product_name, "quantity": quantity, "price_per_unit": entry["price"]})
        balance = self.users[username]["balance"]
        short = total_price >= balance if self._switches["order_balance_must_exceed_total"] else total_price > balance
        if short:
            return {"status": False, "message": self._text("food_order_insufficient")}
        self.users[username]["balance"] -= total_price
        self.orders.append({"user_name": username, "merchant_name": merchant_name, "items": order_items, "total_price": total_price})
        return {"status": True, "message": self._text("food_order_ok", merchant_name=merchant_name, total_price=total_price)}

    def get_products(self, merchant_name: str):
        merchant = self.merchant_list.get(merchant_name)
        if merchant:
            return merchant["menu"]
        return {"status": False, "message": self._text("food_products_unknown", merchant_name=merchant_name)}

    def view_orders(self, user_name: str):
        user_orders = [order for order in self.orders if order["user_name"] == user_name]
        if not user_orders:
            return {"status": False, "message": self._text("food_orders_none")}
        return {"status": True, "orders": user_orders}

    def search_orders(self, keyword: str):
        def item_matches(item: Any) -> bool:
            if self._switches["search_orders_reads_items_as_text"]:
                return keyword.lower() in item.lower()
            return keyword.lower() in item["product"].lower()

        matched = [
            order
            for order in self.orders
            if keyword.lower() in order["merchant_name"].lower() or any(item_matches(i) for i in order.get("items", []))
        ]
        if not matched:
            return {"status": False, "message": self._text("food_search_none")}
        return {"status": True, "orders": matched}


class Travel(_Scenario):
    def __init__(self, language: str) -> None:
        super().__init__(language)
        initial = self._initial("Travel")
        self.users = initial["users"]
        self.flights = initial["flights"]
        self.reservations = initial["reservations"]

    def _load_scenario(self, scenario: dict, long_context: bool = False) -> None:
        return None

    def _cabins(self) -> tuple[str, str]:
        return self._text("travel_economy"), self._text("travel_business")

    def get_flight_details(self, origin: str = None, destination: str = None):
        flights = self.flights
        if origin:
            flights = [f for f in flights if f["origin"] == origin]
        if destination:
            flights = [f for f in flights if f["destination"] == destination]
        if len(flights) == 0:
            return self._text("travel_no_direct")
        keys = (
            "flight_no",
            "origin",
            "destination",
            "depart_time",
            "arrival_time",
            "status",
            "seats_available",
            "economy_price",
            "business_price",
        )
        return [{key: f[key] for key in keys} for f in flights]

    def get_user_details(self, user_id: str, password: str):
        user = self.users.get(user_id)
        if user and user["password"] == password:
            return {key: value for key, value in user.items() if key != "password"}
        return {"status": "error", "message": self._text("travel_bad_credentials")}

    def get_reservation_details(self, reservation_id: str = None, user_id: str = None):
        if reservation_id:
            reservations = [r for r in self.reservations if r["reservation_id"] == reservation_id]
        elif user_id:
            reservations = [r for r in self.reservations if r["user_id"] == user_id]
        else:
            return {"status": "error", "message": self._text("travel_reservation_query_invalid")}
        detailed = []
        for reservation in reservations:
            flight = next((f for f in self.flights if f["flight_no"] == reservation["flight_no"]), None)
            detailed.append({**reservation, "flight_info": flight})
        return detailed

    def authenticate_user(self, user_id, password):
        user = self.users.get(user_id)
        if user and user["password"] == password:
            return user
        return {"status": "error", "message": self._text("travel_bad_credentials")}

    def get_baggage_allowance(self, membership_level, cabin_class):
        economy, business = self._cabins()
        allowance = {"regular": {economy: 1, business: 2}, "silver": {economy: 2, business: 3}, "gold": {economy: 3, business: 3}}
        return allowance.get(membership_level, {}).get(cabin_class, 0)

    def find_transfer_flights(self, origin_city, transfer_city, destination_city):
        first_legs = [
            f for f in self.flights if f["origin"] == origin_city and f["destination"] == transfer_city and f["status"] == "available"
        ]
        second_legs = [
            f for f in self.flights if f["origin"] == transfer_city and f["destination"] == destination_city and f["status"] == "available"
        ]
        pairs = []
        for first in first_legs:
            arrival = datetime.strptime(first["arrival_time"], "%Y-%m-%d %H:%M:%S")
            for second in second_legs:
                if arrival < datetime.strptime(second["depart_time"], "%Y-%m-%d %H:%M:%S"):
                    pairs.append({"first_leg": first, "second_leg": second})
        return pairs if pairs else self._text("travel_no_transfer")

    def calculate_baggage_fee(self, membership_level, cabin_class, baggage_count):
        economy, business = self._cabins()
        free = {"regular": {economy: 1, business: 2}, "silver": {economy: 2, business: 3}, "gold": {economy: 3, business: 3}}
        free_limit = free[membership_level][cabin_class]
        return max(baggage_count - free_limit, 0) * 50

    def update_balance(self, user, payment_method, amount):
        if payment_method == "cash":
            if user["cash_balance"] + amount < 0:
                return False
            user["cash_balance"] += amount
        elif payment_method == "bank":
            if user["bank_balance"] + amount < 0:
                return False
            user["bank_balance"] += amount
        return True

    def reserve_flight(self, user_id, password, flight_no, cabin, payment_method, baggage_count):
        user = self.authenticate_user(user_id, password)
        if not user:
            return self._text("travel_auth_failed")
        flight = next((f for f in self.flights if f["flight_no"] == flight_no and f["status"] == "available"), None)
        economy, _ = self._cabins()
        price = flight["economy_price"] if cabin == economy else flight["business_price"]  # None flight: TypeError, as in ACEBench
        total_cost = price + self.calculate_baggage_fee(user["membership_level"], cabin, baggage_count)
        if payment_method not in ["cash", "bank"]:
            return self._text("travel_invalid_payment")
        balance_key = "cash_balance" if payment_method == "cash" else "bank_balance"
        if total_cost > self.users.get(user_id)[balance_key]:
            return self._text("travel_cash_insufficient" if payment_method == "cash" else "travel_bank_insufficient")
        self.users.get(user_id)[balance_key] -= total_cost
        flight["seats_available"] -= 1
        reservation_id = f"res_{len(self.reservations) + 1}"
        self.reservations.append(
            {
                "reservation_id": reservation_id,
                "user_id": user_id,
                "flight_no": flight_no,
                "payment_method": payment_method,
                "cabin": cabin,
                "baggage": baggage_count,
            }
        )
        return self._text("travel_booked", reservation_id=reservation_id, total_cost=total_cost)

    def modify_flight(self, user_id, reservation_id, new_flight_no=None, new_cabin=None, add_baggage=0, new_payment_method=None):
        reservation = next((r for r in self.reservations if r["reservation_id"] == reservation_id and r["user_id"] == user_id), None)
        if not reservation:
            return self._text("travel_modify_not_found")
        current_flight = next((f for f in self.flights if f["flight_no"] == reservation["flight_no"]), None)
        if not current_flight:
            return self._text("travel_modify_no_flight")
        payment_method = new_payment_method if new_payment_method else reservation["payment_method"]
        user = self.users[user_id]
        if not user:
            return self._text("travel_modify_no_user")
        messages = []
        if new_flight_no and new_flight_no != reservation["flight_no"]:
            new_flight = next((f for f in self.flights if f["flight_no"] == new_flight_no), None)
            if (
                new_flight
                and new_flight["origin"] == current_flight["origin"]
                and new_flight["destination"] == current_flight["destination"]
            ):
                reservation["flight_no"] = new_flight_no
                messages.append(self._text("travel_flight_changed"))
            else:
                return self._text("travel_flight_change_failed")
        if new_cabin and new_cabin != reservation.get("cabin"):
            difference = self.calculate_price_difference(current_flight, reservation["cabin"], new_cabin)
            reservation["cabin"] = new_cabin
            if difference > 0:
                if self.update_balance(user, payment_method, -difference):
                    messages.append(self._text("travel_cabin_paid", difference=difference))
                else:
                    messages.append(self._text("travel_cabin_unpaid"))
            elif difference < 0:
                self.update_balance(user, payment_method, -difference)
                messages.append(self._text("travel_cabin_refunded", difference=-difference))
        if add_baggage > 0:
            allowance = self.get_baggage_allowance(user["membership_level"], reservation["cabin"])
            total = reservation.get("baggage", 0) + add_baggage
            cost = max(0, total - allowance) * 50
            if cost > 0:
                if self.update_balance(user, payment_method, -cost):
                    messages.append(self._text("travel_baggage_paid", cost=cost))
                else:
                    messages.append(self._text("travel_baggage_unpaid"))
            reservation["baggage"] = total
        if not messages:
            messages.append(self._text("travel_no_fee"))
        return " ".join(messages)

    def cancel_reservation(self, user_id, reservation_id, reason):
        now = datetime(2024, 7, 14, 6, 0, 0)
        user = self.users.get(user_id, None)
        if not user:
            return self._text("travel_cancel_invalid_user")
        reservation = next((r for r in self.reservations if r["reservation_id"] == reservation_id and r["user_id"] == user_id), None)
        if not reservation:
            return self._text("travel_cancel_invalid_reservation")
        flight = next((f for f in self.flights if f["flight_no"] == reservation["flight_no"]), None)
        if not flight:
            return self._text("travel_cancel_invalid_flight")
        departure = datetime.strptime(flight["depart_time"], "%Y-%m-%d %H:%M:%S")
        if now > departure:
            return self._text("travel_cancel_used")
        economy, _ = self._cabins()
        price = flight["economy_price"] if reservation["cabin"] == economy else flight["business_price"]
        if reason == self._text("travel_airline_cancel_reason"):
            self.process_refund(user, price)
            return self._text("travel_cancel_airline", refund=price)
        if departure - now > timedelta(days=1):
            self.process_refund(user, price)
            return self._text("travel_cancel_free", refund=price)
        fee = price * 0.1
        refund = price - fee
        self.process_refund(user, refund)
        return self._text("travel_cancel_fee", fee=fee, refund=refund)

    def process_refund(self, user, amount):
        user["cash_balance"] += amount
        self._text("travel_refund_note", user_name=user["user_name"], amount=amount)  # ACEBench prints this; the lookup can fail

    def calculate_price_difference(self, flight, old_cabin, new_cabin):
        economy, business = self._cabins()
        prices = {economy: flight["economy_price"], business: flight["business_price"]}
        return prices.get(new_cabin, 0) - prices.get(old_cabin, 0)


CLASSES: dict[str, type[_Scenario]] = {
    "BaseApi": BaseApi,
    "MessageApi": MessageApi,
    "ReminderApi": ReminderApi,
    "FoodPlatform": FoodPlatform,
    "Travel": Travel,
}


def allowed_methods(cls: str, language: str) -> tuple[str, ...]:
    """The methods a model may call on `cls` (ACEBench's public methods of that class)."""
    return tuple(world(language)["methods"][cls])
