"""The loopback probe: a real datagram round trip over 127.0.0.1."""

from __future__ import annotations

import time

import psutil

from exporter.config import Config
from exporter.probes.loopback import probe_loopback
from tests.conftest import deadline


async def test_a_datagram_goes_round_the_loopback_with_a_positive_round_trip_time(ctx, out):
    started = time.perf_counter()
    outcome = await probe_loopback(Config(targets=()), ctx, out, deadline())
    elapsed = time.perf_counter() - started

    assert outcome.ok, outcome
    assert out.value("inventory_loopback_up") == 1
    rtt = out.value("inventory_loopback_rtt_seconds")
    assert 0 < rtt <= elapsed


async def test_repeated_probes_close_their_sockets(ctx, out):
    process = psutil.Process()
    assert (await probe_loopback(Config(targets=()), ctx, out, deadline())).ok  # warm up the event loop
    before = process.num_fds()

    for _ in range(5):
        assert (await probe_loopback(Config(targets=()), ctx, out, deadline())).ok

    assert process.num_fds() == before
    assert [value for _, value in out.matching("inventory_loopback_up")] == [1] * 6
