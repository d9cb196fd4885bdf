"""The ``/ytung/api/*`` REST handlers, one module per resource (each ends in ``default_handlers``).

Routes in the modules are relative to ``{base_url}ytung/api``; :func:`setup_handlers` mounts them
so they work behind the hub's ``/user/<name>/<server>/`` prefix.
"""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from . import datasets, devenvs, jobs, me, settings, vcs

# not ``from . import annotations``: the name is taken by ``from __future__ import annotations``
from .annotations import default_handlers as annotation_handlers

API_PREFIX = ("ytung", "api")

default_handlers = [
    *me.default_handlers,
    *vcs.default_handlers,
    *settings.default_handlers,
    *devenvs.default_handlers,
    *annotation_handlers,
    *datasets.default_handlers,
    *jobs.default_handlers,
]


def setup_handlers(web_app) -> None:
    """Add every Ytung route to the server's tornado application."""
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, *API_PREFIX, route.lstrip("/")), handler)
            for route, handler in default_handlers
        ],
    )
