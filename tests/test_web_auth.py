"""Password checks are bounded and fair: real bcrypt, real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from exporter.app import create_app
from exporter.config import ConfigError
from exporter.web.auth import BasicAuth
from exporter.webconfig import load_web_config
from tests.test_webconfig import PASSWORD, basic, htpasswd_hash, state


def authorization(user: str, password: bytes | str, scheme: str = "Basic") -> dict[str, str]:
    raw = user.encode() + b":" + (password.encode() if isinstance(password, str) else password)
    return {"Authorization": f"{scheme} " + base64.b64encode(raw).decode()}


@pytest.fixture
async def server(aiohttp_server, tmp_path: Path):
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{htpasswd_hash(PASSWORD)}'\n")
    app = create_app(state(), load_web_config(tmp_path / "web.yml"))
    guard = app.middlewares[0]
    srv = await aiohttp_server(app, host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        yield session, str(srv.make_url("")), guard.auth


@pytest.mark.parametrize("password", [b"x" * 73, PASSWORD.encode() + b"y" * 100, b"\xff" * 200])
async def test_passwords_over_72_bytes_get_401_not_500(server, password):
    session, base, auth = server
    before = auth.checks_run
    async with session.get(base + "/metrics", headers=authorization("prometheus", password)) as response:
        assert response.status == 401
        assert "Traceback" not in await response.text()
    assert auth.checks_run == before, "no bcrypt for a password bcrypt cannot compare"


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
async def test_the_basic_scheme_name_is_case_insensitive(server, scheme):
    session, base, _ = server
    async with session.get(base + "/-/ready", headers=authorization("prometheus", PASSWORD, scheme)) as response:
        assert response.status == 200


async def test_a_401_closes_the_connection(server):
    session, base, _ = server
    async with session.get(base + "/-/ready", headers=authorization("prometheus", "wrong")) as response:
        assert response.status == 401
        assert response.headers.get("Connection", "").lower() == "close"


async def test_concurrent_checks_are_bounded_by_the_slots(server):
    session, base, auth = server

    async def bad(i: int) -> int:
        async with session.get(base + "/-/ready", headers=authorization("prometheus", f"wrong-{i}")) as response:
            return response.status

    statuses = await asyncio.gather(*(bad(i) for i in range(12)))
    assert statuses == [401] * 12
    assert auth.checks_run >= 12
    assert 1 <= auth.peak_running <= auth.slots, (auth.peak_running, auth.slots)


async def test_checks_of_clients_that_hung_up_before_their_turn_are_dropped(server):
    session, base, auth = server
    port = int(base.rsplit(":", 1)[1].strip("/"))
    before_run = auth.checks_run
    for i in range(40):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        header = authorization("prometheus", f"gone-{i}")["Authorization"]
        writer.write(f"GET /-/ready HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    for _ in range(200):  # wait (bounded) until every request has been dealt with
        if auth.checks_dropped + (auth.checks_run - before_run) >= 40 and auth.running == 0:
            break
        await asyncio.sleep(0.05)
    run = auth.checks_run - before_run
    assert auth.checks_dropped >= 30, (run, auth.checks_dropped)
    assert run <= 10, f"{run} bcrypt checks for 40 clients that had gone"


async def test_a_good_scrape_completes_while_32_clients_flood_bad_passwords(server):
    session, base, auth = server
    async with session.get(base + "/metrics", headers=authorization("prometheus", PASSWORD)) as response:
        assert response.status == 200  # verified once: cached from now on
    stop = asyncio.Event()

    async def flood(i: int) -> None:
        async with aiohttp.ClientSession() as own:
            while not stop.is_set():
                async with own.get(base + "/-/ready", headers=authorization("prometheus", f"bad-{i}")) as response:
                    assert response.status == 401

    floods = [asyncio.create_task(flood(i)) for i in range(32)]
    try:
        await asyncio.sleep(0.5)
        async with session.get(base + "/-/ready", headers=authorization("prometheus", PASSWORD),
                               timeout=aiohttp.ClientTimeout(total=20)) as response:
            assert response.status == 200
        assert auth.peak_running <= auth.slots
    finally:
        stop.set()
        await asyncio.gather(*floods)


def test_an_unknown_user_costs_as_much_as_the_most_expensive_configured_hash():
    cheap = bcrypt.hashpw(b"a", bcrypt.gensalt(4))
    dear = bcrypt.hashpw(b"b", bcrypt.gensalt(12))
    auth = BasicAuth({"cheap": cheap, "dear": dear})

    def timed(user: str) -> float:
        started = time.perf_counter()
        assert not auth.check(basic(user, "wrong")["Authorization"])
        return time.perf_counter() - started

    dear_time = min(timed("dear") for _ in range(2))
    unknown_time = min(timed("nobody") for _ in range(2))
    cheap_time = min(timed("cheap") for _ in range(2))
    assert unknown_time > 0.5 * dear_time, (unknown_time, dear_time)
    assert unknown_time > 20 * cheap_time, "the dummy is not the cheapest hash"


@pytest.mark.parametrize(
    "users, expected",
    [
        ("u: '$2y$10$tooShort'", "basic_auth_users.u: expected a bcrypt hash"),
        ("u: '$2y$03$" + "a" * 53 + "'", "basic_auth_users.u: bcrypt cost 3 is outside"),
        ("u: '$2y$20$" + "a" * 53 + "'", "basic_auth_users.u: bcrypt cost 20 is outside"),
        ("u: '$1$abc$def'", "basic_auth_users.u: expected a bcrypt hash"),
        ("u: 12", "basic_auth_users.u: expected a bcrypt hash"),
    ],
)
def test_an_invalid_bcrypt_hash_stops_start_up_naming_file_and_key(tmp_path: Path, users, expected):
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  {users}\n")
    with pytest.raises(ConfigError) as error:
        load_web_config(tmp_path / "web.yml")
    assert str(tmp_path / "web.yml") in str(error.value) and expected in str(error.value)


def test_the_cli_refuses_an_invalid_hash_with_a_clear_error_and_no_traceback(tmp_path: Path):
    import subprocess
    import sys

    from tests.support.exporter_proc import ROOT

    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: '$2y$10$broken'\n")
    result = subprocess.run([sys.executable, "-m", "exporter", f"--web.config.file={tmp_path / 'web.yml'}"],
                            capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert f"{tmp_path / 'web.yml'}: basic_auth_users.prometheus: expected a bcrypt hash" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_password_checks_show_in_the_exporters_own_metrics(server):
    session, base, auth = server
    for i in range(3):
        async with session.get(base.rstrip("/") + "/-/ready", headers=authorization("prometheus", f"wrong-{i}")) as response:
            assert response.status == 401
    async with session.get(base.rstrip("/") + "/metrics", headers=authorization("prometheus", PASSWORD)) as response:
        text = await response.text()
    from tests.test_app import value

    assert value(text, "inventory_exporter_auth_checks_total") == auth.checks_run >= 4
    assert value(text, "inventory_exporter_auth_checks_dropped_total") == auth.checks_dropped
