"""An HTTP endpoint that records what SNS delivers to it (tests subscribe it to topics)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Subscriber:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # {"headers": {...}, "body": str}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with outer.lock:
                    outer.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages(self, topic_arn: str | None = None) -> list[dict[str, Any]]:
        """Delivered envelopes (parsed JSON), optionally only those of one topic."""
        with self.lock:
            out = [json.loads(r["body"]) for r in self.received if r["headers"].get("x-amz-sns-rawdelivery") is None]
        return [m for m in out if topic_arn is None or m["TopicArn"] == topic_arn]

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if predicate(m)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no matching SNS delivery within {timeout}s; got {self.messages()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
