"""The strict YAML config: defaults, value parsers, and errors that name file, line, key and reason."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import (
    DNS_KEYS,
    HOST_KEYS,
    NPM_KEYS,
    DISCOVERY_KEYS,
    TARGET_KEYS,
    TOP_KEYS,
    Config,
    ConfigError,
    DnsConfig,
    HostConfig,
    NpmRegistryConfig,
    Target,
    load_config,
    parse_config,
)
from exporter.config_values import parse_duration

TESTDATA = Path(__file__).parent / "testdata"
EXAMPLE = Path(__file__).parent.parent / "examples" / "config.yml"

# Each rejected file -> every problem it must yield, as ":LINE: key.path: reason" (a prefix of the
# problem once the file's path is put in front). The problem count must match too.
REJECTED: dict[str, list[str]] = {
    "invalid-unknown-key.yml": [":4: targets[0].timout: unknown key (did you mean 'timeout'?)"],
    "invalid-missing-name.yml": [":2: targets[0].name: required key is missing"],
    "invalid-duplicate-target.yml": [":4: targets[1].name: duplicate target name 'shop'"],
    "invalid-bad-duration.yml": [":3: targets[0].timeout: '5 seconds' is not a duration"],
    "invalid-bad-url.yml": [":3: targets[0].app_url: '127.0.0.1:3001' is not an http(s) URL with a host"],
    "invalid-bad-resolver.yml": [
        ":6: dns.resolvers[1]: '8.8.8.8': expected 'system' or an IP address and port",
        ":7: dns.resolvers[2]: 'dns.example:53': expected 'system' or an IP address and port",
        ":8: dns.resolvers[3]: '127.0.0.1:70000': expected 'system' or an IP address and port",
    ],
    "invalid-endpoint-without-slash.yml": [
        ":5: targets[0].endpoints[1]: 'api/products' must be a path starting with '/'"
    ],
    "invalid-wrong-types.yml": [
        ":3: targets[0].endpoints: expected a list",
        ":4: max_concurrency: expected a whole number of at least 1",
        ":6: dns.include_hostname: expected true or false",
    ],
    "invalid-empty.yml": [": the file is empty; at least 'targets' is required"],
    "invalid-yaml-syntax.yml": [":4: invalid YAML: expected ',' or ']'"],
    "invalid-three-errors.yml": [
        ":3: targets[0].timeout: '-1s' is not a duration",
        ":4: targets[0].proxy_url: 'ftp://proxy' is not an http(s) URL with a host",
        ":5: hosts: unknown key (did you mean 'host'?)",
    ],
    "invalid-top-level-list.yml": [":1: top level: expected a mapping"],
    "invalid-targets-not-mappings.yml": [":2: targets[0]: expected a mapping", ":3: targets[1]: expected a mapping"],
    "invalid-section-not-mapping.yml": [":3: host: expected a mapping", ":4: npm_registry: expected a mapping"],
}


def rejected(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yml")
    return caught.value.problems


def one_target(**keys: str) -> str:
    """A config text with one target named shop and ``keys`` (YAML value text) added to it."""
    return "targets:\n  - name: shop\n" + "".join(f"    {key}: {value}\n" for key, value in keys.items())


# --- rejected files ----------------------------------------------------------


def test_every_rejected_fixture_file_has_a_row_in_the_table():
    assert sorted(p.name for p in TESTDATA.glob("invalid-*.yml")) == sorted(REJECTED)


@pytest.mark.parametrize(("name", "expected"), REJECTED.items(), ids=list(REJECTED))
def test_a_rejected_file_names_the_file_line_key_and_reason_of_every_problem(name, expected):
    path = TESTDATA / name
    with pytest.raises(ConfigError) as caught:
        load_config(path)

    problems = caught.value.problems
    assert len(problems) == len(expected), problems
    for fragment in expected:
        assert any(problem.startswith(f"{path}{fragment}") for problem in problems), (fragment, problems)
    assert str(caught.value) == "\n".join(problems)


def test_every_error_in_a_file_is_reported_at_once_not_just_the_first():
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / "invalid-three-errors.yml")

    keys = sorted(re.search(r":\d+: (\S+):", p).group(1) for p in caught.value.problems)
    assert keys == ["hosts", "targets[0].proxy_url", "targets[0].timeout"]


def test_a_file_that_cannot_be_read_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.yml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems[0].startswith(f"{missing}: cannot read:")


# --- odd YAML: a ConfigError with a message, never a traceback --------------


ODD_INPUTS = {
    "scalar-at-top": ("42", "c.yml:1: top level: expected a mapping"),
    "string-at-top": ("just some words", "c.yml:1: top level: expected a mapping"),
    "non-string-key": ("targets: [{name: a}]\n1: 2\n", "c.yml:2: 1: unknown key"),
    "null-key": ("targets: [{name: a}]\n~: 2\n", "c.yml:2: ~: unknown key"),
    "sequence-as-key": ("? [a, b]\n: 1\ntargets: [{name: a}]\n", "c.yml:1: [...]: unknown key"),
    "duplicate-key": ("targets: [{name: a}]\nmax_concurrency: 2\nmax_concurrency: 3\n", "c.yml:3: max_concurrency: duplicate key"),
    "alias-repeating-a-target": ("targets:\n  - &t {name: a}\n  - *t\n", "c.yml:2: targets[1].name: duplicate target name 'a'"),
    "merge-key": ("targets:\n  - &t {name: a}\n  - <<: *t\n    name: b\n", "c.yml:3: targets[1].<<: unknown key"),
    "recursive-alias": (one_target(endpoints="&e [*e]"), "c.yml:3: targets[0].endpoints[0]: found unconstructable recursive node"),
    "unhashable-key-in-a-value": (one_target(endpoints="{[a]: 1}"), "c.yml:3: targets[0].endpoints: found unhashable key"),
    "unknown-tag": (one_target(timeout="!later 5s"), "c.yml:3: targets[0].timeout: could not determine a constructor for the tag '!later'"),
    "python-tag": (one_target(timeout="!!python/object:os.system x"), "c.yml:3: targets[0].timeout: could not determine a constructor"),
    "invalid-timestamp": (one_target(timeout="2024-13-45"), "c.yml:3: targets[0].timeout: month must be in 1..12"),
    "nan-duration": (one_target(timeout=".nan"), "c.yml:3: targets[0].timeout: nan is not a duration"),
    "infinite-duration": (one_target(timeout=".inf"), "c.yml:3: targets[0].timeout: duration must be finite"),
    "integer-too-big-for-a-float": (one_target(timeout="9" * 400), "c.yml:3: targets[0].timeout: duration must be finite"),
    "zero-duration": (one_target(timeout="0ms"), "c.yml:3: targets[0].timeout: duration must be greater than zero"),
    "nul-in-a-path": (one_target(project_dir='"srv\\0shop"'), "c.yml:3: targets[0].project_dir: a path cannot contain a NUL character"),
    "list-of-non-mappings": ("targets: [1, [2], ~]\n", "c.yml:1: targets[2]: expected a mapping"),
    "empty-targets": ("targets: []\n", "c.yml:1: targets: expected a non-empty list of targets"),
    "targets-as-a-mapping": ("targets: {name: a}\n", "c.yml:1: targets: expected a non-empty list of targets"),
    "deep-nesting": ("targets: " + "[" * 1000 + "]" * 1000, "c.yml: invalid YAML: nested too deeply"),
    "second-document": ("targets: [{name: a}]\n---\ntargets: [{name: b}]\n", "c.yml:2: invalid YAML: but found another document"),
    "nul-character": ("targets: [{name: a}]\x00", "c.yml: invalid YAML: unacceptable character #x0000"),
    "bool-for-a-number": ("targets: [{name: a}]\nmax_concurrency: true\n", "c.yml:2: max_concurrency: expected a whole number of at least 1"),
    "resolver-with-non-ascii-digits": (
        "targets: [{name: a}]\ndns: {resolvers: ['127.0.0.1:\u0665\u0663']}\n",
        "c.yml:2: dns.resolvers[0]: '127.0.0.1:\u0665\u0663': expected 'system' or an IP address and port",
    ),
    "ipv6-resolver-without-brackets-or-port": (
        "targets: [{name: a}]\ndns: {resolvers: ['::1']}\n",
        "c.yml:2: dns.resolvers[0]: '::1': expected 'system' or an IP address and port",
    ),
}


@pytest.mark.parametrize(("text", "expected"), ODD_INPUTS.values(), ids=list(ODD_INPUTS))
def test_odd_yaml_is_rejected_with_a_message_rather_than_a_traceback(text, expected):
    problems = rejected(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_targets_that_are_not_mappings_are_not_also_reported_as_duplicates():
    assert rejected("targets: [1, 2, 3]\n") == [f"c.yml:1: targets[{i}]: expected a mapping" for i in range(3)]


# --- valid configs -----------------------------------------------------------


def test_a_target_with_only_a_name_gets_every_default():
    config = parse_config("targets:\n  - name: shop\ndns:\n  include_hostname: false\n", source="c.yml")

    assert config.targets == (Target(name="shop"),)
    shop = config.targets[0]
    assert shop.timeout == 5.0
    assert shop.endpoints == ("/api/health",)
    assert shop.app_url == "http://127.0.0.1:3001"
    assert config.dns == DnsConfig(names=("localhost",), resolvers=("system",), timeout=2.0)
    assert config.host == HostConfig(mountpoints=("/",))
    assert config.npm_registry == NpmRegistryConfig(enabled=False)
    assert config.max_concurrency == 64
    assert config.source == "c.yml"
    assert config.target("shop") is shop and config.target("other") is None


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("6h", 21600.0), ("1d", 86400.0), ("1.5s", 1.5),
     ("3", 3.0), ("0.25", 0.25), ("'10'", 10.0), ("' 2m '", 120.0)],
)
def test_durations_take_units_or_a_bare_number_of_seconds(written, seconds):
    config = parse_config(one_target(timeout=written))
    assert config.targets[0].timeout == seconds


@pytest.mark.parametrize(
    "written",
    ["5 seconds", "5sec", "-1s", "1.s", "s", "''", "true", "[5]", "{s: 5}", "-3", "0"],
)
def test_anything_else_is_not_a_duration(written):
    (problem,) = rejected(one_target(timeout=written))
    assert problem.startswith("c.yml:3: targets[0].timeout: ")


def test_durations_are_accepted_wherever_the_schema_has_one():
    config = parse_config(
        "targets: [{name: shop}]\ndns: {timeout: 750ms}\nnpm_registry: {enabled: true, refresh_interval: 2m}\n"
    )
    assert config.dns.timeout == 0.75
    assert config.npm_registry == NpmRegistryConfig(enabled=True, refresh_interval=120.0)


@given(number=st.integers(min_value=1, max_value=10**6), unit=st.sampled_from(["ms", "s", "m", "h", "d", ""]))
def test_a_whole_number_with_a_unit_is_that_many_units(number, unit):
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}[unit]
    assert parse_duration(f"{number}{unit}") == pytest.approx(number * scale)


def test_a_relative_project_dir_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_config(one_target(project_dir="apps/../shop"))
    assert config.targets[0].project_dir == tmp_path.resolve() / "shop"


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config(one_target(log_file="~/shop/dev.log", project_dir="~/shop"))
    assert config.targets[0].log_file == tmp_path / "shop/dev.log"
    assert config.targets[0].project_dir == tmp_path.resolve() / "shop"


@pytest.mark.parametrize(
    ("include_hostname", "expected_names"),
    [
        ("false", ("localhost", "db.internal")),
        ("true", tuple(dict.fromkeys(("localhost", "db.internal", socket.gethostname())))),
    ],
    ids=["hostname-left-out", "hostname-added"],
)
def test_the_machines_hostname_is_added_to_dns_names_unless_include_hostname_is_false(include_hostname, expected_names):
    config = parse_config(
        f"targets: [{{name: a}}]\ndns:\n  names: [localhost, db.internal]\n  include_hostname: {include_hostname}\n"
    )
    assert config.dns.names == expected_names


@pytest.mark.parametrize("resolver", ["system", "127.0.0.1:53", "10.0.0.2:5353", "[::1]:53", "[fe80::1]:65535"])
def test_a_resolver_is_system_or_an_ip_address_with_a_port(resolver):
    config = parse_config(f"targets: [{{name: a}}]\ndns: {{resolvers: ['{resolver}']}}\n")
    assert config.dns.resolvers == (resolver,)


@pytest.mark.parametrize(
    ("app_url", "stored", "host", "port"),
    [
        ("http://127.0.0.1:3001", "http://127.0.0.1:3001", "127.0.0.1", 3001),
        ("http://127.0.0.1:3001/", "http://127.0.0.1:3001", "127.0.0.1", 3001),
        ("https://shop.example", "https://shop.example", "shop.example", 443),
        ("http://[::1]/", "http://[::1]", "::1", 80),
        ("http://localhost:8080/base/", "http://localhost:8080/base/", "localhost", 8080),
    ],
)
def test_an_app_url_gives_the_host_and_port_the_port_probe_connects_to(app_url, stored, host, port):
    (target,) = parse_config(one_target(app_url=app_url)).targets
    assert (target.app_url, target.app_host, target.app_port) == (stored, host, port)


def test_repeated_list_entries_are_kept_once_in_order():
    (target,) = parse_config(one_target(endpoints="[/b, /a, /b]", env_vars="[PORT, PORT]")).targets
    assert target.endpoints == ("/b", "/a")
    assert target.env_vars == ("PORT",)


def test_aliases_let_targets_share_values():
    config = parse_config(
        "targets:\n  - name: a\n    endpoints: &paths [/api/health, /api/products]\n"
        "  - name: b\n    endpoints: *paths\n"
    )
    assert config.target("a").endpoints == config.target("b").endpoints == ("/api/health", "/api/products")


# --- the example config ------------------------------------------------------


def test_the_example_config_loads():
    config = load_config(EXAMPLE)
    assert [t.name for t in config.targets] == ["smart-inventory", "admin"]
    assert config.target("admin").timeout == 0.5
    assert config.source == str(EXAMPLE)


@pytest.mark.parametrize(
    ("section", "keys"),
    [(None, TOP_KEYS), ("targets", TARGET_KEYS), ("dns", DNS_KEYS), ("host", HOST_KEYS), ("npm_registry", NPM_KEYS),
     ("discovery", DISCOVERY_KEYS)],
    ids=["top-level", "targets", "dns", "host", "npm_registry", "discovery"],
)
def test_the_example_config_sets_every_key_of_each_section(section, keys):
    document = yaml.safe_load(EXAMPLE.read_text())
    written = document if section is None else document[section]
    if section == "targets":
        written = written[0]
    assert set(written) == set(keys)


def test_every_key_in_the_example_config_comes_after_a_comment():
    lines = EXAMPLE.read_text().splitlines()
    documented = set()
    for previous, line in zip(lines, lines[1:]):
        match = re.match(r"^\s*(?:-\s+)?([a-z_]+):", line)
        if match and previous.strip().lstrip("- ").startswith("#"):
            documented.add(match.group(1))
    every_key = set(TOP_KEYS) | set(TARGET_KEYS) | set(DNS_KEYS) | set(HOST_KEYS) | set(NPM_KEYS) | set(DISCOVERY_KEYS)
    assert every_key - documented == set()


# --- property: parse_config answers a Config or a ConfigError, nothing else --


YAML_BITS = [
    "targets:", "dns:", "host:", "npm_registry:", "max_concurrency:", "name:", "timeout:", "endpoints:",
    "resolvers:", "project_dir:", "include_hostname:", "\n", "  ", "- ", ": ", "? ", "[", "]", "{", "}", ",",
    "&a ", "*a", "<<: ", "!!str ", "!!python/object:os.system ", "!x ", "|", ">", "'", '"', "#", "---", "...",
    "~", "5s", "500ms", ".nan", ".inf", "1e9", "-1", "0", "true", "http://127.0.0.1:1", "/api", "system",
    "127.0.0.1:53", "%YAML 1.1\n", "\t", "\\0", "\x00", "\ufeff", "2024-01-01",
]
yaml_bits = st.lists(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=4)), max_size=40).map("".join)
VALUE_STARTS = ["", "!x ", "!!binary ", "!!python/name:os.system ", "&a ", "*a", "[", "{", "? ", "'", '"', "|\n      "]
yamlish_text = st.one_of(
    st.text(max_size=120),
    yaml_bits,
    # random text in the value position of a well-formed target, where values get constructed
    st.builds(
        lambda key, start, rest: one_target(**{key: start + rest}),
        st.sampled_from(sorted(TARGET_KEYS)),
        st.sampled_from(VALUE_STARTS),
        yaml_bits,
    ),
)

ALL_KEYS = sorted(set(TOP_KEYS) | set(TARGET_KEYS) | set(DNS_KEYS) | set(HOST_KEYS) | set(NPM_KEYS))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["5s", "500ms", "shop", "/api/health", "http://127.0.0.1:3001", "system", "127.0.0.1:53", "~/x", ""]),
)
any_key = st.one_of(st.sampled_from(ALL_KEYS), st.text(max_size=8), st.integers(), st.none(), st.booleans())
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(any_key, inner, max_size=4)), max_leaves=20
)
duration = st.one_of(
    st.sampled_from(["5s", "500ms", "2m", "1d", "0s"]), st.floats(), st.integers(), st.text(max_size=6),
    st.integers(min_value=0, max_value=10**400).map(lambda n: f"{n}ms"), st.integers(min_value=10**300, max_value=10**400),
)
url = st.one_of(
    st.sampled_from(["http://127.0.0.1:3001", "https://shop.example/", "http://[::1]:99999", "ftp://x"]),
    st.text(max_size=10).map(lambda t: "http://" + t),
)
path = st.one_of(st.sampled_from(["shop", "~/shop", "/srv/shop", "a\x00b"]), st.text(max_size=10))
header_values = st.one_of(
    st.text(max_size=8), st.sampled_from(["Bearer ${env:TOKEN}", "${env:", "${file:/run/s}"]),
    st.fixed_dictionaries({"env": st.one_of(st.sampled_from(["TOKEN", "1x"]), st.text(max_size=6))}),
    st.fixed_dictionaries({"file": path}), values,
)
json_paths = st.one_of(st.sampled_from(["$", "$.a", "$.a[0]", '$["k"]', "$[-1]", "$[", "a", "$..a"]), st.text(max_size=6))
expectations = st.one_of(st.sampled_from(["ok", ">= 1", "exists", "absent", "> x", "== null", "!= 1.5"]), scalars, values)
expects = st.fixed_dictionaries({}, optional={
    "status": st.one_of(st.integers(), st.lists(st.integers(min_value=0, max_value=700), max_size=3), values),
    "body_regex": st.one_of(st.sampled_from(["ok", "(a+)+", "[", "(?:a|b)*c", "a{2,}", "(x*)*"]), st.text(max_size=10), values),
    "json": st.one_of(st.dictionaries(json_paths, expectations, max_size=3), values),
    "max_seconds": duration,
})
endpoint_objects = st.fixed_dictionaries(
    {"path": st.one_of(st.sampled_from(["/api/x", "/", "x"]), st.text(max_size=6))},
    optional={
        "name": st.one_of(st.sampled_from(["login", "", "a\nb"]), values),
        "method": st.one_of(st.sampled_from(["GET", "post", "HEAD", "TRACE"]), values),
        "headers": st.one_of(st.dictionaries(
            st.one_of(st.sampled_from(["Authorization", "Accept", "Host", "bad name", "Cookie"]), st.text(max_size=6)),
            header_values, max_size=3), values),
        "body": st.one_of(st.text(max_size=12), st.sampled_from(["${env:X}", "${env:", "${file:rel}"]), values),
        "json": values,
        "expect": st.one_of(expects, values),
        "render": st.one_of(st.booleans(), values),
    },
)
url_paths = st.lists(
    st.one_of(st.sampled_from(["/api/health", "/", "api", "/a b"]), st.text(max_size=6), endpoint_objects), max_size=3
)
strings = st.lists(st.text(max_size=8), max_size=3)
PLAUSIBLE = {
    "name": st.one_of(st.sampled_from(["shop", "admin", "a.b-c_d"]), st.text(max_size=8)),
    "app_url": url, "proxy_url": url, "url": url,
    "endpoints": url_paths, "static_paths": url_paths,
    "proxy_error_log": path, "project_dir": path, "database": path, "log_file": path, "access_log": path,
    "access_log_format": st.one_of(st.sampled_from(["combined", "$a$b", '$status "$request"', '{"s":"$status"}', ""]),
                                   st.text(max_size=12)),
    "route_label": st.booleans(),
    "timeout": duration, "refresh_interval": duration,
    "app_process_names": strings, "env_vars": strings, "names": strings, "mountpoints": strings,
    "db_query": st.text(max_size=12), "allow_outside_project": st.booleans(),
    "proxy_host": st.one_of(st.sampled_from(["shop.example", "a b", ""]), st.text(max_size=8)),
    "tls_ca_file": path,
    "redirect_from": st.one_of(st.sampled_from(["http://shop.example/", "https://shop.example/", "ftp://x"]), url),
    "interval": duration, "nginx_config": path, "systemd_unit_paths": st.lists(path, max_size=2),
    "resolvers": st.lists(
        st.one_of(st.sampled_from(["system", "127.0.0.1:53", "[::1]:53", "::1", "h:53"]), st.text(max_size=10)),
        max_size=3,
    ),
    "include_hostname": st.booleans(), "enabled": st.booleans(),
    "max_concurrency": st.integers(),
}


def section(keys: dict) -> st.SearchStrategy:
    """Mostly plausible values for the section's keys (so validation gets deep), sometimes anything."""
    required = {k: PLAUSIBLE[k] for k, spec in keys.items() if spec.required}
    optional = {k: st.one_of(PLAUSIBLE[k], PLAUSIBLE[k], PLAUSIBLE[k], values) for k in keys if k not in required}
    plausible = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(plausible, plausible, plausible, values)


