"""nginx discovery on real layouts: every layout is accepted by the real nginx (``nginx -t``) unless
it holds what nginx itself refuses, one is served by a real nginx and reached as discovered, and
one is read by an unprivileged child (uid 65534) that cannot read a root-only include."""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import tempfile
from pathlib import Path

import trustme

from exporter.discovery import nginx_conf
from exporter.discovery.model import DiscoveryError, NginxSite
from exporter.discovery.nginx import discover_sites
from tests.conftest import free_port
from tests.discovery.nginx_layouts import Layout
from tests.support.stack import start_app

HTTP_LOGS = """
log_format main_fmt escape=json '{"remote":"$remote_addr",' '"status":$status}';
access_log logs/http-access.log;
error_log logs/http-error.log warn;
"""


def tls_files(layout: Layout, *names: str) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    cert_path, key_path = layout.prefix / "cert.pem", layout.prefix / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, cert_path, key_path


def debian_layout(prefix: Path) -> Layout:
    """conf.d (upstreams, a server whose proxy_pass is in an included snippet), linked sites (an
    upstream, several server_names, listen 443-style ssl), a regular file in sites-enabled with a
    variable, a unix socket and remote backends, and a site that is not enabled."""
    layout = Layout(prefix, http=HTTP_LOGS)
    _, cert, key = tls_files(layout, "shop.example")
    layout.write("conf.d/upstreams.conf", """
        upstream inventory {
            server 127.0.0.1:3001 weight=1 max_fails=3;
            server unix:/run/inventory.sock backup;
            keepalive 8;
        }
        upstream remote {
            server 192.0.2.10:80;
        }
    """)
    layout.write("conf.d/admin.conf", """
        server {
            listen 127.0.0.1:8083;
            server_name admin.example;
            location / {
                include snippets/app-*.conf;
            }
        }
    """)
    layout.write("snippets/app-proxy.conf", """
        proxy_set_header Host $host;
        proxy_pass http://127.0.0.1:3005;
    """)
    layout.site("inventory", """
        server {
            listen 8081;
            listen [::]:8081;
            server_name _ inventory.example.com www.inventory.example.com;
            access_log logs/inventory-access.log main_fmt;
            error_log logs/inventory-error.log warn;
            root /srv/inventory/public;
            location / {
                proxy_pass http://inventory;
            }
            location /_next/static/ {
                alias /srv/inventory/.next/static/;
            }
        }
    """)
    layout.site("shop-tls", f"""
        server {{
            listen 127.0.0.1:8443 ssl;
            server_name *.shop.example ~^shop\\d+\\.example$ shop.example;
            ssl_certificate {cert};
            ssl_certificate_key {key};
            location / {{
                proxy_pass http://localhost:3002/;
            }}
            location /api/ {{
                access_log off;
                proxy_pass http://[::1]:3003;
            }}
        }}
    """)
    layout.write("sites-enabled/dynamic", """
        server {
            listen 8082;
            server_name dyn.example;
            set $backend 127.0.0.1:3004;
            location / {
                proxy_pass http://$backend;
            }
            location /sock/ {
                proxy_pass http://unix:/run/app.sock:/;
            }
            location /remote/ {
                proxy_pass http://remote;
            }
            location /ext/ {
                proxy_pass http://192.0.2.20:80;
            }
        }
    """)
    layout.site("disabled", """
        server {
            listen 8090;
            location / {
                proxy_pass http://127.0.0.1:3999;
            }
        }
    """, enabled=False)
    return layout


