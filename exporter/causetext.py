"""What each root cause of exporter.diagnosis means, in English and Simplified Chinese: the words the
report, ``diagnose`` and the status page put beside the cause's name."""

from __future__ import annotations

CAUSE_TEXT = {
    "port_conflict": ("Another process holds the app port, so the app cannot listen there",
                      "应用端口被其他进程占用，应用无法监听"),
    "app_not_listening": ("The app is not running on its port: nothing answers there (through nginx: 502 Bad Gateway)",
                          "应用未在预期端口上运行：该端口无人应答（经 Nginx 访问则返回 502 Bad Gateway）"),
    "app_unresponsive": ("The app accepts connections but does not answer in time (hung or overloaded)",
                         "应用端口可连接，但请求超时无响应（进程卡死或过载）"),
    "database_unavailable": ("The database is unavailable, so the app cannot serve data",
                             "数据库不可用，应用无法提供数据"),
    "app_error": ("The app is up but its endpoints fail", "应用在运行，但接口返回错误"),
    "proxy_upstream_misconfigured": ("The app is healthy, but nginx cannot reach it: check proxy_pass and the upstream port",
                                     "应用正常，但 Nginx 无法访问应用：请检查 proxy_pass 与上游端口配置"),
    "proxy_down": ("The app is healthy, but nginx does not answer", "应用正常，但 Nginx 无响应"),
    "https_front_rejected": ("nginx and the app answer, but browsers refuse the https front: its certificate has "
                             "expired, is for another host name or is not trusted, or it speaks only TLS 1.0/1.1",
                             "Nginx 与应用均正常，但浏览器拒绝 HTTPS 前端：证书已过期、与域名不匹配或不受信任，"
                             "或仅支持 TLS 1.0/1.1"),
    "upstream_keepalive_mismatch": ("nginx sees upstream connections closed early: Node's keep-alive timeout is shorter than nginx's",
                                    "Nginx 发现上游连接被提前关闭：Node 的 keep-alive 超时短于 Nginx"),
    "not_checked": ("Some probes timed out, so the target could not be fully checked (a hung file system or "
                    "database, or probe threads stuck): its state is unknown",
                    "部分探测超时，无法完整检查该目标（文件系统或数据库挂起，或探测线程卡住）：状态未知"),
    "none": ("No problem found", "未发现问题"),
}
