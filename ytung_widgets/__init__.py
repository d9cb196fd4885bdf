"""Notebook widgets of the Ytung platform, built on ipywidgets and :mod:`ytung_service.client`.

    from ytung_widgets import Overview
    Overview()                 # the current user, roles and virtual clusters
    Overview(lang="zh_CN")     # in Chinese (default: $YTUNG_LANG, $LANGUAGE, $LANG)

Imports are lazy so that ``import ytung_widgets`` costs nothing until a widget is used.
"""

from __future__ import annotations

__all__ = ["Overview"]


def __getattr__(name: str):
    if name == "Overview":
        from .overview import Overview

        return Overview
    raise AttributeError(f"module 'ytung_widgets' has no attribute {name!r}")
