"""Connections cannot crowd out scrapes or probes.

Every accepted connection costs a descriptor, and the probes need descriptors too (sockets to the
app, nginx and DNS, the SQLite file, the project's files). So:

- at start-up the soft ``RLIMIT_NOFILE`` is raised to the hard limit, and the connection cap is
  kept ``DESCRIPTOR_RESERVE`` below it, so probes always find descriptors;
- at most ``limit`` connections are open at once (``--web.max-connections``). A connection over the
  cap first evicts the connection that has been idle longest — one that never got a request
  through authentication before one that did; a connection whose request is being served is never
  evicted. If every open connection is serving, the new one is accepted and closed at once;
- a connection that has not had a request through authentication within ``header_timeout``
  seconds is closed (this covers idle sockets, slow headers and unauthenticated clients); a TLS
  handshake has the same bound. Idle keep-alive connections are closed by aiohttp's
  ``keepalive_timeout`` (``--web.idle-timeout``).

``peer_check`` (``client_allowed_sans``) runs right after the TLS handshake: a client certificate
without an allowed SAN gets no request served; its connection is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from typing import Callable

from aiohttp import web

from exporter.logs import fields

log = logging.getLogger("exporter")

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0
DESCRIPTOR_RESERVE = 256
MIN_CONNECTIONS = 16
LOG_EVERY = 10.0  # seconds between two "connection limit reached" lines


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass  # e.g. above fs.nr_open: keep what we have
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(wanted: int, descriptors: int, reserve: int = DESCRIPTOR_RESERVE) -> int:
    """The cap actually used: ``wanted``, but never closer than ``reserve`` to the descriptor limit."""
    return max(MIN_CONNECTIONS, min(wanted, descriptors - reserve))


class _Conn:
    __slots__ = ("transport", "busy", "served")

    def __init__(self, transport: asyncio.BaseTransport):
        self.transport = transport
        self.busy = 0  # requests being served (past authentication)
        self.served = 0  # requests that got past authentication


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()


class _Tracked(asyncio.Protocol):
    """Passes every event to aiohttp's protocol; tells the gate when the connection opens and closes."""

    def __init__(self, gate: "ConnectionGate", inner: asyncio.Protocol):
        self.gate = gate
        self.inner = inner
        self.started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.gate._opened(self, transport):
            self.started = True
            self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate._closed(self)
        if self.started:
            self.inner.connection_lost(exc)


class ConnectionGate:
    def __init__(self, limit: int = DEFAULT_MAX_CONNECTIONS, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                 peer_check: Callable[[asyncio.BaseTransport], bool] | None = None):
        self.limit = limit
        self.header_timeout = header_timeout
        self.peer_check = peer_check
        self._open: OrderedDict[_Tracked, _Conn] = OrderedDict()  # least recently active first
        self._by_transport: dict[asyncio.BaseTransport, _Tracked] = {}
        self._handshaking: dict[_Tracked, float] = {}  # accepted, TLS handshake not done: deadline
        self.refused = self.evicted = self.timed_out = self.peer_rejected = 0
        self._last_log = float("-inf")

    # --- accounting ------------------------------------------------------------------------------

    def in_use(self) -> int:
        return len(self._open) + len(self._handshaking)

    def protocol_factory(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            now = asyncio.get_running_loop().time()
            self._expire_handshakes(now)
            if self.in_use() >= self.limit and not self._evict_one():
                self.refused += 1
                self._log_limit(now)
                return _Refused()
            tracked = _Tracked(self, make_handler())
            # The loop aborts a TLS handshake after header_timeout (ssl_handshake_timeout); plain TCP
            # connections leave this table at once, in connection_made.
            self._handshaking[tracked] = now + self.header_timeout + 1.0
            return tracked

        return make

    def _expire_handshakes(self, now: float) -> None:
        expired = [t for t, deadline in self._handshaking.items() if deadline < now]
        for tracked in expired:
            del self._handshaking[tracked]

    def _opened(self, tracked: _Tracked, transport: asyncio.BaseTransport) -> bool:
        self._handshaking.pop(tracked, None)
        if self.peer_check is not None and not self.peer_check(transport):
            self.peer_rejected += 1
            transport.abort()
            return False
        self._open[tracked] = _Conn(transport)
        self._by_transport[transport] = tracked
        loop = asyncio.get_running_loop()
        loop.call_later(self.header_timeout, self._header_deadline, tracked)
        return True

    def _closed(self, tracked: _Tracked) -> None:
        self._handshaking.pop(tracked, None)
        conn = self._open.pop(tracked, None)
        if conn is not None:
            self._by_transport.pop(conn.transport, None)

    def _drop(self, tracked: _Tracked) -> None:
        conn = self._open.pop(tracked)
        self._by_transport.pop(conn.transport, None)
        conn.transport.abort()

    def _header_deadline(self, tracked: _Tracked) -> None:
        conn = self._open.get(tracked)
        if conn is not None and conn.served == 0 and conn.busy == 0:
            self.timed_out += 1
            self._drop(tracked)

    def _evict_one(self) -> bool:
        """Close the longest-idle connection, preferring those that never had a request served."""
        for never_served in (True, False):
            for tracked, conn in self._open.items():
                if conn.busy == 0 and (conn.served == 0) == never_served:
                    self.evicted += 1
                    self._drop(tracked)
                    return True
        return False

    def _log_limit(self, now: float) -> None:
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.warning("connection limit reached: refusing new connections",
                        extra=fields(max_connections=self.limit, refused_total=self.refused))

    # --- requests ----------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        """Innermost middleware: a request that reaches it has passed authentication."""
        tracked = self._by_transport.get(request.transport)
        conn = self._open.get(tracked) if tracked is not None else None
        if conn is None:
            return await handler(request)
        conn.busy += 1
        conn.served += 1
        try:
            return await handler(request)
        finally:
            conn.busy -= 1
            if tracked in self._open:
                self._open.move_to_end(tracked)


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections go through a ConnectionGate (and whose TLS handshakes are bounded)."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, *, gate: ConnectionGate, **kwargs):
        super().__init__(runner, host, port, **kwargs)
        self._gate = gate

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self._gate.protocol_factory(server), self._host, self._port,
            ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            ssl_handshake_timeout=self._gate.header_timeout if self._ssl_context else None,
        )
