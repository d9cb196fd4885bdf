"""The Jupyter server extension inside every Ytung workload, and the home of the lab extension.

- ``/ytung/api/*`` handlers (:mod:`ytung_server_ext.apihandlers`) that the JupyterLab sidebar
  calls; they forward to the platform service with the server's own hub token through
  :mod:`ytung_service.client`, so the browser never needs a service token of its own.
- ``labextension/``: the built JupyterLab extension (sources in the repository's ``labextension/``).
- ``locale/<lang>/LC_MESSAGES/ytung.json``: the Lab translations of the ``ytung`` domain, found by
  JupyterLab through the ``jupyterlab.locale`` entry point.

Enabled in every server by ``jupyter-config/server-config/ytung_server_ext.json``; by hand::

    jupyter server --ServerApp.jpserver_extensions="{'ytung_server_ext': True}"
"""

from __future__ import annotations

__all__ = [
    "_jupyter_labextension_paths",
    "_jupyter_server_extension_points",
    "_load_jupyter_server_extension",
]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "ytung"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "ytung_server_ext"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from .apihandlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("Ytung server extension loaded: %s", serverapp.web_app.settings["base_url"])


# jupyter_server < 2 and some tools still look for the old names
load_jupyter_server_extension = _load_jupyter_server_extension
