"""The report's languages, and the spellings of them that people and browsers use."""

from __future__ import annotations

LANGS = ("en", "zh-CN")


def normalize_lang(value: str) -> str | None:
    """``zh-CN``, ``zh-cn``, ``zh_CN``, ``zh``, ``zh-Hans`` → ``zh-CN``; ``en``, ``en-US`` → ``en``; else None."""
    tag = value.strip().replace("_", "-").lower()
    primary = tag.split("-", 1)[0]
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def from_accept_language(header: str, default: str = "en") -> str:
    """The first supported language of an ``Accept-Language`` header, by q-value then order.

    Bounded: only the first 32 entries of the header are read.
    """
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.partition(";")
        lang = normalize_lang(tag)
        if lang is None:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q <= 0:
            continue
        if best is None or (-q, index) < (-best[0], best[1]):
            best = (q, index, lang)
    return best[2] if best else default
