"""Do the configured names resolve: through the system path the app uses, and through DNS servers?

"system" is getaddrinfo (/etc/hosts, then DNS, as the app resolves); a ``host:port`` resolver is
queried directly with dnspython, as nslookup does.
"""

from __future__ import annotations

import asyncio
import socket
import time

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from exporter.config import Config
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext


async def probe_dns(cfg: Config, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    dl = deadline.capped(cfg.dns.timeout)
    checks = [(name, resolver) for name in cfg.dns.names for resolver in cfg.dns.resolvers]
    results = await asyncio.gather(*(lookup(name, resolver, out, dl) for name, resolver in checks))
    failed = [f"{name}@{resolver}" for (name, resolver), ok in zip(checks, results) if not ok]
    return Outcome.fail("dns_error", "failed: " + ", ".join(failed)) if failed else Outcome.success()


async def lookup(name: str, resolver: str, out: Samples, deadline: Deadline) -> bool:
    started = time.perf_counter()
    try:
        if resolver == "system":
            ok = await asyncio.wait_for(system_lookup(name), timeout=deadline.remaining())
        else:
            ok = await server_lookup(name, resolver, deadline)
    except (OSError, ValueError, asyncio.TimeoutError, dns.exception.DNSException):
        # ValueError: a name IDNA cannot encode (UnicodeError), a resolver that is not an IP address.
        ok = False
    out.add("inventory_dns_lookup_success", int(ok), name=name, resolver=resolver)
    out.add("inventory_dns_lookup_seconds", time.perf_counter() - started, name=name, resolver=resolver)
    return ok


async def system_lookup(name: str) -> bool:
    loop = asyncio.get_running_loop()
    try:
        return bool(await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM))
    except socket.gaierror:
        return False


def split_resolver(resolver: str) -> tuple[str, int]:
    host, _, port = resolver.rpartition(":")
    return host.strip("[]"), int(port)


async def server_lookup(name: str, resolver: str, deadline: Deadline) -> bool:
    host, port = split_resolver(resolver)
    query = dns.message.make_query(name, dns.rdatatype.A)
    response = await dns.asyncquery.udp(query, host, port=port, timeout=deadline.remaining())
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)
