"""Kubernetes manifests under deploy/kubernetes: the app with the exporter as a read-only sidecar,
its Service, config, ServiceMonitor and the PrometheusRule generated from the shipped rules.
Built-in kinds are validated against the Kubernetes JSON schemas (kubernetes-validate, offline);
the prometheus-operator kinds structurally, and the rule groups by promtool."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from exporter import __version__
from tests.support.stack import require

from .conftest import (
    EXPORTER_JOB_RE,
    EXPORTER_PORT,
    K8S,
    RULES_FILE,
    config_check,
    containers,
    image_is_pinned,
    k8s_documents,
    k8s_object,
    parse_flags,
    port_of,
)

GENERATOR = K8S / "generate_prometheusrule.py"
BUILT_IN = {"Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"}
DOCUMENTS = k8s_documents()


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deployment() -> dict:
    return k8s_object("Deployment", "smart-inventory")


def pod_spec() -> dict:
    return deployment()["spec"]["template"]["spec"]


def sidecar() -> dict:
    return containers(deployment())["inventory-exporter"]


def volume_mount(container: dict, volume: str) -> dict:
    found = [m for m in container.get("volumeMounts", []) if m["name"] == volume]
    assert len(found) == 1, f"{container['name']} mounts {volume} {len(found)} times"
    return found[0]


def project_volume() -> str:
    claims = [v["name"] for v in pod_spec()["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["project"]
    return claims[0]


@pytest.mark.parametrize("path,doc", DOCUMENTS, ids=[f"{p.name}:{d.get('kind')}" for p, d in DOCUMENTS])
def test_every_manifest_has_an_api_version_a_kind_and_a_name(path, doc):
    assert doc.get("apiVersion") == "v1" or re.fullmatch(r"[a-z0-9.-]+/v\d+\w*", doc.get("apiVersion", ""))
    assert isinstance(doc.get("kind"), str)
    if doc["kind"] != "Kustomization":
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_the_built_in_manifests_validate_against_the_kubernetes_schemas_strictly(kind):
    docs = [d for _, d in DOCUMENTS if d["kind"] == kind]
    assert docs, f"no {kind} manifest"
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_schema_validation_rejects_a_misspelt_field():
    """Control: the strict validation above bites."""
    broken = yaml.safe_load(yaml.safe_dump(deployment()))
    broken["spec"]["template"]["spec"]["containers"][1]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_the_kustomization_lists_every_manifest_of_the_directory():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)
    assert kustomization["namespace"] == k8s_object("Namespace")["metadata"]["name"]


def test_no_manifest_hard_codes_a_namespace_other_than_the_kustomizations():
    for _, doc in DOCUMENTS:
        assert doc.get("metadata", {}).get("namespace") in (None, "smart-inventory")


def test_the_exporter_runs_as_a_sidecar_of_the_app_in_one_pod():
    assert set(containers(deployment())) == {"app", "inventory-exporter"}
    assert deployment()["spec"]["replicas"] == 1, "SQLite on a ReadWriteOnce volume: one writer"


def test_the_sidecar_mounts_the_project_volume_read_only_and_the_app_read_write():
    volume = project_volume()
    exporter_mount = volume_mount(sidecar(), volume)
    app_mount = volume_mount(containers(deployment())["app"], volume)
    assert exporter_mount["readOnly"] is True
    assert app_mount.get("readOnly", False) is False
    assert exporter_mount["mountPath"] == app_mount["mountPath"]


def test_every_mount_of_the_sidecar_is_read_only_except_its_scratch_tmp():
    for mount in sidecar()["volumeMounts"]:
        assert mount.get("readOnly") is True or mount["mountPath"] == "/tmp", mount


def test_the_sidecar_runs_non_root_with_a_read_only_root_filesystem_and_no_privileges():
    context = sidecar()["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_the_pod_meets_the_restricted_pod_security_standard_its_namespace_enforces():
    assert k8s_object("Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert pod_spec()["securityContext"]["runAsNonRoot"] is True
    assert pod_spec()["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod_spec()["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
        assert context.get("runAsUser", 1) != 0


@pytest.mark.parametrize("name", ["app", "inventory-exporter"])
def test_every_container_has_resource_requests_and_a_memory_limit(name):
    resources = containers(deployment())[name]["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


@pytest.mark.parametrize("name", ["app", "inventory-exporter"])
def test_every_container_image_is_pinned_to_a_version(name):
    assert image_is_pinned(containers(deployment())[name]["image"])


def test_the_sidecar_image_is_the_one_the_dockerfile_builds_at_the_package_version():
    assert sidecar()["image"].endswith(f"/inventory-exporter:{__version__}")


def test_the_sidecar_listens_on_the_exporter_port_it_declares():
    flags = parse_flags(sidecar()["args"])
    assert [port_of(address) for address in flags.listen] == [EXPORTER_PORT]
    assert sidecar()["ports"] == [{"name": "metrics", "containerPort": EXPORTER_PORT}]


def test_the_sidecar_probes_are_healthy_and_ready_on_the_metrics_port():
    assert sidecar()["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"}
    assert sidecar()["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "metrics"}


def configmap_config() -> tuple[str, str]:
    """(file name, text) of the exporter config in the ConfigMap mounted where --config.file points."""
    config_file = Path(str(parse_flags(sidecar()["args"]).config_file))
    mount = next(m for m in sidecar()["volumeMounts"] if m["mountPath"] == str(config_file.parent))
    volume = next(v for v in pod_spec()["volumes"] if v["name"] == mount["name"])
    configmap = k8s_object("ConfigMap", volume["configMap"]["name"])
    return config_file.name, configmap["data"][config_file.name]


def test_the_configmap_holds_the_config_file_the_sidecar_reads_and_it_passes_config_check(tmp_path):
    name, text = configmap_config()
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = config_check(path)
    assert result.returncode == 0, result.stderr


def test_the_sidecars_config_watches_the_app_over_the_pods_loopback_in_the_mounted_project():
    config = yaml.safe_load(configmap_config()[1])
    app_port = containers(deployment())["app"]["ports"][0]["containerPort"]
    project_mount = volume_mount(sidecar(), project_volume())["mountPath"]
    for target in config["targets"]:
        assert target["app_url"] == f"http://127.0.0.1:{app_port}"
        assert target["project_dir"] == project_mount


def test_the_service_selects_the_pods_and_exposes_the_sidecars_metrics_port():
    service = k8s_object("Service")
    pod_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment()["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = service["spec"]["ports"]
    assert ports == [{"name": "metrics", "port": EXPORTER_PORT, "targetPort": "metrics", "protocol": "TCP"}]


def test_the_service_name_becomes_a_job_that_the_exporter_alerts_select():
    assert EXPORTER_JOB_RE.fullmatch(k8s_object("Service")["metadata"]["name"])
    assert "jobLabel" not in k8s_object("ServiceMonitor")["spec"], "the job is the Service name"


def test_the_service_monitor_selects_the_service_and_scrapes_its_metrics_port():
    monitor = k8s_object("ServiceMonitor")
    service = k8s_object("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoints = monitor["spec"]["endpoints"]
    assert [e["port"] for e in endpoints] == [p["name"] for p in service["spec"]["ports"]]
    assert all(e["path"] == "/metrics" for e in endpoints)
    assert all(set(e) <= {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings"} for e in endpoints)


def test_the_service_monitor_and_the_rule_carry_the_same_prometheus_selector_label():
    assert k8s_object("ServiceMonitor")["metadata"]["labels"]["release"] == k8s_object("PrometheusRule")["metadata"]["labels"]["release"]


def test_the_committed_prometheus_rule_is_what_the_generator_writes_from_the_shipped_rules():
    generator = load_generator()
    assert generator.RULES == RULES_FILE
    expected = generator.render(RULES_FILE.read_text(encoding="utf-8"))
    assert (K8S / "prometheusrule.yaml").read_text(encoding="utf-8") == expected


def test_the_generators_check_mode_passes_on_the_committed_file_and_fails_on_a_stale_one(tmp_path):
    ok = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text((K8S / "prometheusrule.yaml").read_text(encoding="utf-8").replace("for: 1m", "for: 2m", 1))
    bad = subprocess.run([sys.executable, str(GENERATOR), "--check", "--out", str(stale)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "stale" in bad.stderr


def test_the_prometheus_rule_carries_every_shipped_group_unchanged():
    rule = k8s_object("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]


def test_the_generator_refuses_a_rules_file_without_groups():
    with pytest.raises(ValueError, match="groups"):
        load_generator().build("groups: []\n")


def test_promtool_accepts_the_prometheus_rules_groups(tmp_path):
    spec = k8s_object("PrometheusRule")["spec"]
    path = tmp_path / "prometheusrule-spec.rules.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = subprocess.run([require("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = sum(len(g["rules"]) for g in spec["groups"])
    assert f"SUCCESS: {shipped} rules found" in result.stdout