def test_a_debian_layout_gives_every_loopback_front_and_only_those(tmp_path):
    layout = debian_layout(tmp_path / "nginx")
    layout.check()
    p = layout.prefix
    http_logs = dict(error_log=p / "logs/http-error.log", access_log=p / "logs/http-access.log")
    shop = dict(proxy_url="https://127.0.0.1:8443/", host="shop.example",
                listen_source=layout.at("sites-enabled/shop-tls", "listen"),
                server_names=("*.shop.example", r"~^shop\d+\.example$", "shop.example"))
    sites, errors = discover_sites(layout.main, prefix=p)
    assert sites == [
        NginxSite(proxy_url="http://127.0.0.1:8083/", host="admin.example", app_host="127.0.0.1", app_port=3005,
                  proxy_pass="proxy_pass http://127.0.0.1:3005", source=layout.at("snippets/app-proxy.conf", "proxy_pass"),
                  listen_source=layout.at("conf.d/admin.conf", "listen"), server_names=("admin.example",), **http_logs),
        NginxSite(proxy_url="http://127.0.0.1:8081/", host="inventory.example.com", app_host="127.0.0.1", app_port=3001,
                  proxy_pass="proxy_pass http://inventory", source=layout.at("conf.d/upstreams.conf", ":3001"),
                  listen_source=layout.at("sites-enabled/inventory", "listen 8081"),
                  error_log=p / "logs/inventory-error.log", access_log=p / "logs/inventory-access.log",
                  access_log_format='{"remote":"$remote_addr","status":$status}',
                  roots=(Path("/srv/inventory/public"), Path("/srv/inventory/.next/static")),
                  server_names=("_", "inventory.example.com", "www.inventory.example.com"),
                  upstream_server="server 127.0.0.1:3001 weight=1 max_fails=3"),
        NginxSite(app_host="localhost", app_port=3002, proxy_pass="proxy_pass http://localhost:3002/",
                  source=layout.at("sites-enabled/shop-tls", ":3002"), **shop, **http_logs),
        NginxSite(app_host="::1", app_port=3003, proxy_pass="proxy_pass http://[::1]:3003",
                  source=layout.at("sites-enabled/shop-tls", ":3003"), error_log=p / "logs/http-error.log", **shop),
    ]
    assert errors == [DiscoveryError("nginx", "unresolvable",
                                     layout.at("sites-enabled/dynamic", "$backend;") + ": proxy_pass http://$backend")]


def test_defaults_no_listen_is_port_80_main_error_log_and_a_unix_listen_gives_no_site(tmp_path):
    """Also: ``.example.org`` is sent as example.org, and $request_uri after the port is followed."""
    layout = Layout(tmp_path / "nginx")
    layout.write("conf.d/default.conf", f"""
        server {{
            server_name localhost;
            location / {{
                proxy_pass http://127.0.0.1:3006;
            }}
        }}
        server {{
            listen unix:{layout.prefix}/front.sock;
            location / {{
                proxy_pass http://127.0.0.1:3007;
            }}
        }}
        server {{
            listen 8087;
            server_name "" .example.org;
            location / {{
                proxy_pass http://127.0.0.1:3012$request_uri;
            }}
        }}
    """)
    layout.check()
    sites, errors = discover_sites(layout.main, prefix=layout.prefix)
    assert [(s.host, s.server_names, s.app_port, s.proxy_pass) for s in sites[1:]] == [
        ("example.org", ("", ".example.org"), 3012, "proxy_pass http://127.0.0.1:3012$request_uri")]
    assert sites[:1] == [NginxSite(
        proxy_url="http://127.0.0.1:80/", host="localhost", app_host="127.0.0.1", app_port=3006,
        proxy_pass="proxy_pass http://127.0.0.1:3006", source=layout.at("conf.d/default.conf", ":3006"),
        listen_source=f"{layout.prefix}/conf.d/default.conf:1",  # no listen: the server block's line
        error_log=layout.prefix / "logs/main-error.log", server_names=("localhost",))]
    assert errors == []


def test_unknown_directives_are_kept_and_unreadable_includes_are_errors_while_the_rest_is_read(tmp_path):
    """Parsed only: nginx itself refuses a third-party directive it was not built with."""
    layout = Layout(tmp_path / "nginx")
    layout.site("headers", """
        server {
            listen 8084;
            server_name headers.example;
            more_set_headers "X-Frame-Options: DENY";
            include missing.conf;
            location / {
                proxy_pass http://127.0.0.1:3009;
            }
        }
    """)
    layout.write("conf.d/broken.conf", """
        server {
            listen 8095;
            location / {
                proxy_pass http://127.0.0.1:3008;
            }
    """)
    os.mkfifo(layout.prefix / "conf.d/fifo.conf")
    huge = layout.write("conf.d/huge.conf", "#" * (nginx_conf.MAX_FILE_BYTES + 1))
    sites, errors = discover_sites(layout.main, prefix=layout.prefix)
    assert [(s.proxy_url, s.host, s.app_port, s.source) for s in sites] == [
        ("http://127.0.0.1:8084/", "headers.example", 3009, layout.at("sites-enabled/headers", ":3009"))]
    p = layout.prefix
    include_at = layout.at("nginx.conf", "include conf.d")
    assert errors == [
        DiscoveryError("nginx", "parse_error", f"{p}/conf.d/broken.conf:5: unexpected end of file, expecting \"}}\""),
        DiscoveryError("nginx", "not_regular_file", f"{p}/conf.d/fifo.conf (include at {include_at}): not a regular file (FIFO)"),
        DiscoveryError("nginx", "too_large", f"{huge} (include at {include_at}): "
                                             f"{nginx_conf.MAX_FILE_BYTES + 1} bytes, over {nginx_conf.MAX_FILE_BYTES}"),
        DiscoveryError("nginx", "not_found", f"{p}/missing.conf (include at "
                                             f"{layout.at('sites-enabled/headers', 'missing.conf')}): No such file or directory"),
    ]



