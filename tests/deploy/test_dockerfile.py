"""The Dockerfile, checked statically (Docker does not run here) and its healthcheck run for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import free_port
from tests.support.stack import Process

from .conftest import (
    DOCKERFILE,
    EXPORTER_PORT,
    ROOT,
    config_check,
    context_files,
    copy_sources,
    dockerfile_stages,
    image_is_pinned,
    in_build_context,
    parse_flags,
    port_of,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def final_stage():
    return dockerfile_stages()[-1]


def only(stage, keyword):
    found = stage.all(keyword)
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def test_the_dockerfile_has_a_build_stage_and_a_runtime_stage():
    stages = dockerfile_stages()
    assert len(stages) == 2
    assert stages[0].name == "build"


def test_the_build_stage_builds_a_wheel_from_pyproject():
    runs = " ".join(i.args for i in dockerfile_stages()[0].all("RUN"))
    assert re.search(r"pip wheel|python -m build", runs)
    assert "hatchling" in PYPROJECT["build-system"]["requires"]


def test_the_runtime_stage_installs_the_built_wheel_into_a_virtualenv_without_an_index():
    runs = " ".join(i.args for i in final_stage().all("RUN"))
    assert "from=build" in runs and "python -m venv" in runs
    assert "--no-index" in runs and PYPROJECT["project"]["name"] in runs


def test_every_base_image_is_pinned_to_an_exact_python_and_debian_release():
    for stage in dockerfile_stages():
        assert image_is_pinned(stage.base), stage.base
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stage.base), stage.base


def test_the_final_image_runs_as_a_non_root_user():
    user = final_stage().all("USER")[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    runs = " ".join(i.args for i in final_stage().all("RUN"))
    assert f"--uid {user}" in runs, "the USER is created in the image"


def test_the_exposed_port_is_the_exporters_default_port():
    assert only(final_stage(), "EXPOSE").args.split("/")[0] == str(EXPORTER_PORT) == "9731"


def test_the_healthcheck_asks_healthy_on_the_exposed_port_with_python_not_curl():
    check = only(final_stage(), "HEALTHCHECK").args
    assert f"http://127.0.0.1:{EXPORTER_PORT}/-/healthy" in check
    assert "urllib.request" in check and "curl" not in check and "wget" not in check


def healthcheck_command(port: int) -> list[str]:
    """The HEALTHCHECK's exec-form command, pointed at ``port`` and run by this interpreter."""
    options, _, command = only(final_stage(), "HEALTHCHECK").args.partition("CMD")
    argv = json.loads(command)
    assert argv[0] == "python"
    return [sys.executable] + [a.replace(f":{EXPORTER_PORT}/", f":{port}/") for a in argv[1:]]


def test_the_healthcheck_command_passes_against_a_running_exporter_and_fails_without_one(tmp_path):
    port = free_port()
    assert subprocess.run(healthcheck_command(port), capture_output=True, timeout=30).returncode != 0
    exporter = Process(
        [sys.executable, "-m", "exporter", f"--config.file={ROOT / 'deploy/docker/config.yml'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        port, cwd=tmp_path,
    )
    try:
        result = subprocess.run(healthcheck_command(port), capture_output=True, text=True, timeout=30)
    finally:
        exporter.stop()
    assert result.returncode == 0, result.stderr


def test_the_entrypoint_is_the_console_script_in_exec_form():
    assert only(final_stage(), "ENTRYPOINT").exec_form() == ["inventory-exporter"]
    assert "inventory-exporter" in PYPROJECT["project"]["scripts"]


def test_the_default_cmd_is_flags_the_exporter_accepts_with_the_baked_in_config_and_port():
    cmd = only(final_stage(), "CMD").exec_form()
    flags = parse_flags(cmd)
    assert str(flags.config_file) == "/etc/inventory-exporter/config.yml"
    assert [port_of(address) for address in flags.listen] == [EXPORTER_PORT]


def test_the_baked_in_config_is_copied_to_where_the_cmd_reads_it_and_passes_config_check():
    copies = {copy_sources(c)[0]: c.args.split()[-1] for c in final_stage().all("COPY")}
    assert copies["deploy/docker/config.yml"] == "/etc/inventory-exporter/config.yml"
    result = config_check(ROOT / "deploy/docker/config.yml")
    assert result.returncode == 0, result.stderr


def test_every_copied_path_exists_and_reaches_the_build_context():
    sources = [s for stage in dockerfile_stages() for c in stage.all("COPY") for s in copy_sources(c)]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert context_files(source), f"{source} is excluded by .dockerignore"


def test_the_build_context_holds_everything_hatchling_needs_for_the_wheel():
    version_file = PYPROJECT["tool"]["hatch"]["version"]["path"]
    needed = ["pyproject.toml", PYPROJECT["project"]["readme"], version_file]
    needed += [str(p.relative_to(ROOT)) for pkg in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
               for p in (ROOT / pkg).rglob("*.py")]
    copied = {s.rstrip("/") for c in dockerfile_stages()[0].all("COPY") for s in copy_sources(c)}
    for path in needed:
        assert in_build_context(path), f"{path} is excluded by .dockerignore"
        assert any(path == c or path.startswith(c + "/") for c in copied), f"{path} is not copied into the build stage"


@pytest.mark.parametrize("path", [".git/HEAD", "tests/conftest.py", "exporter/__pycache__/cli.cpython-311.pyc",
                                  "grafana/dashboards/x.json", "docker-compose.yml", ".venv/bin/python"])
def test_the_dockerignore_keeps_everything_else_out_of_the_build_context(path):
    assert not in_build_context(path)


def test_the_dockerfile_states_its_build_command():
    assert re.search(r"docker build (--build-arg REVISION=.+ )?-t inventory-exporter:", DOCKERFILE.read_text(encoding="utf-8"))


def test_the_source_revision_is_a_build_argument_passed_to_the_exporter():
    """The build context has no .git: the revision reaches inventory_exporter_build_info through
    ``--build-arg REVISION=...`` and the environment variable the exporter reads."""
    from exporter.build import REVISION_ENV

    stage = final_stage()
    args = [i.args.partition("=")[0].strip() for i in stage.all("ARG")]
    assert "REVISION" in args
    envs = " ".join(i.args for i in stage.all("ENV"))
    assert re.search(rf"\b{REVISION_ENV}=\$\{{REVISION\}}", envs), envs
    assert not in_build_context(".git"), "the revision must not depend on .git being in the context"
