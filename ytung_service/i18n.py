"""Translations (zh_CN and en) for everything the Python side shows to people.

Catalogs are gettext ``.po`` files under ``ytung_service/locale/<lang>/LC_MESSAGES/<domain>.po``,
read with Babel at first use (no compile step, so an editable checkout is always current).
English is the source language: a message without a translation shows as written.

- :func:`translator` gives a ``gettext``-like function for a language.
- :func:`negotiate` picks a language from a ``ytung-lang`` cookie or ``Accept-Language``.
- :func:`install_hub_jinja` makes ``_()`` available in the hub's own templates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh_CN")
DEFAULT_LANGUAGE = "en"
COOKIE = "ytung-lang"


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is defined; it is translated where shown."""
    return message


@functools.cache
def _catalog(lang: str, domain: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return {}
    from babel.messages.pofile import read_po

    with open(path, "rb") as f:
        catalog = read_po(f, locale=lang)
    return {
        m.id: m.string
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def translator(lang: str | None, domain: str = "ytung") -> Callable[..., str]:
    """A function ``_(message, **params)`` translating to ``lang`` and filling ``{params}``."""
    catalog = _catalog(normalize(lang), domain)

    def _(message: str, /, **params) -> str:
        text = catalog.get(message, message)
        return text.format(**params) if params else text

    _.lang = normalize(lang)  # type: ignore[attr-defined]
    return _


def normalize(lang: str | None) -> str:
    """Map ``zh``, ``zh-CN``, ``zh_cn``, ``zh-Hans`` … to ``zh_CN``; anything else to ``en``."""
    if not lang:
        return DEFAULT_LANGUAGE
    low = lang.strip().replace("-", "_").lower()
    if low.startswith("zh"):
        return "zh_CN"
    return DEFAULT_LANGUAGE


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: an explicit cookie wins, then the browser's preference."""
    if cookie:
        return normalize(cookie)
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        if not tag:
            continue
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        lang = normalize(tag)
        if (lang != DEFAULT_LANGUAGE or tag.lower().startswith("en")) and weight > best_q:
            best, best_q = lang, weight
    return best


def request_language(handler) -> str:
    """The language of a tornado request (``?lang=`` > cookie > Accept-Language)."""
    explicit = handler.get_argument("lang", None) if hasattr(handler, "get_argument") else None
    if explicit:
        return normalize(explicit)
    return negotiate(handler.get_cookie(COOKIE), handler.request.headers.get("Accept-Language"))


def install_hub_jinja(*envs) -> None:
    """Add ``_()`` and ``ytung_lang`` to the hub's jinja environments.

    The hub renders its pages itself, so there is no per-request hook of ours; every hub
    template namespace holds ``static_url``, a bound method of the handler rendering it, and
    that is how ``_`` finds the request's language.
    """
    from jinja2 import pass_context

    def _handler(ctx):
        return getattr(ctx.get("static_url"), "__self__", None)

    @pass_context
    def hub_gettext(ctx, message: str, **params) -> str:
        handler = _handler(ctx)
        lang = request_language(handler) if handler is not None else DEFAULT_LANGUAGE
        return translator(lang)(message, **params)

    @pass_context
    def hub_lang(ctx) -> str:
        handler = _handler(ctx)
        return request_language(handler) if handler is not None else DEFAULT_LANGUAGE

    for env in envs:
        env.globals["_"] = hub_gettext
        env.globals["ytung_lang"] = hub_lang
