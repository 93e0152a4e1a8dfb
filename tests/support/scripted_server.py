"""A scripted OpenAI-compatible server (/v1/chat/completions with usage fields) for tests, the smoke config and the
concurrency benchmark: deterministic replies for every pipeline task, a fixed latency, and injected faults (429 with
Retry-After, 500/503, timeouts, malformed bodies, empty and truncated completions, verdicts naming neither answer).
It counts what it served per request body, so a test can prove no finished request was sent twice.
Usage: `python -m tests.support.scripted_server --port 8011 [--latency_s 0.05]`."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.scripted_replies import reply_for

FAULTS = ("rate_limit", "server_500", "server_503", "timeout", "malformed", "empty", "truncated", "neither", "biased")
JUDGE_ONLY = ("neither", "biased")


@dataclass
class FaultPlan:
    """Per cent of first attempts that get each fault (`neither` and `biased`, always 'Preferred: 1', hit judge
    requests only); `poison` per cent of requests always fail with a 500; `stubborn` per cent of request bodies always
    get an empty reply, as a deterministic server answers the same body the same way (only a new seed helps)."""

    rate_limit: int = 0
    server_500: int = 0
    server_503: int = 0
    timeout: int = 0
    malformed: int = 0
    empty: int = 0
    truncated: int = 0
    neither: int = 0
    biased: int = 0
    poison: float = 0.0
    stubborn: float = 0.0
    retry_after_s: float = 0.2
    timeout_sleep_s: float = 2.0

    def pick(self, digest: int, attempt: int, task: str) -> str | None:
        if (digest >> 20) % 10_000 < self.poison * 100:
            return "poison"
        if (digest >> 40) % 10_000 < self.stubborn * 100:
            return "stubborn"
        if attempt > 1:
            return None
        roll, start = digest % 100, 0
        for name in FAULTS:
            share = getattr(self, name)
            if name in JUDGE_ONLY and task != "judge":
                continue
            if start <= roll < start + share:
                return name
            start += share
        return None


# The fault tests' mix: every kind of failure a real server shows, on a share of first attempts (`poison` is left to
# the tests that want requests that never succeed).
FAULT_MIX = FaultPlan(
    rate_limit=6,
    server_500=5,
    server_503=5,
    timeout=2,
    malformed=5,
    empty=4,
    truncated=4,
    neither=10,
    biased=8,
    stubborn=2,
    retry_after_s=0.15,
    timeout_sleep_s=1.0,
)


class Ledger:
    """Thread-safe counts: attempts and successful replies per body, faults by kind, attempt times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()
        self.served: Counter = Counter()
        self.faults: Counter = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.in_flight = self.max_in_flight = 0

    def begin(self, digest: str) -> int:
        with self.lock:
            self.attempts[digest] += 1
            self.times[digest].append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.attempts[digest]

    def end(self, digest: str, fault: str | None, served: bool) -> None:
        with self.lock:
            self.in_flight -= 1
            if fault:
                self.faults[fault] += 1
            if served:
                self.served[digest] += 1

    def summary(self) -> dict:
        with self.lock:
            return {
                "requests": sum(self.attempts.values()),
                "distinct": len(self.attempts),
                "served": sum(self.served.values()),
                "served_twice": sum(n > 1 for n in self.served.values()),
                "faults": dict(self.faults),
                "max_in_flight": self.max_in_flight,
            }


def _completion(body: dict, text: str, finish: str) -> dict:
    prompt_words = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_words + len(text.split()),
        },
    }


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16

    def log_message(self, *args) -> None:
        """Quiet: the ledger is the record."""

    def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send(status, json.dumps({"error": {"message": message, "type": "scripted"}}).encode(), headers)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.path.endswith("/chat/completions"):
            return self._error(404, f"no route {self.path}")
        expected = self.server.api_key
        if expected and self.headers.get("Authorization") != f"Bearer {expected}":
            with self.server.ledger.lock:
                self.server.ledger.faults["unauthorised"] += 1
            return self._error(401, "invalid api key")
        body = json.loads(raw)
        task, text = reply_for(body)
        if task is None:
            with self.server.ledger.lock:
                self.server.ledger.faults["invalid_request"] += 1
            return self._error(400, "unrecognised request")
        digest = hashlib.sha256(raw).hexdigest()
        attempt = self.server.ledger.begin(digest)
        fault = self.server.plan.pick(int(digest[:16], 16), attempt, task)
        time.sleep(self.server.latency_s)
        try:
            self._respond(body, text, fault)
        except (BrokenPipeError, ConnectionResetError):
            fault = fault or "client_gone"
        finally:
            self.server.ledger.end(digest, fault, fault in (None, "empty", "stubborn", "truncated", *JUDGE_ONLY))

    def _respond(self, body: dict, text: str, fault: str | None) -> None:
        plan = self.server.plan
        if fault == "rate_limit":
            return self._error(429, "slow down", {"Retry-After": str(plan.retry_after_s)})
        if fault in ("server_500", "poison"):
            return self._error(500, "internal error")
        if fault == "server_503":
            return self._error(503, "overloaded")
        if fault == "timeout":
            time.sleep(plan.timeout_sleep_s)
        if fault == "malformed":
            return self._send(200, b'{"id": "chatcmpl-scripted", "choices": [{"index": 0, "mess')
        finish = "stop"
        if fault in ("empty", "stubborn"):
            text = ""
        elif fault == "truncated":
            text, finish = text[: len(text) // 3], "length"
        elif fault == "neither":
            text = "Both answers have merits and I cannot tell which this person would like more."
        elif fault == "biased":
            text = "The first answer reads well enough.\nPreferred: 1"
        if body.get("stream"):
            return self._stream(body, text, finish)
        self._send(200, json.dumps(_completion(body, text, finish)).encode())

    def _stream(self, body: dict, text: str, finish: str) -> None:
        """The reply as server-sent events, a word per chunk: `first_token_s` before the first (a queue), then
        `token_gap_s` between chunks (generation); the usage last when the request asks for it."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        whole = _completion(body, text, finish)
        words = [w + " " for w in text.split(" ")] if text else []
        time.sleep(self.server.first_token_s)
        for i, word in enumerate(words or [""]):
            last = i == max(len(words), 1) - 1
            delta = {"index": 0, "delta": {"content": word.rstrip(" ") if last else word}, "finish_reason": None}
            if last:
                delta["finish_reason"] = finish
            self._event({**whole, "object": "chat.completion.chunk", "choices": [delta], "usage": None})
            if not last:
                time.sleep(self.server.token_gap_s)
        if body.get("stream_options", {}).get("include_usage"):
            self._event({**whole, "object": "chat.completion.chunk", "choices": []})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, payload: dict) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        port: int = 0,
        latency_s: float = 0.0,
        plan: FaultPlan | None = None,
        api_key: str = "",
        first_token_s: float = 0.0,
        token_gap_s: float = 0.0,
    ):
        super().__init__(("127.0.0.1", port), Handler)
        self.latency_s, self.plan, self.api_key = latency_s, plan or FaultPlan(), api_key
        self.first_token_s, self.token_gap_s = first_token_s, token_gap_s
        self.ledger = Ledger()

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up (timeouts, kill -9) are expected; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--latency_s", type=float, default=0.0)
    options = parser.parse_args(args)
    server = ScriptedServer(options.port, options.latency_s)
    print(f"scripted server on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
