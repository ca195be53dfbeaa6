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
