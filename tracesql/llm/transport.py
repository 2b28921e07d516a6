"""The HTTP transport under the `openai` client: immediate ACKs (Linux).

Some OpenAI-compatible servers (anything built on Python's http.server, for one) write a
response's headers and body in two sends without TCP_NODELAY. The body then waits, by
Nagle's algorithm, for the ACK of the headers, which the client's kernel delays by up to
40 ms: 40 ms added to every call. Re-arming TCP_QUICKACK before each read makes the
client acknowledge at once; it costs one setsockopt per read and changes nothing else.
Elsewhere (no TCP_QUICKACK, or another HTTP stack under `openai`) the default transport
is used unchanged.
"""

from __future__ import annotations

import socket
from typing import Any

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def http_client(max_connections: int) -> Any | None:
    """An httpx client for `openai.OpenAI(http_client=...)`, or None for the default one."""
    if QUICKACK is None:
        return None
    try:
        import httpcore2 as httpcore
        import httpx2 as httpx
    except ImportError:
        return None
    try:
        backend = _quickack_backend(httpcore)
        limits = max(max_connections, 1)
        transport = httpx.HTTPTransport()
        transport._pool = httpcore.ConnectionPool(  # the one private attribute we set
            max_connections=max(limits, 100),
            max_keepalive_connections=max(limits, 100),
            keepalive_expiry=30.0,
            network_backend=backend,
        )
        return httpx.Client(transport=transport, follow_redirects=True)
    except (AttributeError, TypeError):
        return None


def _quickack_backend(httpcore: Any) -> Any:
    class QuickAckStream(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.sock = inner.get_extra_info("socket")

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            if self.sock is not None:
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
                except OSError:
                    self.sock = None
            return self.inner.read(max_bytes, timeout)

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.inner.write(buffer, timeout)

        def close(self) -> None:
            self.inner.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            return QuickAckStream(self.inner.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            return self.inner.get_extra_info(info)

    class QuickAckBackend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore.SyncBackend()

        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return QuickAckStream(self.inner.connect_tcp(*args, **kwargs))

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            return self.inner.connect_unix_socket(*args, **kwargs)

        def sleep(self, seconds: float) -> None:
            self.inner.sleep(seconds)

    return QuickAckBackend()
