"""The hub's access log without the platform service's polling.

The service's reconciler asks the hub for every user's servers every few seconds; JupyterHub logs
each of those successful GETs at INFO, which buries everything else ``make run`` prints. This
``log_function`` writes the service's successful GETs at DEBUG (``--debug`` shows them) and hands
every other request to JupyterHub's own :func:`jupyterhub.log.log_request`.

Configured in ``hub_config/jupyterhub_config.py`` as
``c.JupyterHub.tornado_settings = {"log_function": log_request}``.
"""

from __future__ import annotations

#: the managed service whose polling is quiet (``c.JupyterHub.services[0]["name"]``)
SERVICE_NAME = "ytung"


def _is_the_service(handler) -> bool:
    from jupyterhub import orm

    try:
        user = handler.current_user
    except Exception:  # an unauthenticated or failed request: JupyterHub logs it
        return False
    return isinstance(user, orm.Service) and user.name == SERVICE_NAME


def log_request(handler) -> None:
    from jupyterhub.log import access_log
    from jupyterhub.log import log_request as hub_log_request
    from jupyterhub.metrics import prometheus_log_method

    request = handler.request
    status = handler.get_status()
    if request.method == "GET" and status < 300 and _is_the_service(handler):
        access_log.debug(
            "%s GET %s (%s@%s) %.2fms",
            status,
            request.path,
            SERVICE_NAME,
            request.remote_ip,
            1000.0 * request.request_time(),
        )
        prometheus_log_method(handler)
        return
    hub_log_request(handler)
