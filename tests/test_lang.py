import pytest

from exporter.lang import from_accept_language, normalize_lang


@pytest.mark.parametrize("value", ["zh-CN", "zh-cn", "zh_CN", "zh", "ZH", "zh-Hans-CN"])
def test_chinese_spellings_are_one_language(value):
    assert normalize_lang(value) == "zh-CN"


@pytest.mark.parametrize("value", ["en", "en-US", "EN_gb"])
def test_english_spellings(value):
    assert normalize_lang(value) == "en"


@pytest.mark.parametrize("value", ["fr", "", "x-klingon", "-"])
def test_unsupported_languages_are_none(value):
    assert normalize_lang(value) is None


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,zh;q=0.5", "zh-CN"),
        ("en;q=0.2, zh-TW;q=0.7", "zh-CN"),
        ("fr", "en"),
        ("", "en"),
        ("zh;q=0, en;q=0.1", "en"),
        ("zh;q=abc", "en"),
    ],
)
def test_accept_language_picks_the_best_supported(header, expected):
    assert from_accept_language(header) == expected
