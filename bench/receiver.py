"""A webhook receiver for the benchmarks, in its own process: it answers 204 and notes, per message, its id,
the event's timestamp and when it arrived; on SIGTERM it writes them as JSON lines.

    .venv/bin/python -m bench.receiver --port 9000 --out received.jsonl
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECEIVED: list[tuple[str, str, float]] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    """Reads the message, notes it, answers 204 on a kept-alive connection."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the http.server name)
        """Note the message."""
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        arrived = time.time()
        timestamp = json.loads(body).get("timestamp", "")
        with LOCK:
            RECEIVED.append((self.headers.get("webhook-id", ""), timestamp, arrived))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class Server(ThreadingHTTPServer):
    """Many senders at once."""

    daemon_threads = True
    request_queue_size = 256


def main() -> int:
    """Serve until SIGTERM, then write what arrived."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)

    def finish(*_: Any) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, finish)
    server.serve_forever()
    with open(args.out, "w") as out, LOCK:
        for message_id, timestamp, arrived in RECEIVED:
            out.write(json.dumps({"id": message_id, "timestamp": timestamp, "arrived": arrived}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
