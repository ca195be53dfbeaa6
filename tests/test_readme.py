"""The README documents every metric with its HELP text and every diagnosis check."""

from pathlib import Path

import pytest

from exporter.diagnosis import CHECKS
from exporter.metrics import METRICS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_is_listed_with_its_help(name):
    assert f"| `{name}` |" in README and METRICS[name].help in README


@pytest.mark.parametrize("check", list(CHECKS))
def test_every_check_is_documented(check):
    assert f"| `{check}` |" in README


def test_the_two_quick_start_commands_are_there():
    assert "make run" in README and "make test" in README


ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_stands_alone_without_the_shared_folder():
    assert "../shared" not in README and "shared/seed" not in README
    assert "## The incident it was built from" in README


def test_every_relative_link_and_picture_of_the_readme_exists():
    import re

    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert "docs/landing-page.png" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


def test_the_pictures_are_real_pngs():
    for name in ("landing-page.png", "landing-page.zh-CN.png"):
        data = (ROOT / "docs" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_the_diagnose_example_is_the_one_the_script_captured():
    captured = (ROOT / "docs/diagnose-example.txt").read_text().split("\n", 1)[1].rstrip("\n")
    assert f"```text\n{captured}\n```" in README
    assert "Root cause: app_not_listening" in captured


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def flag_spellings() -> list[str]:
    from exporter.cli import build_parser

    flags = []
    for action in build_parser()._actions:
        longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
        if not longs:
            continue
        negated = [o for o in longs if o.startswith("--no-")]
        flags.append(f"--[no-]{longs[0][2:]}" if negated else longs[0])
    return flags


@pytest.mark.parametrize("flag", flag_spellings())
def test_every_flag_is_in_the_command_line_table(flag):
    assert f"| `{flag}` |" in section("Command line")


def test_every_page_is_in_the_http_endpoints_table():
    from exporter.app import create_app
    from tests.test_app import state_for
    from exporter.config import Target

    table = section("HTTP endpoints")
    paths = {resource.canonical for resource in create_app(state_for(Target(name="t"))).router.resources()}
    assert paths == {"/", "/metrics", "/probe", "/config", "/-/healthy", "/-/ready", "/-/reload"}
    for path in paths:
        assert f"`{path}" in table or f"`POST {path}" in table or f", `{path}`" in table, path
    assert "debug=true" in table


def test_the_discover_example_is_a_config_that_loads():
    from exporter.config import parse_config

    start = README.index("```yaml\n# Discovered by inventory-exporter")
    example = README[start + len("```yaml\n"):README.index("```", start + 8)]
    (target,) = parse_config(example, "README").targets
    assert (target.name, target.app_url, target.proxy_host) == ("smart-inventory", "http://127.0.0.1:3001", "shop.example.com")
