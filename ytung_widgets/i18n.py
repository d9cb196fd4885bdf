"""Language of the widgets: the ``ytung_widgets`` gettext domain of :mod:`ytung_service.i18n`."""

from __future__ import annotations

import os

from ytung_service.i18n import normalize, translator

DOMAIN = "ytung_widgets"
LANG_VARIABLES = ("YTUNG_LANG", "LANGUAGE", "LANG")


def default_language(environ=None) -> str:
    """``zh_CN`` or ``en`` from the first of ``$YTUNG_LANG``, ``$LANGUAGE``, ``$LANG`` that is set.

    ``LANGUAGE`` may be a list (``zh_CN:en``); its first entry counts.
    """
    environ = os.environ if environ is None else environ
    for name in LANG_VARIABLES:
        value = environ.get(name, "").split(":")[0].strip()
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return normalize(value)
    return normalize(None)


def gettext(lang: str | None):
    """``_(message, **params)`` for the widgets in ``lang`` (the default language if None)."""
    return translator(lang or default_language(), DOMAIN)
