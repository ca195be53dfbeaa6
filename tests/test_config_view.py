"""/config: the effective configuration as YAML, loading back to the same config, secrets redacted."""

from __future__ import annotations

import dataclasses
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
import yaml

from exporter.app import State, create_app
from exporter.config import parse_config
from exporter.config_view import config_yaml, duration_text, plain
from exporter.redact import SECRET
from exporter.webconfig import load_web_config

FULL = """
targets:
  - name: shop
    app_url: http://127.0.0.1:3001
    endpoints: [/api/health, /api/products]
    static_paths: [/favicon.ico]
    proxy_url: http://127.0.0.1:8080/
    proxy_error_log: /var/log/nginx/error.log
    project_dir: /srv/smart-inventory
    database: db/custom.db
    log_file: dev.log
    timeout: 2500ms
    app_process_names: [node]
    env_vars: [DATABASE_URL]
    db_query: SELECT 1
  - name: other
dns:
  names: [localhost, example.internal]
  resolvers: [system, 127.0.0.1:53]
  timeout: 1m
  include_hostname: false
host:
  mountpoints: [/, /srv]
npm_registry:
  enabled: true
  url: https://registry.npmjs.org
  refresh_interval: 1d
max_concurrency: 8
"""

WITH_SECRETS = """
targets:
  - name: shop
    app_url: http://admin:hunter2@127.0.0.1:3001
    proxy_url: http://127.0.0.1:8080/?token=tok-s3cr3t
    db_query: SELECT 1 -- password=pa55word
npm_registry:
  url: https://ci:npm-t0ken@registry.example.com
"""


def without_source(config):
    return dataclasses.replace(config, source="")


def test_the_view_loads_back_to_the_same_config():
    config = parse_config(FULL, "full.yml")
    view = config_yaml(config)
    assert without_source(parse_config(view, "view.yml")) == without_source(config)


def test_defaults_are_filled_in_and_durations_read_as_durations():
    data = yaml.safe_load(config_yaml(parse_config("targets:\n  - name: bare\n")))
    target = data["targets"][0]
    assert target["app_url"] == "http://127.0.0.1:3001"
    assert target["endpoints"] == ["/api/health"]
    assert target["timeout"] == "5s"
    assert "proxy_url" not in target, "unset optional keys stay absent"
    assert data["npm_registry"]["refresh_interval"] == "6h"
    assert data["dns"]["include_hostname"] is False, "the hostname is already in names"


@pytest.mark.parametrize("seconds, text", [(5.0, "5s"), (0.25, "250ms"), (90.0, "90s"), (120.0, "2m"), (86400.0, "1d"), (1.5, "1500ms")])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_secrets_in_urls_and_values_are_redacted():
    view = config_yaml(parse_config(WITH_SECRETS, "secrets.yml"))
    for secret in ("hunter2", "tok-s3cr3t", "pa55word", "npm-t0ken"):
        assert secret not in view
    data = yaml.safe_load(view)
    assert data["targets"][0]["app_url"] == f"http://admin:{SECRET}@127.0.0.1:3001"
    assert data["npm_registry"]["url"] == f"https://ci:{SECRET}@registry.example.com"


def test_values_under_secret_looking_keys_are_replaced_whole():
    shown = plain({"headers": {"Authorization": "Bearer abc", "X-Api": "k"}, "api_key": "k-123",
                   "bearer_token_file": "/etc/token", "password": "", "name": "shop"})
    assert shown == {"headers": {"Authorization": SECRET, "X-Api": SECRET}, "api_key": SECRET,
                     "bearer_token_file": SECRET, "password": "", "name": "shop"}


async def test_the_config_page_serves_the_redacted_yaml(aiohttp_client):
    config = parse_config(WITH_SECRETS, "secrets.yml")
    client = await aiohttp_client(create_app(State(config=config, config_file=None, loader=lambda: config)))
    response = await client.get("/config")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert "hunter2" not in text and "npm-t0ken" not in text
    assert yaml.safe_load(text)["targets"][0]["name"] == "shop"
    assert "secrets.yml" in text.splitlines()[0]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


async def test_the_config_page_needs_the_same_credentials_as_the_others(aiohttp_client, tmp_path: Path):
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    config = parse_config(FULL, "full.yml")
    app = create_app(State(config=config, config_file=None, loader=lambda: config), load_web_config(tmp_path / "web.yml"))
    client = await aiohttp_client(app)
    assert (await client.get("/config")).status == 401
    assert (await client.get("/config", headers=basic("prometheus", "wrong"))).status == 401
    response = await client.get("/config", headers=basic("prometheus", "s3cret"))
    assert response.status == 200
    assert "name: shop" in await response.text()


WITH_OBJECTS = """
targets:
  - name: shop
    endpoints:
      - /api/health
      - path: /api/auth/login
        name: login
        method: POST
        headers: {Authorization: 'Bearer ${env:SHOP_TOKEN}', X-Key: {file: /run/secrets/key}, Accept: application/json}
        json: {username: admin, password: '${env:SHOP_PASSWORD}'}
        expect: {status: [200, 204], json: {$.token: exists, $.count: '>= 1', $.ok: true}, max_seconds: 500ms,
                 body_regex: 'token'}
      - {path: /, render: true}
    static_paths: [/favicon.ico, {path: /robots.txt, expect: {status: 200}}]
"""


def test_endpoint_objects_show_as_objects_naming_their_secrets_and_load_back():
    config = parse_config(WITH_OBJECTS, "objects.yml")
    view = config_yaml(config)
    assert without_source(parse_config(view, "view.yml")) == without_source(config)
    target = yaml.safe_load(view)["targets"][0]
    assert target["endpoints"][0] == "/api/health"
    login = target["endpoints"][1]
    assert login["headers"] == {"Authorization": "Bearer ${env:SHOP_TOKEN}", "X-Key": {"file": "/run/secrets/key"},
                                "Accept": "application/json"}
    assert login["json"] == {"username": "admin", "password": "${env:SHOP_PASSWORD}"}
    assert login["expect"]["json"] == {"$.token": "exists", "$.count": ">= 1", "$.ok": "true"}
    assert target["endpoints"][2] == {"path": "/", "render": True}
    assert target["static_paths"] == ["/favicon.ico", {"path": "/robots.txt", "expect": {"status": [200]}}]
