"""One attempt at delivering a signed message: where it may go, how long it may take, what came back."""

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore2
import httpx2
from httpcore2._backends.sync import SyncBackend
from standardwebhooks import Webhook

from app.settings import Settings

USER_AGENT = "dealgate-webhooks/1"


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _inside(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo, IPv4-compatible)."""
    carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in carried if v4 is not None]


def reachable(address: str) -> bool:
    """Whether a webhook may connect to this address: a public one, not loopback, private, link-local
    (where cloud metadata answers), shared, multicast or reserved, nor an IPv6 address carrying one."""
    ip = ipaddress.ip_address(address.split("%")[0])
    carried = _inside(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    if carried:
        return all(v4.is_global and not v4.is_multicast for v4 in carried)
    return ip.is_global and not ip.is_multicast


_ATTEMPT = threading.local()  # the deadline of the attempt this thread is making


def _time_left(timeout: float | None) -> float | None:
    """The timeout of one network operation, cut to what is left of the attempt's time."""
    deadline = getattr(_ATTEMPT, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore2.ReadTimeout("the attempt ran past its time limit")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every read and write ends by the attempt's deadline, so an answer trickled a byte
    at a time cannot hold a worker past it."""

    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, within the time left."""
        return self.inner.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write, within the time left."""
        self.inner.write(buffer, _time_left(timeout))

    def close(self) -> None:
        """Close the connection."""
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        """TLS over the connection, within the time left."""
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        """What the connection knows."""
        return self.inner.get_extra_info(info)


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
        except (OSError, UnicodeError) as exc:
            raise httpcore2.ConnectError(f"{host} does not resolve: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private and not all(reachable(a) for a in addresses):
            # The address itself stays unsaid: attempts are shown to API callers, who need not map the network.
            raise httpcore2.ConnectError(f"{host} resolves to an address webhooks may not reach "
                                         "(loopback, private, link-local or reserved)")
        for address in addresses[:-1]:
            try:
                return _DeadlineStream(super().connect_tcp(address, port, _time_left(timeout), local_address,
                                                           socket_options))
            except httpcore2.ConnectError:
                continue  # the next address of the name, as a browser would
        return _DeadlineStream(super().connect_tcp(addresses[-1], port, _time_left(timeout), local_address,
                                                   socket_options))


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
        status: int | None = None
        kept = bytearray()
        waited = None
        _ATTEMPT.deadline = started + self.deadline
        try:
            with self.client.stream("POST", url, content=body.encode(), headers=headers) as response:
                status = response.status_code
                if status in (429, 503):
                    waited = _retry_after(response.headers.get("retry-after"), time.time())
                for chunk in response.iter_raw():
                    kept += chunk
                    if len(kept) >= self.response_bytes:
                        break
        except Exception as exc:  # whatever the cause, an attempt ends in an outcome, never in the worker
            if status is None or not 200 <= status < 300:
                return Outcome(status, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500], retry_after=waited)
            # A 2xx arrived: delivered, though the rest of its body did not.
        finally:
            _ATTEMPT.deadline = None
        text = bytes(kept[:self.response_bytes]).decode("utf-8", "replace")
        error = None if 200 <= status < 300 else f"HTTP {status}" + (" (redirects are not followed)"
                                                                    if 300 <= status < 400 else "")
        return Outcome(status, _ms(started), error=error, response=text or None, retry_after=waited)

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
