"""What users got: from the access log's five-minute window, how many requests failed, with which
status, since when (the root cause line says it), and the wording in English and Chinese."""

from __future__ import annotations

import time
from dataclasses import dataclass

from exporter.facts import Facts


@dataclass(frozen=True)
class Impact:
    failed: int  # 5xx responses in the last 5 minutes
    total: int  # every response in the last 5 minutes
    statuses: tuple[tuple[str, int], ...]  # (status, count), most frequent first
    since: float | None  # Unix time of the first 5xx of the current unbroken run of them

    @property
    def ratio(self) -> float:
        return self.failed / self.total if self.total else 0.0


def impact_of(facts: Facts) -> Impact | None:
    """None when the target has no access log (or nothing was logged in the window)."""
    recent = facts.all("inventory_requests_recent")
    if not recent:
        return None
    total = int(sum(value for _, value in recent))
    by_status = {labels["status"]: int(value) for labels, value in facts.all("inventory_requests_failed_recent") if value}
    if not total:
        return None
    statuses = tuple(sorted(by_status.items(), key=lambda item: (-item[1], item[0])))
    return Impact(sum(by_status.values()), total, statuses, facts.get("inventory_requests_failing_since_timestamp_seconds"))


def impact_text(impact: Impact | None, lang: str) -> str | None:
    """``1,204 requests answered 502 since 21:04 (100 %)``; None when nothing failed."""
    if impact is None or not impact.failed:
        return None
    statuses = "/".join(status for status, _ in impact.statuses[:3])
    since = time.strftime("%H:%M", time.localtime(impact.since)) if impact.since else None
    percent = f"{impact.ratio * 100:.0f} %" if impact.ratio >= 0.01 else f"{impact.ratio * 100:.2f} %"
    if lang == "zh-CN":
        when = f"自 {since} 以来，" if since else "最近 5 分钟内，"
        return f"{when}{impact.failed:,} 个用户请求返回 {statuses}（占 {percent}）"
    when = f" since {since}" if since else " in the last 5 minutes"
    return f"{impact.failed:,} user requests answered {statuses}{when} ({percent} of {impact.total:,})"


def impact_dict(impact: Impact | None) -> dict | None:
    if impact is None:
        return None
    return {
        "failed_requests": impact.failed,
        "requests": impact.total,
        "failed_ratio": round(impact.ratio, 4),
        "statuses": {status: count for status, count in impact.statuses},
        "failing_since_unix_seconds": impact.since,
    }
