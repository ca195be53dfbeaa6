"""nginx log_format text to a linear-time line parser: combined, custom formats, JSON, bad formats."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.accesslog.formats import COMBINED, FormatError, check_format, compile_format, split

CUSTOM = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
          '"$http_user_agent" rt=$request_time uct="$upstream_connect_time" urt="$upstream_response_time" '
          'us=$upstream_status ua=$upstream_addr host=$host')
COMBINED_LINE = (b'10.0.0.7 - alice [02/Dec/2026:21:04:13 +0800] "GET /api/products/12?page=2 HTTP/1.1" 502 157 '
                 b'"https://shop.example/" "Mozilla/5.0 (X11; Linux) \\x22quoted\\x22 agent"')


def fields(fmt, line):
    return dict(zip(fmt.wanted, fmt.parse(line)))


def test_combined_is_the_default_and_quoted_fields_keep_their_spaces():
    fmt = compile_format(None)
    got = fields(fmt, COMBINED_LINE)
    assert got["request"] == b"GET /api/products/12?page=2 HTTP/1.1"
    assert (got["status"], got["body_bytes_sent"], got["time_local"]) == (b"502", b"157", b"02/Dec/2026:21:04:13 +0800")
    assert got["request_time"] is None and got["upstream_status"] is None
    assert compile_format("combined").text == COMBINED


def test_a_custom_format_with_upstream_fields_and_several_upstreams():
    fmt = compile_format(CUSTOM)
    line = COMBINED_LINE + (b' rt=0.504 uct="0.000, 0.001" urt="0.250, 0.251" us=502, 200 '
                            b'ua=127.0.0.1:3001, 127.0.0.1:3002 host=shop.example')
    got = fields(fmt, line)
    assert (got["request_time"], got["upstream_response_time"], got["upstream_status"]) == (b"0.504", b"0.250, 0.251", b"502, 200")


def test_json_formats_map_keys_to_variables():
    fmt = compile_format('escape=json \'{"time":"$time_iso8601","status":$status,"request":"$request",'
                         '"rt":"$request_time","urt":"$upstream_response_time","bytes":$body_bytes_sent}\''
                         .replace("'", ""))
    assert fmt.is_json
    got = fields(fmt, b'{"time":"2026-12-02T21:04:13+08:00","status":503,"request":"GET /a\\"b HTTP/1.1",'
                      b'"rt":"0.010","urt":"","bytes":0}')
    assert got["status"] == b"503" and got["request"] == b'GET /a"b HTTP/1.1' and got["request_time"] == b"0.010"
    assert fmt.parse(b'{"status": [1]') is None and fmt.parse(b"[1, 2]") is None


@pytest.mark.parametrize("line", [b"", b"garbage", COMBINED_LINE[:40], b'1 - - [x] "GET / HTTP/1.1" 200 1 "-"'])
def test_lines_of_another_format_are_none(line):
    assert compile_format(None).parse(line) is None


@pytest.mark.parametrize("text, reason", [("$a$b", "follow each other"), ("no variables", "no $variable"),
                                          ('{"a": 1}', "maps no key"), ("$x" * 3000, "longer than")])
def test_formats_that_cannot_be_followed_are_refused_with_the_reason(text, reason):
    with pytest.raises(FormatError, match=reason.replace("$", r"\$")):
        compile_format(text)
    with pytest.raises(ValueError, match=reason.replace("$", r"\$")):
        check_format(text)


def test_a_variable_name_cannot_inject_code():
    fmt = compile_format('$status "__import__(\'os\').system(\'false\')" ${request}')
    assert split(fmt.text)[1] == ["status", "request"]
    assert fields(fmt, b"200 \"__import__('os').system('false')\" GET /")["request"] == b"GET /"


# --- properties --------------------------------------------------------------

names = st.sampled_from(["status", "request", "request_time", "host", "remote_addr", "upstream_status", "time_local"])
literals = st.text(alphabet=' -[]"=:,|', min_size=1, max_size=4)


@st.composite
def formats_and_values(draw):
    variables = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    seps = [draw(literals) for _ in variables]
    lead = draw(st.one_of(st.just(""), literals))
    text = lead + "".join(f"${v}{s}" for v, s in zip(variables, seps[:-1])) + f"${variables[-1]}" + draw(
        st.one_of(st.just(""), literals))
    forbidden = set("".join(seps) + text)  # values never hold a separator's character (nginx escapes the quote)
    alphabet = st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c not in forbidden and c != "$")
    values = {v: draw(st.text(alphabet=alphabet, max_size=12)) for v in variables}
    return text, values


@settings(max_examples=300, deadline=None)
@given(formats_and_values())
def test_a_generated_line_parses_back_to_its_values(case):
    text, values = case
    literals_, variables = split(text)
    line = literals_[0] + "".join(values[v] + lit for v, lit in zip(variables, literals_[1:]))
    fmt = compile_format(text, wanted=tuple(variables))
    assert dict(zip(variables, fmt.parse(line.encode()))) == {v: values[v].encode() for v in variables}


def _time(parse, line: bytes) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            parse(line)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("shape", [
    lambda n: b'1 - - [t] "' + b"GET /" + b"a" * n + b' HTTP/1.1" 200 1 "-" "ua"',  # a long quoted field
    lambda n: b'1 - - [t] "' + b'" ' * n,  # separators that almost match, over and over
    lambda n: b"1 - " * n,  # a prefix repeated, the rest never found
])
def test_parsing_is_linear_in_the_line(shape):
    parse = compile_format(CUSTOM).parse
    small, large = shape(20_000), shape(200_000)
    assert _time(parse, large) <= 20 * _time(parse, small) + 0.01
