"""Where targets came from and what to do when there are none, in every format and both languages."""

from __future__ import annotations

import json

import pytest

from exporter.config import Config, Target
from exporter.diagnosis import diagnose_target
from exporter.discovery.model import DiscoveryError
from exporter.report import build_report, render_html_body, render_json, render_markdown, render_text
from tests.test_diagnosis import probe_results

RENDERERS = (render_text, render_markdown, render_html_body)


@pytest.mark.parametrize("render", RENDERERS)
@pytest.mark.parametrize("lang, words", [("en", "No app found on this host"), ("zh-CN", "本机未发现应用")])
def test_with_no_target_every_format_says_nothing_was_found_and_how_to_point_at_an_app(render, lang, words):
    text = render(build_report(Config(targets=()), [], [], None), lang)
    assert words in text and "--config.file" in text


@pytest.mark.parametrize("render", RENDERERS)
def test_discovery_errors_are_a_line_in_every_format(render):
    errors = [DiscoveryError("nginx", "permission_denied", "/etc/nginx/sites-enabled/secret")]
    text = render(build_report(Config(targets=()), [], [], None, errors), "en")
    assert "Discovery could not read: nginx permission_denied /etc/nginx/sites-enabled/secret" in text


def test_a_discovered_target_shows_each_source_and_a_configured_one_says_so():
    found = Target(name="shop", origins=(("app_url", "pid 42 (next-server (v15.5.0))"), ("project_dir", "unknown: no unit")))
    pinned = Target(name="pinned")
    store = probe_results()
    rows = [(diagnose_target(store, "shop")), (diagnose_target(store, "pinned"))]
    report = build_report(Config(targets=(found, pinned)), [], rows, None)
    text = render_text(report)
    assert "Found: app_url ← pid 42 (next-server (v15.5.0)); project_dir ← unknown: no unit" in text
    assert "Found: written in the config file" in text
    origins = [t["origin"] for t in json.loads(render_json(report))["targets"]]
    assert origins == [{"source": "discovery", "sources": {"app_url": "pid 42 (next-server (v15.5.0))",
                                                           "project_dir": "unknown: no unit"}},
                       {"source": "config", "sources": {}}]
