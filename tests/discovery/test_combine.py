"""From facts to targets: running apps with their fronts, sites whose app does not run, and a site
pointing at the wrong port paired with its project's app. The facts are what the sources return."""

from __future__ import annotations

from pathlib import Path

from exporter.config import Target
from exporter.discovery.combine import combine, short_source
from exporter.discovery.model import Findings, NginxSite, RunningApp, ServiceUnit

SHOP = Path("/srv/shop")


def app(port: int = 3001, pid: int = 42, project: Path | None = SHOP, name: str | None = "smart-inventory") -> RunningApp:
    return RunningApp(port=port, pid=pid, process="next-server (v15.5.0)", addresses=("127.0.0.1",), cwd=project,
                      project_dir=project, name=name, source=f"pid {pid} (next-server (v15.5.0))")


def site(app_port: int = 3001, listen: int = 80, roots: tuple[Path, ...] = (), host: str | None = "shop.example") -> NginxSite:
    return NginxSite(
        proxy_url=f"http://127.0.0.1:{listen}/", host=host, app_host="127.0.0.1", app_port=app_port,
        proxy_pass=f"proxy_pass http://127.0.0.1:{app_port}", source="/etc/nginx/sites-enabled/inventory:14",
        listen_source="/etc/nginx/sites-enabled/inventory:3", error_log=Path("/var/log/nginx/shop.error.log"),
        access_log=Path("/var/log/nginx/shop.access.log"), access_log_format='$remote_addr "$request" $status',
        roots=roots, server_names=(host,) if host else (),
    )


def unit(port: int | None = 3001, directory: Path = SHOP) -> ServiceUnit:
    return ServiceUnit(kind="systemd", name="inventory.service", working_directory=directory, port=port,
                       source="/etc/systemd/system/inventory.service")


def test_a_running_app_with_its_front_is_one_target_and_says_where_each_value_came_from():
    (target,) = combine(Findings(apps=[app()], sites=[site()]))
    assert (target.name, target.app_url, target.project_dir) == ("smart-inventory", "http://127.0.0.1:3001", SHOP)
    assert (target.proxy_url, target.proxy_host, target.proxy_error_log) == (
        "http://127.0.0.1:80/", "shop.example", Path("/var/log/nginx/shop.error.log"))
    origins = dict(target.origins)
    assert origins["app_url"] == "pid 42 (next-server (v15.5.0))"
    assert origins["upstream"] == "sites-enabled/inventory:14" and origins["proxy_url"] == "sites-enabled/inventory:3"
    assert target.upstream_mismatch is None
    assert (target.access_log, target.access_log_format) == (Path("/var/log/nginx/shop.access.log"), '$remote_addr "$request" $status')
    assert origins["access_log"] == "access_log of the server (sites-enabled/inventory:3)"


def test_a_site_whose_app_does_not_run_is_the_incident_with_the_project_from_its_unit():
    (target,) = combine(Findings(sites=[site()], units=[unit()]))
    assert (target.name, target.app_url, target.project_dir) == ("inventory", "http://127.0.0.1:3001", SHOP)
    assert dict(target.origins)["project_dir"] == "systemd inventory.service (/etc/systemd/system/inventory.service)"


def test_without_a_unit_the_project_is_unknown_and_the_probes_off():
    (target,) = combine(Findings(sites=[site(host=None)]))
    assert (target.name, target.project_dir) == ("nginx-3001", None)
    assert dict(target.origins)["project_dir"].startswith("unknown")


def test_a_site_on_an_empty_port_and_its_projects_app_elsewhere_are_one_target_with_the_mismatch():
    (target,) = combine(Findings(apps=[app(port=3002, pid=77)], sites=[site(app_port=3001)], units=[unit(port=3001)]))
    assert target.app_url == "http://127.0.0.1:3002" and target.proxy_url == "http://127.0.0.1:80/"
    mismatch = target.upstream_mismatch
    assert (mismatch.nginx_source, mismatch.expected_port, mismatch.app_port, mismatch.app_pid) == (
        "sites-enabled/inventory:14", 3001, 3002, 77)
    assert "inventory.service" in mismatch.inference


def test_the_sites_root_inside_the_apps_project_pairs_them_too():
    (target,) = combine(Findings(apps=[app(port=3002)], sites=[site(app_port=3001, roots=(SHOP / "public",))]))
    assert target.upstream_mismatch.inference.startswith("the site's root /srv/shop/public")


def test_a_lone_dangling_site_and_a_lone_unfronted_app_are_paired_as_an_inference():
    (target,) = combine(Findings(apps=[app(port=4000, project=Path("/opt/other"))], sites=[site(app_port=3001)]))
    assert target.upstream_mismatch.inference.startswith("inferred")


def test_two_candidates_are_not_guessed_at():
    targets = combine(Findings(apps=[app(port=4000, pid=1, name="a"), app(port=4001, pid=2, name="b")],
                               sites=[site(app_port=3001)]))
    assert [t.upstream_mismatch for t in targets] == [None, None, None]
    assert sorted(t.app_url for t in targets) == ["http://127.0.0.1:3001", "http://127.0.0.1:4000", "http://127.0.0.1:4001"]


def test_a_configured_target_wins_for_the_same_app_port_and_names_stay_unique():
    configured = (Target(name="smart-inventory", app_url="http://127.0.0.1:3001"),)
    targets = combine(Findings(apps=[app(port=3001), app(port=3005, pid=5)]), configured)
    assert [(t.name, t.app_url) for t in targets] == [("smart-inventory-3005", "http://127.0.0.1:3005")]


def test_odd_package_names_become_valid_target_names():
    (target,) = combine(Findings(apps=[app(name="@acme/shop web")]))
    assert target.name == "acme-shop-web"


def test_sources_in_nginx_s_own_directory_are_shortened():
    assert short_source("/etc/nginx/conf.d/shop.conf:7") == "conf.d/shop.conf:7"
    assert short_source("/opt/nginx/shop.conf:7") == "/opt/nginx/shop.conf:7"


def test_discover_prints_the_access_log_and_its_format_as_a_config_that_loads_back():
    from exporter.config import parse_config
    from exporter.discover_cli import render_yaml

    (target,) = combine(Findings(apps=[app()], sites=[site()]))
    text = render_yaml([target], [])
    assert 'access_log: "/var/log/nginx/shop.access.log"  # access_log of the server (sites-enabled/inventory:3)' in text
    (loaded,) = parse_config(text, "discovered.yml").targets
    assert (loaded.access_log, loaded.access_log_format) == (target.access_log, target.access_log_format)
