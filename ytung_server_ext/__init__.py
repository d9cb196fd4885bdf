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
    # a workload of kind "training": run the job beside Jupyter (SPEC T2, T3, T6)
    from .jobrunner import runner_from_env

    runner = runner_from_env()
    if runner is not None:
        from tornado.ioloop import IOLoop

        IOLoop.current().add_callback(runner.start)
        serverapp.web_app.settings["ytung_job_runner"] = runner
    # D6: the browser may open ports 40000-49999 of a workload, nothing else
    from .apihandlers.devenvs import install_port_guard

    install_port_guard(serverapp.web_app)
    _start_devenv(serverapp)
    serverapp.log.info("Ytung server extension loaded: %s", serverapp.web_app.settings["base_url"])


def _start_devenv(serverapp) -> None:
    """D9: the platform's variables in ``$YTUNG_POD_ENV`` (before any kernel starts); D5: in a
    dev environment, the SSH server."""
    import os

    if not os.environ.get("YTUNG_WORKLOAD_ID"):
        return
    from . import devenv

    devenv.write_pod_env()
    if os.environ.get("YTUNG_WORKLOAD_KIND") == "devenv":
        from tornado.ioloop import IOLoop

        IOLoop.current().add_callback(devenv.start, serverapp)


# jupyter_server < 2 and some tools still look for the old names
load_jupyter_server_extension = _load_jupyter_server_extension
