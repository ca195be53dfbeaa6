"""examples/functional.yml (the report's verification list) loaded as shipped, ports and paths
substituted, probing a real aiohttp shop app: every condition passes where it should; a 200 with
{"error": ...} fails its JSON conditions, is a finding naming them and the root cause app_error."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import Target, parse_config
from exporter.detectors_functional import conditions_met, pages_render
from exporter.diagnosis import Facts, diagnose_target
from exporter.metrics import Samples
from exporter.probes.http import probe_http
from tests.conftest import deadline
from tests.support.shop_app import BUILD_ID, Shop, shop_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "functional.yml"


def example_target(url: str, project: Path) -> Target:
    text = EXAMPLE.read_text().replace("http://127.0.0.1:3001", url).replace("/srv/smart-inventory", str(project))
    (target,) = parse_config(text, str(EXAMPLE)).targets
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".next").mkdir()
    (tmp_path / ".next" / "BUILD_ID").write_text(BUILD_ID + "\n")
    return tmp_path


@pytest.fixture
async def shop(aiohttp_server, monkeypatch):
    state = Shop()
    monkeypatch.setenv("SHOP_PASSWORD", state.password)
    monkeypatch.setenv("SHOP_TOKEN", state.token)
    server = await aiohttp_server(shop_app(state))
    state.url = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    return state


async def probe(target: Target, ctx) -> Samples:
    out = Samples({"target": target.name})
    await probe_http(target, ctx, out, deadline(10))
    return out


def conditions(out: Samples) -> dict[tuple[str, str], float]:
    return {(l["path"], l["condition"]): v for l, v in out.matching("inventory_http_condition_success")}


def failures(out: Samples) -> dict[tuple[str, str], dict[str, str]]:
    return {(l["path"], l["condition"]): l for l, _ in out.matching("inventory_http_condition_failure_info")}


EXPECTED_CONDITIONS = {
    ("/api/health", "status"), ("/api/health", "json:$.status"),
    ("login", "status"), ("login", "json:$.token"), ("login", "json:$.user.name"), ("login", "max_seconds"),
    ("/api/products", "status"), ("/api/products", "json:$.products"), ("/api/products", "json:$.products[0].id"),
    ("/api/products", "max_seconds"),
    ("/api/orders", "status"), ("/api/orders", "json:$.orders"), ("/api/orders", "json:$.total"),
    ("/api/customers", "status"), ("/api/customers", "json:$.customers"),
    ("/api/inventory/statistics", "status"), ("/api/inventory/statistics", "body_regex"),
    ("/api/inventory/statistics", "json:$.totalProducts"), ("/api/inventory/statistics", "json:$.lowStock"),
    ("/api/inventory/statistics", "json:$.error"),
    ("/", "status"), ("/", "body_regex"), ("/", "max_seconds"),
}


async def test_every_condition_of_the_example_passes_against_a_working_shop(shop, project, ctx):
    out = await probe(example_target(shop.url, project), ctx)
    assert conditions(out) == {key: 1.0 for key in EXPECTED_CONDITIONS}
    assert failures(out) == {}
    # the secrets came from the environment: the login body carried the password, products the token
    assert any(shop.password.encode() in body for body in shop.seen_bodies)
    assert f"Bearer {shop.token}" in shop.seen_auth
    # the page rendered: its three same-origin assets loaded, the CDN ones were not fetched
    assets = {l["result"]: v for l, v in out.matching("inventory_page_assets", path="/")}
    assert assets == {"ok": 3.0, "missing": 0.0, "error": 0.0}
    assert out.value("inventory_page_build_stale", path="/") == 0
    diagnosis = diagnose_target(out.store, "smart-inventory")
    assert {"endpoint_condition_failed", "page_assets_failing", "stale_build"} <= set(diagnosis.evaluated)
    assert [f.id for f in diagnosis.findings] == []
    assert diagnosis.cause == "none"
    facts = Facts(out.store, "smart-inventory")
    assert (conditions_met(facts), pages_render(facts)) == (True, True), "the report's checklist items"


async def test_a_200_with_an_error_body_fails_its_json_conditions_and_is_an_app_error(shop, project, ctx):
    shop.broken.add("statistics")
    out = await probe(example_target(shop.url, project), ctx)
    failed = failures(out)
    path = "/api/inventory/statistics"
    assert set(failed) == {(path, "json:$.error"), (path, "json:$.totalProducts"), (path, "json:$.lowStock"),
                           (path, "body_regex")}
    assert failed[(path, "json:$.error")]["reason"] == "mismatch"
    assert failed[(path, "json:$.error")]["seen"].startswith('"PrismaClientInitializationError')
    assert failed[(path, "json:$.totalProducts")]["reason"] == "missing"
    assert failed[(path, "body_regex")]["reason"] == "no_match"
    assert all(len(labels["seen"]) <= 120 for labels in failed.values())
    assert out.value("inventory_http_condition_success", path=path, condition="status") == 1
    assert out.value("inventory_http_up", path=path) == 1, "a 200: endpoint_failing does not see it"
    diagnosis = diagnose_target(out.store, "smart-inventory")
    (finding,) = diagnosis.findings
    assert finding.id == "endpoint_condition_failed" and finding.severity == "critical"
    assert "json:$.error (mismatch)" in finding.evidence["failed"]
    assert "PrismaClientInitializationError" in finding.evidence["failed"]
    assert diagnosis.cause == "app_error"
    assert conditions_met(Facts(out.store, "smart-inventory")) is False


async def test_a_wrong_password_fails_the_login_status_and_never_shows_the_password(shop, project, ctx, monkeypatch):
    monkeypatch.setenv("SHOP_PASSWORD", "wrong-Pw-8812")
    out = await probe(example_target(shop.url, project), ctx)
    failed = failures(out)
    assert failed[("login", "status")]["reason"] == "unexpected_status"
    assert failed[("login", "status")]["seen"] == "status 401"
    assert failed[("login", "json:$.token")]["reason"] == "missing"
    assert "invalid credentials" in failed[("login", "json:$.token")]["seen"]
    text = repr(out.store)
    assert "wrong-Pw-8812" not in text and shop.token not in text


async def test_an_unset_secret_sends_nothing_and_is_reported_by_name(shop, project, ctx, monkeypatch):
    monkeypatch.delenv("SHOP_PASSWORD")
    out = await probe(example_target(shop.url, project), ctx)
    assert shop.seen_bodies == [], "no login request without its password"
    failed = failures(out)
    assert failed[("login", "secrets")]["reason"] == "secret_unavailable"
    assert failed[("login", "secrets")]["seen"] == "environment variable SHOP_PASSWORD is not set"
    diagnosis = diagnose_target(out.store, "smart-inventory")
    assert [f.id for f in diagnosis.findings] == ["endpoint_condition_failed"]
    assert diagnosis.cause == "none", "the exporter's missing secret is not the app failing"


async def test_a_slow_endpoint_fails_max_seconds_only_and_is_no_app_error(shop, project, ctx):
    shop.delay["orders"] = 0.3
    target = example_target(shop.url, project)
    slow = parse_config(
        f"targets:\n  - name: s\n    app_url: {shop.url}\n    endpoints:\n"
        "      - {path: /api/orders, expect: {status: 200, max_seconds: 50ms, json: {$.total: 1}}}\n"
    ).targets[0]
    out = await probe(slow, ctx)
    failed = failures(out)
    assert set(failed) == {("/api/orders", "max_seconds")}
    assert failed[("/api/orders", "max_seconds")]["reason"] == "too_slow"
    assert failed[("/api/orders", "max_seconds")]["seen"].endswith("> 0.05 s")
    assert diagnose_target(out.store, "s").cause == "none"
    assert target.endpoints[1] == "login", "a named endpoint is labelled by its name"
