"""Shared fixtures: a real probe context (HTTP session + thread pool), a project tree, free ports."""

from __future__ import annotations

import json
import socket
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter.config import Config, Target
from exporter.httpclient import make_session
from exporter.metrics import Samples
from exporter.probing import Deadline, ProbeContext
from tests.support.dns_server import responder  # noqa: F401  (a fixture for every test module)


@pytest.fixture
async def ctx():
    executor = ThreadPoolExecutor(max_workers=4)
    session = make_session()
    context = ProbeContext(session=session, executor=executor, config=Config(targets=()))
    yield context
    context.close()
    await session.close()
    executor.shutdown(wait=True)


@pytest.fixture
def out() -> Samples:
    return Samples({"target": "t"})


def deadline(seconds: float = 5.0) -> Deadline:
    return Deadline(seconds)


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_project(
    root: Path,
    prisma: str | None = "6.19.0",
    client: str | None = "6.19.0",
    database_url: str | None = "file:../db/custom.db",
    with_db: bool = True,
    generated: bool = True,
) -> Path:
    """A smart-inventory project tree like the incident's: package.json, next.config.js, .env,
    prisma/schema.prisma, db/custom.db, node_modules with Prisma versions and a generated client,
    .next/cache/webpack."""
    (root / "prisma").mkdir(parents=True, exist_ok=True)
    (root / "db").mkdir(exist_ok=True)
    (root / ".next/cache/webpack/client-development").mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps({
        "name": "smart-inventory",
        "dependencies": {"@prisma/client": f"^{client or '6.19.0'}", "next": "15.0.0"},
        "devDependencies": {"prisma": f"^{prisma or '6.19.0'}"},
    }))
    (root / "next.config.js").write_text("module.exports = {}\n")
    env = "PORT=3001\n" + (f'DATABASE_URL="{database_url}"\n' if database_url else "")
    (root / ".env").write_text(env)
    (root / "prisma/schema.prisma").write_text(
        'generator client {\n  provider = "prisma-client-js"\n}\n\n'
        'datasource db {\n  provider = "sqlite"\n  url      = env("DATABASE_URL")\n}\n'
    )
    for package, version in (("prisma", prisma), ("@prisma/client", client)):
        if version:
            (root / "node_modules" / package).mkdir(parents=True, exist_ok=True)
            (root / "node_modules" / package / "package.json").write_text(json.dumps({"name": package, "version": version}))
    if generated:
        (root / "node_modules/.prisma/client").mkdir(parents=True, exist_ok=True)
        (root / "node_modules/.prisma/client/index.js").write_text("module.exports = {}\n")
    if with_db:
        conn = sqlite3.connect(root / "db/custom.db")
        conn.execute("CREATE TABLE Product (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO Product (name) VALUES ('widget')")
        conn.commit()
        conn.close()
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "smart-inventory")


def target(**overrides) -> Target:
    values = {"name": "t", "app_url": f"http://127.0.0.1:{free_port()}"}
    values.update(overrides)
    return Target(**values)
