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
