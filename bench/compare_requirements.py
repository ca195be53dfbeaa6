"""bench/compare.py: the tools and Python modules it needs; a missing one is named and the exit code is 2."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

TOOLS = {  # what we need: (names to look for, the Debian package that provides it)
    "blackbox_exporter": (("prometheus-blackbox-exporter", "blackbox_exporter"), "prometheus-blackbox-exporter"),
    "node_exporter": (("prometheus-node-exporter", "node_exporter"), "prometheus-node-exporter"),
    "nginx": (("nginx",), "nginx"),
    "wrk": (("wrk",), "wrk"),
}
PY_MODULES = {  # the exporter's own dependencies, and pytest for the shared test helpers
    "aiohttp": "aiohttp", "psutil": "psutil", "dns": "dnspython", "yaml": "PyYAML",
    "prometheus_client": "prometheus-client", "pytest": "pytest",
}


def find_tool(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/local/bin/{name}") if os.path.exists(p)), None
        )
        if path:
            return path
    return None


def check_requirements() -> dict[str, str]:
    """Every tool's path; exit 2 naming whatever is missing (nothing is installed here)."""
    found, missing = {}, []
    for tool, (names, package) in TOOLS.items():
        path = find_tool(names)
        if path:
            found[tool] = path
        else:
            missing.append(f"{tool} (Debian package {package})")
    for module, package in PY_MODULES.items():
        if importlib.util.find_spec(module) is None:
            missing.append(f"Python module {module} (pip package {package})")
    if missing:
        print("bench/compare.py: missing: " + ", ".join(missing), file=sys.stderr)
        print("install them (e.g. apt-get install prometheus-blackbox-exporter prometheus-node-exporter nginx wrk); "
              "this script installs nothing", file=sys.stderr)
        sys.exit(2)
    return found