documents = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "targets": st.one_of(st.lists(section(TARGET_KEYS), min_size=1, max_size=3), values),
            "dns": section(DNS_KEYS),
            "host": section(HOST_KEYS),
            "npm_registry": section(NPM_KEYS),
            "max_concurrency": st.one_of(PLAUSIBLE["max_concurrency"], values),
        },
    ),
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_config_or_config_error(text: str) -> None:
    try:
        config = parse_config(text, source="fuzz.yml")
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("fuzz.yml") for p in exc.problems), exc.problems
    else:
        assert isinstance(config, Config) and config.targets


@PROPERTY
@given(text=yamlish_text)
def test_any_yaml_ish_text_gives_a_config_or_a_config_error(text):
    assert_config_or_config_error(text)


@PROPERTY
@given(document=documents)
def test_any_data_structure_dumped_as_yaml_gives_a_config_or_a_config_error(document):
    assert_config_or_config_error(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def test_the_access_log_keys_are_read_and_a_bad_format_is_named(tmp_path):
    good = parse_config("""
targets:
  - name: shop
    access_log: /var/log/nginx/access.log
    access_log_format: '$remote_addr [$time_local] "$request" $status rt=$request_time'
    route_label: true
""")
    (shop,) = good.targets
    assert shop.access_log == Path("/var/log/nginx/access.log") and shop.route_label is True
    assert shop.access_log_format.startswith("$remote_addr")
    with pytest.raises(ConfigError) as bad:
        parse_config("targets:\n  - name: shop\n    access_log_format: '$status$request'\n", source="c.yml")
    assert "c.yml:3: targets[0].access_log_format: $status and $request follow each other" in str(bad.value)
