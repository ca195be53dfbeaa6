"""Shared paths and loaders for the alerting bundle tests."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.support.modules import load_script

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "alerting-rules"
GENERATOR = RULES_DIR / "generate.py"
RULES_FILE = RULES_DIR / "inventory.rules.yml"
ALERTMANAGER_FILE = RULES_DIR / "alertmanager.yml"
UNIT_TESTS = sorted((RULES_DIR / "tests").glob("*.test.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def load_generator():
    """alerting-rules/generate.py as a module (its directory name is not a Python package name)."""
    return load_script(GENERATOR, "inventory_rules_generate")


def shipped_alerts() -> dict[str, dict]:
    """Alert name -> rule, from the committed rules file."""
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
