"""One attempt at delivering a signed message: where it may go, how long it may take, what came back."""

import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore2
import httpx2
from httpcore2._backends.sync import SyncBackend
from standardwebhooks import Webhook

from app.settings import Settings

USER_AGENT = "dealgate-webhooks/1"


def reachable(address: str) -> bool:
    """Whether a webhook may connect to this address: a public one, not loopback, private, link-local
    (where cloud metadata answers), shared, multicast or reserved."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _CheckedBackend(SyncBackend):
    """Connects only to addresses the check allows, checking the address the name resolves to now
    (so a name that later points inside the network is refused when it does)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None) -> httpcore2.NetworkStream:
        """Resolve, refuse what may not be reached, and connect to the address that was checked."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(f"{host} does not resolve: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if not reachable(a)]
        if refused and not self.allow_private:
            raise httpcore2.ConnectError(f"{host} resolves to {refused[0]}, an address webhooks may not reach "
                                         "(loopback, private, link-local or reserved)")
        for address in addresses[:-1]:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore2.ConnectError:
                continue  # the next address of the name, as a browser would
        return super().connect_tcp(addresses[-1], port, timeout, local_address, socket_options)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    response: str | None = None
    retry_after: float | None = None  # seconds the receiver asked to wait (429 and 503)

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def signature(secrets: Sequence[str], message_id: str, at: datetime, body: str) -> str:
    """The webhook-signature header: one v1 signature per secret (two while a rotated secret overlaps)."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


class Sender:
    """Posts signed messages with bounded time and reading, following no redirect."""

    def __init__(self, settings: Settings) -> None:
        self.response_bytes = settings.webhook_response_bytes
        self.deadline = settings.webhook_timeout
        transport = httpx2.HTTPTransport(trust_env=False)
        # The pool's network backend is where a connection is opened: the one place to check its address.
        transport._pool._network_backend = _CheckedBackend(settings.webhook_allow_private_addresses)  # type: ignore[attr-defined]
        self.client = httpx2.Client(transport=transport, follow_redirects=False, trust_env=False,
                                    timeout=httpx2.Timeout(settings.webhook_timeout,
                                                           connect=settings.webhook_connect_timeout),
                                    headers={"user-agent": USER_AGENT})

    def send(self, url: str, message_id: str, body: str, secrets: Sequence[str]) -> Outcome:
        """One attempt: post the body with its Standard Webhooks headers and read the answer's start."""
        started = time.monotonic()
        now = datetime.now(UTC)
        headers = {"content-type": "application/json", "webhook-id": message_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signature(secrets, message_id, now, body)}
        try:
            with self.client.stream("POST", url, content=body.encode(), headers=headers) as response:
                kept = bytearray()
                for chunk in response.iter_raw():
                    kept += chunk
                    if len(kept) >= self.response_bytes or time.monotonic() - started > self.deadline:
                        break
                status = response.status_code
                waited = _retry_after(response.headers.get("retry-after"), time.time()) \
                    if status in (429, 503) else None
        except httpx2.HTTPError as exc:
            return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
        text = bytes(kept[:self.response_bytes]).decode("utf-8", "replace")
        error = None if 200 <= status < 300 else f"HTTP {status}" + (" (redirects are not followed)"
                                                                    if 300 <= status < 400 else "")
        return Outcome(status, _ms(started), error=error, response=text or None, retry_after=waited)

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
