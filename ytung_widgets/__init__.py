"""Notebook widgets of the Ytung platform, built on ipywidgets and :mod:`ytung_service.client`.

    from ytung_widgets import Overview, DevEnvs, TrainingJob, LabelingWidget
    Overview()                 # the current user, roles and virtual clusters
    Overview(lang="zh_CN")     # in Chinese (default: $YTUNG_LANG, $LANGUAGE, $LANG)
    DevEnvs()                  # my development environments; create one (D1, D2)
    TrainingJob.submit(name="digits", ...).watch()   # submit a training job, follow its log
    LabelingWidget(<annotation dataset id>)          # label images: boxes and polygons (S6)

Imports are lazy so that ``import ytung_widgets`` costs nothing until a widget is used.
"""

from __future__ import annotations

import importlib

__all__ = ["DevEnvs", "LabelingWidget", "Overview", "TrainingJob"]

_MODULES = {
    "Overview": ".overview",
    "DevEnvs": ".devenvs",
    "TrainingJob": ".training",
    "LabelingWidget": ".labeling",
}


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module 'ytung_widgets' has no attribute {name!r}")
