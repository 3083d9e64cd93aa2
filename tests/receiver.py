"""A webhook receiver on loopback that verifies every signature with the standardwebhooks library."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    message_id: str
    payload: Any
    verified: bool
    at: float
    headers: dict[str, str]


@dataclass
class Receiver:
    """What arrived, and how each path answers: ok (204), gone (410), fail (500), slow (sleeps), busy (429)."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)  # path -> the secret its endpoint signs with
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    slow_seconds: float = 3.0

    def url(self, path: str) -> str:
        """The URL of a path, by name (a name is checked when sent, as a customer's would be)."""
        return f"http://localhost:{self.port}/{path}"

    def ids(self, path: str | None = None) -> list[str]:
        """The message ids received, at one path or all."""
        with self.lock:
            return [r.message_id for r in self.got if path is None or r.path == path]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until at least `count` requests arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.got)} of {count} webhooks arrived")


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver serving on a free loopback port until the block ends."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            path = self.path.strip("/")
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = Webhook(state.secrets[path]).verify(body, headers)
                verified = True
            except (WebhookVerificationError, KeyError):
                payload, verified = json.loads(body), False
            with state.lock:
                state.got.append(Received(path, headers.get("webhook-id", ""), payload, verified, time.monotonic(),
                                          headers))
            mode = path.split("-")[0]
            if mode == "trickle":  # the status line a byte every 0.2 s, until the sender hangs up
                try:
                    for byte in b"HTTP/1.1 200 OK\r\n":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
                self.close_connection = True
                return
            if mode == "short":  # a 200 whose body stops short of its length
                self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nok")
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "slow":
                time.sleep(state.slow_seconds)
            status = {"ok": 204, "gone": 410, "fail": 500, "busy": 429, "slow": 204, "moved": 301}[mode]
            self.send_response(status)
            if mode == "busy":
                self.send_header("Retry-After", "120")
            if mode == "moved":
                self.send_header("Location", "http://example.com/")
            self.send_header("content-length", "2" if status != 204 else "0")
            self.end_headers()
            if status != 204:
                self.wfile.write(b"no")

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # workers send in parallel

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
