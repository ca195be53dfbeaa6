"""Config loading is bounded: size, alias expansion, FIFOs, the number of problems, and a reload
never stalls the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from exporter.app import State, create_app
from exporter.config import MAX_CONFIG_BYTES, MAX_PROBLEMS, ConfigError, load_config
from exporter.logs import LogfmtFormatter
from exporter.redact import MAX_LOG


def alias_bomb(levels: int = 9) -> str:
    """The billion-laughs shape: each level lists the previous one nine times (9**9 strings, ~900 bytes)."""
    lines = ['x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"x{level}: &x{level} [" + ",".join([f"*x{level - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\ntargets:\n  - name: a\n    endpoints: *x{levels - 1}\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path):
    config = tmp_path / "bomb.yml"
    config.write_text(alias_bomb())
    assert config.stat().st_size < 1024
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert time.monotonic() - started < 5, "refused before any expansion"
    assert "aliases expand to more than" in str(caught.value) and str(config) in str(caught.value)


def test_a_few_aliases_are_still_fine(tmp_path: Path):
    config = tmp_path / "ok.yml"
    config.write_text("targets:\n  - name: a\n    endpoints: &e [/api/health]\n  - name: b\n    endpoints: *e\n")
    assert [t.endpoints for t in load_config(config).targets] == [("/api/health",), ("/api/health",)]


def test_a_config_larger_than_the_cap_is_refused(tmp_path: Path):
    config = tmp_path / "big.yml"
    config.write_text("targets:\n  - name: a\n" + "# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(config)


def test_a_fifo_as_config_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "config.yml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)
    assert time.monotonic() - started < 5


def test_thousands_of_problems_are_listed_up_to_a_bound(tmp_path: Path):
    config = tmp_path / "many.yml"
    config.write_text("targets:\n  - name: a\n" + "".join(f"    unknown{i}: 1\n" for i in range(2000)))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS + 1 and problems[-1] == f"... and {2000 - MAX_PROBLEMS} more problems"


def test_a_log_record_is_bounded():
    record = logging.LogRecord("exporter", logging.ERROR, __file__, 1, "x" * (10 * MAX_LOG), None, None)
    line = LogfmtFormatter().format(record)
    assert len(line) < MAX_LOG + 500 and "more characters not shown" in line


async def test_reloading_an_alias_bomb_keeps_the_exporter_answering(tmp_path: Path, aiohttp_client):
    config = tmp_path / "config.yml"
    config.write_text("targets:\n  - name: a\n")
    state = State(config=load_config(config), config_file=config, loader=lambda: load_config(config))
    client = await aiohttp_client(create_app(state))
    config.write_text(alias_bomb())
    reload = asyncio.ensure_future(client.post("/-/reload"))
    worst = 0.0
    while not reload.done():
        started = time.monotonic()
        response = await client.get("/-/healthy")
        assert response.status == 200
        worst = max(worst, time.monotonic() - started)
        await asyncio.sleep(0.005)
    response = await reload
    body = await response.text()
    assert response.status == 500 and "aliases expand" in body and len(body) < 300_000
    assert worst < 0.5, f"/-/healthy took {worst:.3f}s during the reload"
    assert state.config.targets[0].name == "a", "the previous config is kept"


def test_the_web_config_is_bounded_the_same_way(tmp_path: Path):
    from exporter.webconfig import load_web_config

    bomb = tmp_path / "web.yml"
    bomb.write_text(alias_bomb().replace("targets:\n  - name: a\n    endpoints:", "basic_auth_users:\n  x:"))
    with pytest.raises(ConfigError, match="aliases expand"):
        load_web_config(bomb)
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_web_config(fifo)
