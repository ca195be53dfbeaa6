"""The Prisma probe on real project trees, with a real npm registry stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from exporter.config import Config, NpmRegistryConfig
from exporter.probes.prisma import probe_prisma
from tests.conftest import deadline, free_port, make_project, target
from tests.support.project_state import tree_state

PRISMA, CLIENT = "prisma", "@prisma/client"


def set_generated(project: Path, generated: bool) -> None:
    client = project / "node_modules/.prisma/client"
    if generated:
        client.mkdir(parents=True, exist_ok=True)
        (client / "index.js").write_text("module.exports = {}\n")
    else:
        shutil.rmtree(project / "node_modules/.prisma", ignore_errors=True)


class Registry:
    """A stand-in for the npm registry: ``/<package>/latest`` answers with a version document."""

    def __init__(self, versions: dict[str, str]):
        self.versions = versions
        self.requests: list[str] = []
        self.status = 200
        self.padding = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.raw_path)
        if self.status != 200:
            return web.Response(status=self.status, text="registry trouble")
        package = request.raw_path.removeprefix("/").removesuffix("/latest").replace("%2F", "/")
        if package not in self.versions:
            return web.json_response({"error": "Not found"}, status=404)
        document = {"name": package, "version": self.versions[package], "readme": "x" * self.padding}
        return web.json_response(document)


@pytest.fixture
async def registry(aiohttp_server):
    """The registry and its base URL, serving 7.1.0 as latest for both packages."""
    stand_in = Registry({PRISMA: "7.1.0", CLIENT: "7.1.0"})
    app = web.Application()
    app.router.add_get("/{tail:.*}", stand_in.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    stand_in.url = str(server.make_url("/"))
    return stand_in


def use_registry(ctx, url: str, enabled: bool = True, refresh_interval: float = 6 * 3600.0) -> None:
    ctx.config = Config(targets=(), npm_registry=NpmRegistryConfig(enabled=enabled, url=url, refresh_interval=refresh_interval))


def installed(out, package: str) -> list[str]:
    return [labels["version"] for labels, _ in out.matching("inventory_prisma_version_info", package=package, source="installed")]


def declared(out, package: str) -> list[str]:
    return [labels["version"] for labels, _ in out.matching("inventory_prisma_version_info", package=package, source="declared")]


# --- installed and declared versions --------------------------------------------------------


async def test_matching_cli_and_client_versions_are_healthy(project, ctx, out):
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_prisma_version_mismatch") == 0
    assert installed(out, PRISMA) == installed(out, CLIENT) == ["6.19.0"]
    assert out.value("inventory_prisma_version_info", package=PRISMA, version="6.19.0", source="installed") == 1


@pytest.mark.parametrize(
    "cli, client",
    [("6.19.0", "7.1.0"), ("7.1.0", "6.19.0"), ("6.19.0", "6.19.1"), ("6.19.0", "6.19.0-dev.1")],
)
async def test_different_cli_and_client_versions_are_a_mismatch(tmp_path, ctx, out, cli, client):
    project = make_project(tmp_path / "p", prisma=cli, client=client)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "mismatch")
    assert outcome.detail == f"prisma {cli} vs @prisma/client {client}"
    assert out.value("inventory_prisma_version_mismatch") == 1
    assert (installed(out, PRISMA), installed(out, CLIENT)) == ([cli], [client])


@pytest.mark.parametrize(
    "cli, client, missing",
    [("6.19.0", None, CLIENT), (None, "6.19.0", PRISMA), (None, None, f"{PRISMA}, {CLIENT}")],
)
async def test_a_package_missing_from_node_modules_is_not_found(tmp_path, ctx, out, cli, client, missing):
    project = make_project(tmp_path / "p", prisma=cli, client=client)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert outcome.detail == f"not installed in node_modules: {missing}"
    assert out.value("inventory_prisma_version_mismatch") is None  # nothing to compare
    assert installed(out, PRISMA) == ([cli] if cli else [])
    assert installed(out, CLIENT) == ([client] if client else [])


@pytest.mark.parametrize("manifest", ["{not json", "[]", '{"name": "prisma"}', '{"version": 7}'])
async def test_an_unreadable_installed_manifest_counts_as_not_installed(project, ctx, out, manifest):
    (project / "node_modules/@prisma/client/package.json").write_text(manifest)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert installed(out, CLIENT) == []
    assert installed(out, PRISMA) == ["6.19.0"]


async def test_a_node_modules_package_linked_out_of_the_project_is_not_read(project, tmp_path, ctx, out):
    elsewhere = tmp_path / "elsewhere/client"
    elsewhere.mkdir(parents=True)
    (elsewhere / "package.json").write_text(json.dumps({"name": CLIENT, "version": "9.9.9"}))
    shutil.rmtree(project / "node_modules/@prisma/client")
    (project / "node_modules/@prisma/client").symlink_to(elsewhere)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert installed(out, CLIENT) == []


async def test_a_package_linked_inside_the_project_as_pnpm_does_is_read(project, ctx, out):
    store = project / "node_modules/.pnpm/@prisma+client@6.19.0/node_modules/@prisma/client"
    store.mkdir(parents=True)
    shutil.move(project / "node_modules/@prisma/client/package.json", store / "package.json")
    (project / "node_modules/@prisma/client").rmdir()
    (project / "node_modules/@prisma/client").symlink_to(store)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert installed(out, CLIENT) == ["6.19.0"]


async def test_declared_versions_come_from_package_json(project, ctx, out):
    (project / "package.json").write_text(json.dumps({
        "dependencies": {"@prisma/client": "~6.19.0", "next": "15.0.0"},
        "devDependencies": {"prisma": "6.19.0"},
    }))
    await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert declared(out, CLIENT) == ["~6.19.0"]
    assert declared(out, PRISMA) == ["6.19.0"]
    assert out.value("inventory_prisma_version_info", package=CLIENT, version="~6.19.0", source="declared") == 1


@pytest.mark.parametrize(
    "package_json",
    [
        json.dumps({"dependencies": {"next": "15.0.0"}}),
        json.dumps({"dependencies": {"prisma": 6}}),
        json.dumps({"dependencies": ["prisma"]}),
        json.dumps(["prisma"]),
        "{broken",
        None,
    ],
    ids=["no-prisma", "not-a-string", "not-a-mapping", "not-an-object", "invalid-json", "missing"],
)
async def test_no_declared_version_without_a_usable_package_json_entry(project, ctx, out, package_json):
    if package_json is None:
        (project / "package.json").unlink()
    else:
        (project / "package.json").write_text(package_json)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert declared(out, PRISMA) == declared(out, CLIENT) == []
    assert outcome.ok, outcome  # the installed versions still match
    assert out.value("inventory_prisma_version_mismatch") == 0


@pytest.mark.parametrize("generated", [True, False])
async def test_client_generated_says_whether_prisma_generate_has_run(project, ctx, out, generated):
    set_generated(project, generated)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert out.value("inventory_prisma_client_generated") == int(generated)
    assert outcome.ok, outcome


async def test_probing_prisma_changes_nothing_in_the_project(project, ctx, out):
    before = tree_state(project)
    await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert tree_state(project) == before


# --- the latest published version -------------------------------------------------------------


async def test_the_latest_version_comes_from_the_registry_and_is_cached(project, ctx, out, registry):
    use_registry(ctx, registry.url)
    first = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    second_out = out.scoped(target="second")
    second = await probe_prisma(target(project_dir=project), ctx, second_out, deadline())
    assert first.ok and second.ok
    assert sorted(registry.requests) == ["/@prisma%2Fclient/latest", "/prisma/latest"]  # one each, two probes
    for samples in (out, second_out):
        for package in (PRISMA, CLIENT):
            assert samples.value("inventory_prisma_latest_version_info", package=package, version="7.1.0") == 1
            assert samples.value("inventory_prisma_update_available", package=package) == 1


async def test_no_update_is_available_when_the_installed_version_is_the_latest(tmp_path, ctx, out, registry):
    project = make_project(tmp_path / "p", prisma="7.1.0", client="7.1.0")
    use_registry(ctx, registry.url)
    assert (await probe_prisma(target(project_dir=project), ctx, out, deadline())).ok
    assert out.value("inventory_prisma_update_available", package=PRISMA) == 0
    assert out.value("inventory_prisma_update_available", package=CLIENT) == 0


async def test_a_package_not_installed_still_gets_its_latest_version_but_no_update_flag(tmp_path, ctx, out, registry):
    project = make_project(tmp_path / "p", client=None)
    use_registry(ctx, registry.url)
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert out.value("inventory_prisma_latest_version_info", package=CLIENT, version="7.1.0") == 1
    assert out.value("inventory_prisma_update_available", package=CLIENT) is None
    assert out.value("inventory_prisma_update_available", package=PRISMA) == 1


async def test_a_disabled_registry_is_never_asked(project, ctx, out, registry):
    use_registry(ctx, registry.url, enabled=False)
    assert (await probe_prisma(target(project_dir=project), ctx, out, deadline())).ok
    assert registry.requests == []
    assert out.value("inventory_prisma_latest_version_info") is None
    assert out.value("inventory_prisma_update_available") is None


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_a_failing_registry_gives_no_latest_version_and_is_not_asked_again_at_once(project, ctx, out, registry, status):
    registry.status = status
    use_registry(ctx, registry.url)
    first = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    second = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert first.ok and second.ok  # the registry's trouble is not the app's
    assert out.value("inventory_prisma_latest_version_info") is None
    assert len(registry.requests) == 2  # one per package; the failure is remembered


async def test_an_unreachable_registry_gives_no_latest_version(project, ctx, out):
    use_registry(ctx, f"http://127.0.0.1:{free_port()}")
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline(2))
    assert outcome.ok, outcome
    assert out.value("inventory_prisma_latest_version_info") is None


async def test_the_last_known_latest_version_is_kept_through_a_registry_outage(project, ctx, out, registry):
    use_registry(ctx, registry.url, refresh_interval=1e-9)  # every probe asks again
    await probe_prisma(target(project_dir=project), ctx, out, deadline())
    registry.status = 500
    during = out.scoped(target="during-outage")
    await probe_prisma(target(project_dir=project), ctx, during, deadline())
    assert len(registry.requests) == 4
    assert during.value("inventory_prisma_latest_version_info", package=PRISMA, version="7.1.0") == 1
    assert during.value("inventory_prisma_update_available", package=CLIENT) == 1


async def test_a_registry_document_larger_than_one_read_is_read_whole(project, ctx, out, registry):
    registry.padding = 600_000  # real /latest documents carry a readme; this one arrives in many chunks
    use_registry(ctx, registry.url)
    assert (await probe_prisma(target(project_dir=project), ctx, out, deadline())).ok
    assert out.value("inventory_prisma_latest_version_info", package=PRISMA, version="7.1.0") == 1


@pytest.mark.parametrize("body", ["not json", "[]", '{"version": 7}', "{}"])
async def test_a_registry_answer_without_a_version_string_is_ignored(project, ctx, out, aiohttp_server, body):
    seen = []

    async def handle(request):
        seen.append(request.raw_path)
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    use_registry(ctx, str(server.make_url("/")))
    outcome = await probe_prisma(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert len(seen) == 2
    assert out.value("inventory_prisma_latest_version_info") is None
