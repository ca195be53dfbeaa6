"""What the diagnosis reads: one scrape's samples for a target (or the host), looked up by metric
name, and the incident report's thresholds."""

from __future__ import annotations

from typing import Iterable, Iterator

from exporter.metrics import Samples

THRESHOLDS = {
    "api_seconds": 0.5,
    "page_seconds": 3.0,
    "db_query_seconds": 0.1,
    "cpu_ratio": 0.5,
    "memory_ratio": 0.8,
    "disk_ratio": 0.9,
    "log_stale_seconds": 3600.0,
    "cert_warning_days": 14.0,
    "cert_critical_days": 3.0,
}


class Facts(Samples):
    """Read-only view of one target's (or, with target "", the host's) samples."""

    def __init__(self, samples: Iterable[tuple[str, dict[str, str], float]], target: str | None):
        """``target`` None keeps every sample (a view over a target and the host together)."""
        rows = list(samples) if target is None else [row for row in samples if row[1].get("target", "") == target]
        super().__init__(store=rows)
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
        for name, labels, value in self.store:  # the checks ask ~80 questions: look up by name, not scan
            self.by_name.setdefault(name, []).append((labels, value))

    def matching(self, name: str, /, **labels: str) -> Iterator[tuple[dict[str, str], float]]:
        for sample_labels, value in self.by_name.get(name, ()):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                yield sample_labels, value

    def value(self, name: str, /, **labels: str) -> float | None:
        return next((value for _, value in self.matching(name, **labels)), None)

    get = value

    def all(self, name: str, /, **labels: str) -> list[tuple[dict[str, str], float]]:
        return list(self.matching(name, **labels))

    def failure(self, probe: str) -> str | None:
        for labels, _ in self.all("inventory_probe_failure_info", probe=probe):
            return labels.get("reason")
        return None


Evidence = dict[str, str]
