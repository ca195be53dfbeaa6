"""A real DNS server on 127.0.0.1 (dnspython over UDP) whose answers a test chooses per name."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

DROP = "drop"
SERVFAIL = "servfail"
NXDOMAIN = "nxdomain"
NODATA = "nodata"  # NOERROR with an empty answer section


class Responder(asyncio.DatagramProtocol):
    """A DNS server: answers A records for the names in ``behaviour`` (an IPv4 address) or
    fails them (SERVFAIL, NXDOMAIN, NODATA) or never answers (DROP); unknown names get NXDOMAIN."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        action = self.behaviour.get(name, NXDOMAIN)
        if action == DROP:
            return
        response = dns.message.make_response(query)
        if action == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif action == NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif action != NODATA:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", action))
        self.transport.sendto(response.to_wire(), addr)

    @property
    def address(self) -> str:
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"


@pytest.fixture
async def responder():
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Responder, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()