def ask(url_host: str, port: int, host: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """GET / from the front, sending ``host`` as the Host header."""
    conn = (http.client.HTTPSConnection(url_host, port, timeout=10, context=context) if context
            else http.client.HTTPConnection(url_host, port, timeout=10))
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_real_nginx_answers_at_each_discovered_front_with_its_host(tmp_path):
    """A default server answers 418 to any other Host: only the discovered Host reaches the site;
    an app that runs answers through it (200), one that does not gives nginx's 502."""
    front, tls_front, app, stopped_app = free_port(), free_port(), free_port(), free_port()
    layout = Layout(tmp_path / "nginx")
    ca, cert, key = tls_files(layout, "secure.test", "127.0.0.1")
    layout.site("shop", f"""
        server {{
            listen 127.0.0.1:{front} default_server;
            listen 127.0.0.1:{tls_front} ssl default_server;
            ssl_certificate {cert};
            ssl_certificate_key {key};
            server_name _;
            return 418;
        }}
        server {{
            listen 127.0.0.1:{front};
            server_name shop.test;
            location / {{
                proxy_pass http://127.0.0.1:{app};
            }}
        }}
        server {{
            listen 127.0.0.1:{tls_front} ssl;
            server_name secure.test;
            ssl_certificate {cert};
            ssl_certificate_key {key};
            location / {{
                proxy_pass http://secure_app;
                proxy_connect_timeout 1s;
            }}
        }}
        upstream secure_app {{
            server 127.0.0.1:{stopped_app};
        }}
    """)
    sites, errors = discover_sites(layout.main, prefix=layout.prefix)
    assert errors == []
    assert [(s.proxy_url, s.host, s.app_port) for s in sites] == [
        (f"http://127.0.0.1:{front}/", "shop.test", app), (f"https://127.0.0.1:{tls_front}/", "secure.test", stopped_app)]
    context = ssl.create_default_context()
    ca.configure_trust(context)
    nginx = layout.start(front)
    running = start_app(tmp_path / "bin", app)
    try:
        status, body = ask("127.0.0.1", front, sites[0].host)
        assert (status, "智慧库存" in body.decode()) == (200, True)
        assert ask("127.0.0.1", tls_front, sites[1].host, context)[0] == 502
        assert ask("127.0.0.1", front, "127.0.0.1")[0] == 418
        assert ask("127.0.0.1", tls_front, "127.0.0.1", context)[0] == 418
    finally:
        running.stop()
        nginx.stop()


NOBODY = 65534


def discover_as_nobody(main: Path, prefix: Path, conn) -> None:
    """In a forked child: drop to an unprivileged user, discover, send the result back."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    conn.send(discover_sites(main, prefix=prefix))
    conn.close()


def test_an_unprivileged_reader_reports_a_root_only_include_and_finds_the_other_sites():
    import multiprocessing

    base = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is 0700: nobody could not enter it
    try:
        base.chmod(0o755)
        layout = Layout(base / "nginx")
        secret = layout.write("conf.d/secret.conf", """
            server {
                listen 8085;
                location / {
                    proxy_pass http://127.0.0.1:3010;
                }
            }
        """)
        secret.chmod(0o600)
        layout.site("open", """
            server {
                listen 8086;
                server_name open.example;
                location / {
                    proxy_pass http://127.0.0.1:3011;
                }
            }
        """)
        layout.check()
        assert [s.app_port for s in discover_sites(layout.main, prefix=layout.prefix)[0]] == [3010, 3011]
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=discover_as_nobody, args=(layout.main, layout.prefix, child))
        process.start()
        assert parent.poll(30), "the unprivileged discovery did not answer"
        sites, errors = parent.recv()
        process.join(10)
        assert [(s.host, s.app_port) for s in sites] == [("open.example", 3011)]
        assert errors == [DiscoveryError("nginx", "permission_denied",
                                         f"{secret} (include at {layout.at('nginx.conf', 'include conf.d')}): Permission denied")]
    finally:
        shutil.rmtree(base)


def test_a_missing_or_special_main_file_is_an_error_and_no_site(tmp_path):
    missing = tmp_path / "nginx.conf"
    assert discover_sites(missing) == ([], [DiscoveryError("nginx", "not_found", f"{missing}: No such file or directory")])
    os.mkfifo(missing)
    assert discover_sites(missing) == ([], [DiscoveryError("nginx", "not_regular_file", f"{missing}: not a regular file (FIFO)")])


def test_an_include_loop_and_too_many_files_are_bounded_errors(tmp_path, monkeypatch):
    layout = Layout(tmp_path / "nginx")
    layout.write("conf.d/loop.conf", "include conf.d/loop.conf;\n")
    for n in range(5):
        layout.site(f"site{n}", f"server {{ listen {8100 + n}; location / {{ proxy_pass http://127.0.0.1:{3100 + n}; }} }}\n")
    sites, errors = discover_sites(layout.main, prefix=layout.prefix)
    assert [s.app_port for s in sites] == [3100, 3101, 3102, 3103, 3104]
    assert errors == [DiscoveryError("nginx", "include_depth", f"{layout.at('conf.d/loop.conf', 'include')}: "
                                                               f"includes nested deeper than {nginx_conf.MAX_DEPTH}")]
    monkeypatch.setattr(nginx_conf, "MAX_FILES", 4)  # nginx.conf, loop.conf, site0, site1
    sites, errors = discover_sites(layout.main, prefix=layout.prefix)
    assert [s.app_port for s in sites] == [3100, 3101]
    assert [e.reason for e in errors] == ["include_depth", "too_many_files"]
    assert errors[1].detail == f"{layout.at('nginx.conf', 'include sites-enabled')}: more than 4 files, the rest not read"


def test_listen_and_proxy_pass_forms_as_nginx_writes_them():
    from exporter.discovery.nginx_addr import parse_listen, parse_proxy_pass

    fronts = {text: parse_listen(text.split()) for text in (
        "80", "127.0.0.1:8080", "[::]:80", "443 ssl http2", "*:8000", "localhost", "[::1]:8443 ssl",
        "10.0.0.5:80", "443 quic reuseport", "unix:/run/nginx.sock", "[::1", "127.0.0.1:http")}
    assert {text: front and front.url for text, front in fronts.items()} == {
        "80": "http://127.0.0.1:80/", "127.0.0.1:8080": "http://127.0.0.1:8080/", "[::]:80": "http://[::1]:80/",
        "443 ssl http2": "https://127.0.0.1:443/", "*:8000": "http://127.0.0.1:8000/", "localhost": "http://localhost:80/",
        "[::1]:8443 ssl": "https://[::1]:8443/", "10.0.0.5:80": "http://10.0.0.5:80/",
        "443 quic reuseport": None, "unix:/run/nginx.sock": None, "[::1": None, "127.0.0.1:http": None}
    assert min([fronts["10.0.0.5:80"], fronts["[::]:80"], fronts["80"]], key=lambda f: f.rank) == fronts["80"]
    assert parse_listen(["8443"], server_ssl=True).url == "https://127.0.0.1:8443/"  # ssl on; in the server
    proxies = {url: parse_proxy_pass(url) for url in (
        "http://127.0.0.1:3001", "https://localhost/api/", "http://[::1]:3001$request_uri", "http://app",
        "http://unix:/run/app.sock:/", "http://$backend", "$scheme://127.0.0.1:3001", "127.0.0.1:3001")}
    assert {url: (p.kind, p.host, p.port and p.effective_port) for url, p in proxies.items()} == {
        "http://127.0.0.1:3001": ("address", "127.0.0.1", 3001), "https://localhost/api/": ("address", "localhost", None),
        "http://[::1]:3001$request_uri": ("address", "::1", 3001), "http://app": ("address", "app", None),
        "http://unix:/run/app.sock:/": ("unix", "", None), "http://$backend": ("variable", "", None),
        "$scheme://127.0.0.1:3001": ("variable", "", None), "127.0.0.1:3001": ("invalid", "", None)}
    assert proxies["https://localhost/api/"].effective_port == 443
