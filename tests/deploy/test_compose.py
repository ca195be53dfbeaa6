"""docker-compose.yml, checked statically (Docker does not run here): every referenced file exists,
every image is pinned, ports, volumes and addresses agree with the Dockerfile, the Prometheus,
Alertmanager and Grafana configs they mount, and promtool accepts the Prometheus config as mounted."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from tests.support.stack import require

from .conftest import (
    ALERTMANAGER_FILE,
    EXPORTER_JOB_RE,
    EXPORTER_PORT,
    ROOT,
    RULES_FILE,
    compose,
    config_check,
    dockerfile_stages,
    flag,
    image_is_pinned,
    load_yaml,
    mounts,
    parse_flags,
    port_of,
)

SERVICES = compose()["services"]
EXPORTER = SERVICES["inventory-exporter"]
PROMETHEUS = SERVICES["prometheus"]
ALERTMANAGER = SERVICES["alertmanager"]
GRAFANA = SERVICES["grafana"]


def host_path(service: dict, container_path: str) -> Path:
    """The repository file bind-mounted at ``container_path`` (or under a mounted directory)."""
    for target, (source, _) in sorted(mounts(service).items(), key=lambda kv: -len(kv[0])):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            assert source.startswith("./"), f"{container_path} is mounted from {source}, not from the repository"
            return ROOT / source[2:] / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted into the service")


def prometheus_config() -> dict:
    return load_yaml(host_path(PROMETHEUS, flag(PROMETHEUS["command"], "--config.file")))


def test_the_stack_has_the_exporter_prometheus_alertmanager_and_grafana():
    assert set(SERVICES) == {"inventory-exporter", "prometheus", "alertmanager", "grafana"}


@pytest.mark.parametrize("name", ["prometheus", "alertmanager", "grafana"])
def test_every_pulled_image_is_pinned_to_a_version(name):
    image = SERVICES[name]["image"]
    assert image_is_pinned(image), image
    assert not image.endswith(":latest")


def test_the_exporter_is_built_from_the_dockerfile_and_tagged_with_the_package_version():
    assert EXPORTER["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (ROOT / EXPORTER["build"]["dockerfile"]).is_file()
    assert EXPORTER["image"] == f"inventory-exporter:{__version__}"
    assert image_is_pinned(EXPORTER["image"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_bind_mounted_repository_file_exists(name):
    repo_mounts = [source for source, _ in mounts(SERVICES[name]).values() if source.startswith("./")]
    for source in repo_mounts:
        assert (ROOT / source[2:]).exists(), f"{name} mounts {source}, which does not exist"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_named_volume_and_network_is_declared(name):
    service = SERVICES[name]
    for source, _ in mounts(service).values():
        if not source.startswith(("/", ".", "$")):
            assert source in compose()["volumes"], source
    for network in service.get("networks", []):
        assert network in compose()["networks"], network


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_names_a_service_of_the_stack(name):
    for dependency in SERVICES[name].get("depends_on", []):
        assert dependency in SERVICES


def test_published_ports_are_unique_and_bound_to_loopback():
    published = [p for s in SERVICES.values() for p in s.get("ports", [])]
    assert published
    host_ports = [p.split(":")[1] for p in published]
    assert len(host_ports) == len(set(host_ports))
    assert all(p.startswith("127.0.0.1:") for p in published)


def test_the_exporter_listens_on_the_port_the_dockerfile_exposes():
    flags = parse_flags(EXPORTER["command"])
    expose = dockerfile_stages()[-1].all("EXPOSE")[0].args
    assert [port_of(address) for address in flags.listen] == [int(expose)] == [EXPORTER_PORT]


def test_the_exporter_shares_the_hosts_network_so_that_127_0_0_1_is_the_app():
    assert EXPORTER["network_mode"] == "host"
    assert "ports" not in EXPORTER and "networks" not in EXPORTER
    config = load_yaml(host_path(EXPORTER, str(parse_flags(EXPORTER["command"]).config_file)))
    assert all(t["app_url"].startswith("http://127.0.0.1:") for t in config["targets"])


def test_every_mount_of_the_exporter_is_read_only_and_so_is_its_root_filesystem():
    assert all(mode == "ro" for _, mode in mounts(EXPORTER).values())
    assert EXPORTER["read_only"] is True and EXPORTER["cap_drop"] == ["ALL"]


def test_the_exporters_mounted_config_passes_config_check():
    config_file = host_path(EXPORTER, str(parse_flags(EXPORTER["command"]).config_file))
    result = config_check(config_file)
    assert result.returncode == 0, result.stderr


def test_the_exporters_config_reads_only_paths_mounted_into_its_container():
    config = load_yaml(host_path(EXPORTER, str(parse_flags(EXPORTER["command"]).config_file)))
    targets = set(mounts(EXPORTER))
    for target in config["targets"]:
        for key in ("project_dir", "proxy_error_log"):
            if key in target:
                path = target[key]
                assert any(path == t or path.startswith(t + "/") for t in targets), f"{key} {path} is not mounted"


def test_prometheus_reaches_the_exporter_on_the_host_through_host_gateway():
    assert "host.docker.internal:host-gateway" in PROMETHEUS["extra_hosts"]
    jobs = [j for j in prometheus_config()["scrape_configs"] if EXPORTER_JOB_RE.fullmatch(j["job_name"])]
    assert len(jobs) == 1
    targets = [t for sc in jobs[0]["static_configs"] for t in sc["targets"]]
    assert targets == [f"host.docker.internal:{EXPORTER_PORT}"]
    assert jobs[0].get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_loads_the_shipped_rules_through_its_mounts():
    rule_files = [host_path(PROMETHEUS, r) for r in prometheus_config()["rule_files"]]
    assert rule_files == [RULES_FILE]


def test_prometheus_alerts_to_the_alertmanager_of_the_stack():
    configs = prometheus_config()["alerting"]["alertmanagers"]
    targets = [t for c in configs for sc in c["static_configs"] for t in sc["targets"]]
    alertmanager_port = port_of(flag(ALERTMANAGER["command"], "--web.listen-address") or ":9093")
    assert targets == [f"alertmanager:{alertmanager_port}"]
    assert set(ALERTMANAGER["networks"]) & set(PROMETHEUS["networks"])


def test_alertmanager_loads_the_shipped_example_config():
    assert host_path(ALERTMANAGER, flag(ALERTMANAGER["command"], "--config.file")) == ALERTMANAGER_FILE


def test_promtool_accepts_the_compose_prometheus_config_with_its_mounts_resolved(tmp_path):
    config = prometheus_config()
    config["rule_files"] = [str(host_path(PROMETHEUS, r)) for r in config["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run([require("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_the_compose_prometheus_config_as_is_outside_the_container():
    """Control: the rules path is a container path, so the check above only passes through the mounts."""
    path = host_path(PROMETHEUS, flag(PROMETHEUS["command"], "--config.file"))
    result = subprocess.run([require("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_grafana_is_provisioned_from_the_shipped_provisioning_and_dashboards():
    grafana_mounts = mounts(GRAFANA)
    assert grafana_mounts["/etc/grafana/provisioning"] == ("./grafana/provisioning", "ro")
    provisioning = ROOT / "grafana" / "provisioning"
    assert list((provisioning / "datasources").glob("*.y*ml")), "no datasource provisioning file"
    assert list((provisioning / "dashboards").glob("*.y*ml")), "no dashboard provider file"
    dashboards = [t for t, (s, _) in grafana_mounts.items() if s.startswith("./grafana/dashboards")]
    assert dashboards, "the dashboards are not mounted"
    assert all(list(host_path(GRAFANA, d).glob("*.json")) for d in dashboards)


def test_grafanas_dashboard_providers_point_at_the_mounted_dashboards():
    mounted = [t for t, (s, _) in mounts(GRAFANA).items() if s.startswith("./grafana/dashboards")]
    providers = [p for f in sorted((ROOT / "grafana/provisioning/dashboards").glob("*.y*ml"))
                 for p in load_yaml(f).get("providers", [])]
    assert providers
    for provider in providers:
        path = provider["options"]["path"]
        assert any(path == m or path.startswith(m + "/") for m in mounted), f"provider path {path} is not mounted"
        assert list(host_path(GRAFANA, path).rglob("*.json")), f"no dashboards under {path}"


def test_grafanas_prometheus_datasource_is_the_prometheus_of_the_stack():
    datasources = [d for f in sorted((ROOT / "grafana/provisioning/datasources").glob("*.y*ml"))
                   for d in load_yaml(f).get("datasources", [])]
    prometheus = [d for d in datasources if d.get("type") == "prometheus"]
    assert prometheus
    listen = flag(PROMETHEUS["command"], "--web.listen-address") or ":9090"
    assert all(re.fullmatch(rf"http://prometheus:{port_of(listen)}/?", d["url"]) for d in prometheus), prometheus
    assert set(GRAFANA["networks"]) & set(PROMETHEUS["networks"])


def test_the_compose_file_says_it_was_only_validated_statically():
    assert "Validated statically only" in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def test_the_exporter_gets_descriptors_for_the_connection_cap_and_the_probes_reserve():
    from exporter.web.connections import DEFAULT_MAX_CONNECTIONS, DESCRIPTOR_RESERVE

    nofile = EXPORTER["ulimits"]["nofile"]
    assert nofile["soft"] == nofile["hard"] >= 4 * (DEFAULT_MAX_CONNECTIONS + DESCRIPTOR_RESERVE)
    assert "--ulimit nofile=65536:65536" in (ROOT / "Dockerfile").read_text(), "the docker run example sets the same"
