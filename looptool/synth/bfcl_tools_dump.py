"""Print BFCL's function docs as JSON lines; runs inside the bfcl runtime env (stdlib only).

Single-turn categories give one domain per category; the multi-turn docs name the stateful
backend class that executes them, so the pool can route those tools to a real backend.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SINGLE_TURN = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
BACKENDS = {
    "gorilla_file_system": "GorillaFileSystem",
    "math_api": "MathAPI",
    "message_api": "MessageAPI",
    "posting_api": "TwitterAPI",
    "ticket_api": "TicketAPI",
    "trading_bot": "TradingBot",
    "travel_booking": "TravelAPI",
    "vehicle_control": "VehicleControlAPI",
}


def main() -> int:
    import bfcl_eval

    data = Path(bfcl_eval.__file__).resolve().parent / "data"
    for category in SINGLE_TURN:
        files = sorted(data.glob(f"BFCL_v*_{category}.json"))
        for path in files[-1:]:
            for line_number, line in enumerate(path.read_text().splitlines(), start=1):
                if line.strip():
                    for index, spec in enumerate(json.loads(line).get("function", [])):
                        print(json.dumps({"domain": f"bfcl/{category}", "where": f"{path.name}:{line_number}[{index}]", "spec": spec}))
    for path in sorted((data / "multi_turn_func_doc").glob("*.json")):
        backend = BACKENDS.get(path.stem)
        if backend is None:
            continue
        for line_number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                spec = json.loads(line)
                spec["backend"] = f"bfcl:{backend}"
                print(json.dumps({"domain": f"bfcl/{path.stem}", "where": f"{path.name}:{line_number}", "spec": spec}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
