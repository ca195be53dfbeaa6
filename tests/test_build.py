"""The source revision: from the build-time environment variable, else from a real git checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from exporter import __version__
from exporter.build import PACKAGE_ROOT, REVISION_ENV, find_revision, version_text

GIT = shutil.which("git")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if GIT is None:
        pytest.fail("git is required for this test")
    root = tmp_path / "src"
    (root / "exporter").mkdir(parents=True)
    (root / "exporter" / "__init__.py").write_text("")
    git("init", "-q", cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-qm", "one", cwd=root)
    return root


def test_the_environment_variable_wins(checkout: Path):
    assert find_revision({REVISION_ENV: "0123abc"}, checkout) == "0123abc"


def test_a_git_checkout_gives_its_head(checkout: Path):
    assert find_revision({}, checkout) == git("rev-parse", "HEAD", cwd=checkout)


def test_a_directory_inside_someone_elses_repository_is_not_a_revision(checkout: Path):
    """A package installed into a subdirectory of another repository must not take its revision."""
    nested = checkout / "venv" / "site-packages"
    nested.mkdir(parents=True)
    assert find_revision({}, nested) == ""


def test_no_checkout_and_no_variable_is_empty(tmp_path: Path):
    assert find_revision({}, tmp_path) == ""


@pytest.mark.parametrize("bad", ["has space", 'quote"', "x" * 65, "a\nb"])
def test_an_odd_variable_is_ignored_rather_than_put_in_a_label(checkout: Path, bad: str):
    assert find_revision({REVISION_ENV: bad}, checkout) == ""


def test_version_text_names_version_and_revision():
    text = version_text()
    assert text.startswith(f"inventory-exporter {__version__} (revision: ")
    expected = find_revision() or "unknown"
    assert text.endswith(f"(revision: {expected})")
    assert PACKAGE_ROOT.joinpath("exporter", "build.py").exists()
