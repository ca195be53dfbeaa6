"""Where each target came from, what discovery could not read, and what to do when nothing was
found: the lines the report shows in every format, in English and Chinese."""

from __future__ import annotations

from typing import Any

from exporter.config import Target

LABELS = {
    "en": {
        "from": "Found", "config": "written in the config file", "errors": "Discovery could not read",
        "nothing": "No app found on this host: no Next.js server listens here, and no nginx site proxies to a "
                   "loopback port.",
        "how": "Start the app (npm run dev), point the exporter at nginx's config with --discovery.nginx-config, "
               "or write a target by hand: inventory-exporter --config.file config.yml (see examples/config.yml; "
               "inventory-exporter discover prints a starting point).",
    },
    "zh-CN": {
        "from": "来源", "config": "配置文件中手动配置", "errors": "自动发现无法读取",
        "nothing": "本机未发现应用：没有 Next.js 服务在监听端口，也没有 Nginx 站点代理到本地端口。",
        "how": "请启动应用（npm run dev），或用 --discovery.nginx-config 指定 Nginx 配置，"
               "或手动编写目标：inventory-exporter --config.file config.yml（参见 examples/config.yml；"
               "inventory-exporter discover 可生成初稿）。",
    },
}


def origin_text(target: Target, lang: str) -> str:
    """``app_url ← pid 42 (next-server); proxy_url ← sites-enabled/inventory:3; ...`` or "written in the config file"."""
    words = LABELS[lang]
    if not target.origins:
        return words["config"]
    return "; ".join(f"{key} ← {where}" for key, where in target.origins)


def origin_dict(target: Target) -> dict[str, Any]:
    return {"source": "discovery" if target.origins else "config", "sources": dict(target.origins)}


def error_lines(errors: list, lang: str) -> list[str]:
    if not errors:
        return []
    return [f"{LABELS[lang]['errors']}: " + "; ".join(f"{e.source} {e.reason} {e.detail}" for e in errors[:20])
            + (f" (+{len(errors) - 20})" if len(errors) > 20 else "")]


def nothing_found_lines(lang: str) -> list[str]:
    return [LABELS[lang]["nothing"], LABELS[lang]["how"]]
