"""Stand-in for `python -m vllm.entrypoints.openai.api_server` in the fast supervisor tests.

It honours the flags the supervisor relies on (--host, --port, --served-model-name), answers
/health and /v1/models like vLLM, and like vLLM it has a child process in its process group, so
the tests can check that stopping reaches the whole group. FAKE_VLLM_MODE picks a failure:
  ok           serve normally
  die          print an error and exit 3 before listening (early death)
  hang         never listen (startup timeout)
  ignore_term  serve, but ignore SIGTERM (forces the SIGKILL escalation)
FAKE_VLLM_READY_AFTER (seconds) makes /health answer 503 for a while, as vLLM does while loading.
Whatever happens to the test that started it, the fake kills its own process group after
FAKE_VLLM_LIFETIME seconds (default 120), so a failed test cannot leave it running for long.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--served-model-name", required=True)
args, _ = parser.parse_known_args()
mode = os.environ.get("FAKE_VLLM_MODE", "ok")
ready_at = time.monotonic() + float(os.environ.get("FAKE_VLLM_READY_AFTER", "0"))
print(f"fake vllm: mode {mode} on port {args.port}", flush=True)
lifetime = float(os.environ.get("FAKE_VLLM_LIFETIME", "120"))
# Only safe because the supervisor (and the tests) start the fake in a process group of its own.
watchdog = threading.Timer(lifetime, os.killpg, (os.getpgrp(), signal.SIGKILL))
watchdog.daemon = True
watchdog.start()

if mode == "die":
    print("fake vllm: ValueError: cannot load the model", flush=True)
    sys.exit(3)
if mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen(
    [
        sys.executable,
        "-c",
        "import signal, sys, time; "
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN); " if mode == "ignore_term" else "")
        + "time.sleep(300)",
        f"fake-vllm-worker-of-{args.served_model_name}",
    ]
)
if mode == "hang":
    time.sleep(lifetime + 1)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200 if time.monotonic() >= ready_at else 503, b"")
        elif self.path == "/v1/models":
            body = {"object": "list", "data": [{"id": args.served_model_name, "object": "model"}]}
            self._reply(200, json.dumps(body).encode())
        else:
            self._reply(404, b"{}")

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


http.server.ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
