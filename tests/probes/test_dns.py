"""The DNS probe against a real DNS server on 127.0.0.1 (dnspython over UDP) and the system resolver.

No test sends DNS anywhere but the responder below, and the system resolver is only asked for
"localhost", which /etc/hosts answers.
"""

from __future__ import annotations

import time

import pytest

from exporter.config import Config, DnsConfig
from exporter.probes.dns import probe_dns
from tests.conftest import deadline
from tests.support.dns_server import DROP, NODATA, NXDOMAIN, SERVFAIL

def dns_config(names: tuple[str, ...], resolvers: tuple[str, ...], timeout: float = 2.0) -> Config:
    return Config(targets=(), dns=DnsConfig(names=names, resolvers=resolvers, timeout=timeout))


async def test_a_name_the_server_answers_with_an_a_record_resolves(responder, ctx, out):
    responder.behaviour["app.test"] = "10.1.2.3"
    cfg = dns_config(("app.test",), (responder.address,))

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert outcome.ok, outcome
    assert out.value("inventory_dns_lookup_success", name="app.test", resolver=responder.address) == 1
    assert 0 <= out.value("inventory_dns_lookup_seconds", name="app.test", resolver=responder.address) < 2.0
    assert responder.queries == [("app.test", "A")]


@pytest.mark.parametrize(
    "behaviour",
    [SERVFAIL, NXDOMAIN, NODATA, DROP],
    ids=["servfail", "nxdomain", "noerror-without-answer", "dropped-query"],
)
async def test_a_name_the_server_does_not_answer_with_an_address_fails(responder, ctx, out, behaviour):
    responder.behaviour["app.test"] = behaviour
    cfg = dns_config(("app.test",), (responder.address,), timeout=0.3)

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert not outcome.ok
    assert outcome.reason == "dns_error"
    assert f"app.test@{responder.address}" in outcome.detail
    assert out.value("inventory_dns_lookup_success", name="app.test", resolver=responder.address) == 0
    assert responder.queries == [("app.test", "A")]  # the query reached the server: a real DNS failure


@pytest.mark.parametrize(
    ("dns_timeout", "scrape_seconds"),
    [(0.3, 5.0), (5.0, 0.3)],
    ids=["dns-timeout-is-shorter", "scrape-deadline-is-shorter"],
)
async def test_dropped_queries_give_up_at_the_earlier_of_dns_timeout_and_scrape_deadline(
    responder, ctx, out, dns_timeout, scrape_seconds
):
    names = ("a.test", "b.test", "c.test")
    responder.behaviour.update(dict.fromkeys(names, DROP))
    cfg = dns_config(names, (responder.address,), timeout=dns_timeout)

    started = time.monotonic()
    outcome = await probe_dns(cfg, ctx, out, deadline(scrape_seconds))
    elapsed = time.monotonic() - started

    assert elapsed < 0.3 + 0.5, f"probe took {elapsed:.2f}s for a 0.3s budget"
    assert not outcome.ok and outcome.reason == "dns_error"
    assert [out.value("inventory_dns_lookup_success", name=n) for n in names] == [0, 0, 0]
    assert sorted(name for name, _ in responder.queries) == sorted(names)


async def test_every_name_gets_its_own_result_and_the_failures_are_named(responder, ctx, out):
    responder.behaviour.update({"up.test": "10.0.0.1", "gone.test": NXDOMAIN})
    cfg = dns_config(("up.test", "gone.test"), (responder.address,))

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert not outcome.ok
    assert outcome.detail == f"failed: gone.test@{responder.address}"
    assert out.value("inventory_dns_lookup_success", name="up.test") == 1
    assert out.value("inventory_dns_lookup_success", name="gone.test") == 0


async def test_localhost_resolves_through_the_system_resolver_from_etc_hosts(ctx, out):
    cfg = dns_config(("localhost",), ("system",))

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert outcome.ok, outcome
    assert out.value("inventory_dns_lookup_success", name="localhost", resolver="system") == 1
    assert out.value("inventory_dns_lookup_seconds", name="localhost", resolver="system") >= 0


async def test_a_name_is_checked_through_the_system_resolver_and_a_dns_server_side_by_side(responder, ctx, out):
    responder.behaviour["localhost"] = "127.0.0.1"
    cfg = dns_config(("localhost",), ("system", responder.address))

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert outcome.ok, outcome
    assert {labels["resolver"]: value for labels, value in out.matching("inventory_dns_lookup_success")} == {
        "system": 1,
        responder.address: 1,
    }


async def test_a_resolver_that_is_not_an_ip_address_fails_the_lookup_instead_of_crashing_the_probe(ctx, out):
    # The config rejects such a resolver; a Config built in code can still carry one.
    cfg = dns_config(("app.test",), ("localhost:53",))

    outcome = await probe_dns(cfg, ctx, out, deadline())

    assert not outcome.ok and outcome.reason == "dns_error"
    assert out.value("inventory_dns_lookup_success", name="app.test", resolver="localhost:53") == 0
