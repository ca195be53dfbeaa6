"""docs/deployment.md: a section per path with its commands, the files it names exist, and it says
what was only validated statically."""

from __future__ import annotations

import re

import pytest

from .conftest import DEPLOYMENT_DOC, ROOT

DOC = DEPLOYMENT_DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"no section '## {title}'"
    return match.group(1)


@pytest.mark.parametrize("title,commands", [
    ("Bare metal with systemd", ["systemctl enable --now inventory-exporter", "--config.check", "systemd-analyze verify"]),
    ("Docker Compose", ["docker compose up -d --build", "docker build -t inventory-exporter:"]),
    ("Kubernetes", ["kubectl apply -k deploy/kubernetes", "python deploy/kubernetes/generate_prometheusrule.py"]),
    ("Many app instances, one Prometheus", ["promtool check config deploy/prometheus/file_sd/prometheus.yml",
                                            "promtool check config deploy/prometheus/multi-target/prometheus.yml"]),
])
def test_each_deployment_path_has_a_section_with_its_exact_commands(title, commands):
    body = section(title)
    assert "```bash" in body
    for command in commands:
        assert command in body, command


def test_every_repository_file_the_doc_names_exists():
    named = set(re.findall(r"`((?:deploy|alerting-rules|grafana|examples|docs)/[\w./*-]+|Dockerfile|\.dockerignore|docker-compose\.yml)`", DOC))
    assert len(named) > 10
    for path in named:
        assert list(ROOT.glob(path)), path


def test_the_doc_says_docker_compose_and_kubernetes_were_validated_statically_and_not_started():
    note = DOC.split("## Bare metal", 1)[0]
    assert "validated statically" in note
    assert "never built" in note and "never started" in note and "never applied" in note
