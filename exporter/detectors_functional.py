"""Detectors for what an endpoint's conditions and a page's full render found (see exporter.detectors)."""

from __future__ import annotations

from exporter.facts import Facts

# A failed condition of these kinds is not the app failing: slowness has its own checks, and an
# unreadable secret is the exporter's side. They are findings, never the app_error root cause.
NOT_APP_ERRORS = ("max_seconds", "secrets")


def _condition_failures(f: Facts):
    if not f.all("inventory_http_condition_success"):
        return False
    rows = f.all("inventory_http_condition_failure_info")
    if not rows:
        return None
    failed = [f"{l['path']} {l['condition']} ({l['reason']}): {l.get('seen', '')}" for l, _ in rows]
    return {"failed": " | ".join(failed)}


def app_condition_failed(f: Facts) -> bool:
    """Did a condition fail that says the app answers wrongly (a status, a body, a JSON value)?"""
    return any(l["condition"] not in NOT_APP_ERRORS for l, _ in f.all("inventory_http_condition_failure_info"))


def _page_assets(f: Facts):
    rows = f.all("inventory_page_assets")
    if not rows:
        return False
    failing = sum(v for l, v in rows if l["result"] != "ok")
    if not failing:
        return None
    total = sum(v for _, v in rows)
    listed = [f"{l['path']}: {l['asset']} → {l['status']}" for l, _ in f.all("inventory_page_asset_failure_info")]
    return {"failing": f"{int(failing)} of {int(total)}", "assets": ", ".join(listed)}


def _stale_build(f: Facts):
    rows = f.all("inventory_page_build_stale")
    if not rows:
        return False
    stale = [l["path"] for l, v in rows if v]
    if not stale:
        return None
    ids = {l["path"]: l for l, _ in f.all("inventory_page_build_id_info")}
    first = ids.get(stale[0], {})
    return {"pages": ", ".join(stale), "page_build_id": first.get("page_build_id", ""),
            "project_build_id": first.get("project_build_id", "")}


# --- the report's checklist items (None: not measured) ---------------------------------------


def conditions_met(f: Facts) -> bool | None:
    rows = [v for _, v in f.all("inventory_http_condition_success")]
    return all(rows) if rows else None


def pages_render(f: Facts) -> bool | None:
    assets = f.all("inventory_page_assets")
    if not assets:
        return None
    failing = any(v for l, v in assets if l["result"] != "ok")
    return not failing and not any(v for _, v in f.all("inventory_page_build_stale"))
