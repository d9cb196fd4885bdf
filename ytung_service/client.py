"""The Python client of the platform service REST API.

Everybody outside the service talks to it through this module: the hub (spawners), the Jupyter
server extension inside a workload, and notebook kernels (widgets). It needs only a service URL
and a JupyterHub token, both taken from the environment by default:

- ``YTUNG_SERVICE_URL``: the service's base URL, e.g. ``http://127.0.0.1:10101/services/ytung/``
  (set by the Ytung spawners in every workload and by the hub config for the hub itself)
- ``JUPYTERHUB_API_TOKEN``: any hub token whose owner may access the service (the workload's
  own token inside a workload or a kernel).

Example::

    from ytung_service.client import PlatformClient
    me = PlatformClient().me()            # from a notebook: blocking
    me = await AsyncPlatformClient().me() # from tornado / asyncio code

Errors come back as :class:`PlatformError` with the HTTP status and the service's message.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

API_PREFIX = "api/v1/"


class PlatformError(Exception):
    """An error answer of the service (``status`` is the HTTP status, ``message`` its text)."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


class ServiceUnreachable(PlatformError):
    """No answer at all from the service (connection refused, DNS, timeout): status 503."""

    def __init__(self, reason: str):
        super().__init__(503, f"the Ytung service is unreachable: {reason}")
        self.reason = reason


def _default_url() -> str:
    url = os.environ.get("YTUNG_SERVICE_URL", "")
    if not url:
        raise PlatformError(0, "YTUNG_SERVICE_URL is not set: where is the Ytung service?")
    return url


def _error_from(status: int, text: str) -> PlatformError:
    try:
        body = json.loads(text) if text else {}
        message = body.get("message") or text
    except ValueError:
        body, message = None, text
    return PlatformError(status, message or f"HTTP {status}", body)


class _Endpoints:
    """The service's operations, written once; ``_call`` is sync or async per subclass."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30,
        lang: str | None = None,
    ):
        self.url = (url or _default_url()).rstrip("/") + "/"
        self.token = token if token is not None else os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.timeout = timeout
        #: the language of the service's messages (``zh_CN`` or ``en``); default: the service's
        self.lang = lang

    def _api(self, path: str) -> str:
        return self.url + API_PREFIX + path.lstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if self.lang:
            headers["Accept-Language"] = self.lang.replace("_", "-")
        return headers

    # subclasses define ``_call(method, path, body=None)``: blocking or a coroutine

    # -- identity -------------------------------------------------------------------------
    def me(self):
        """The calling user: name, nickname, roles, permissions, VCs."""
        return self._call("GET", "me")

    def user_access(self, username: str):
        """Whether ``username`` may start workloads (member of at least one VC), and why not."""
        return self._call("GET", f"users/{quote(username)}/access")

    # -- virtual clusters -----------------------------------------------------------------
    def vcs(self):
        return self._call("GET", "vcs")

    def vc_members(self, vc: str):
        return self._call("GET", f"vcs/{quote(vc)}/members")

    def add_vc_member(self, vc: str, username: str):
        return self._call("POST", f"vcs/{quote(vc)}/members", {"user": username})

    def remove_vc_member(self, vc: str, username: str):
        return self._call("DELETE", f"vcs/{quote(vc)}/members/{quote(username)}")

    def add_vc_group(self, vc: str, group: str):
        """Admit a JupyterHub group: its members may use the VC (SPEC V2)."""
        return self._call("POST", f"vcs/{quote(vc)}/members", {"group": group})

    def remove_vc_group(self, vc: str, group: str):
        return self._call("DELETE", f"vcs/{quote(vc)}/groups/{quote(group)}")

    def version(self):
        return self._call("GET", "version")

    # -- the user's view of VCs and queue (SPEC V3, V5, X1) -------------------------------
    def my_vcs(self):
        """``{"current_vc", "vcs": [... devices: quota/used/queued ...], "queued": [...]}``."""
        return self._call("GET", "me/vcs")

    def set_current_vc(self, vc: str):
        return self._call("PUT", "me/settings", {"current_vc": vc})

    # -- devices and workloads (the allocation API) ----------------------------------------
    def devices(self):
        return self._call("GET", "devices")

    def submit_workload(self, **workload):
        """Create a workload; answers it with ``status`` ``queued`` (and ``queue``) or admitted."""
        return self._call("POST", "workloads", workload)

    def workloads(self, **filters):
        query = "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in filters.items() if v)
        return self._call("GET", "workloads" + (f"?{query}" if query else ""))

    def workload(self, workload_id: int):
        return self._call("GET", f"workloads/{int(workload_id)}")

    def stop_workload(self, workload_id: int):
        return self._call("DELETE", f"workloads/{int(workload_id)}")

    def workload_event(self, workload_id: int, event: str, message: str = ""):
        """What a spawner reports: ``started``, ``stopped`` or ``failed`` (service token only)."""
        body = {"event": event, "message": message}
        return self._call("POST", f"workloads/{int(workload_id)}/events", body)

    def extend_workload(self, workload_id: int, hours: float):
        return self._call("POST", f"workloads/{int(workload_id)}/extend", {"hours": hours})

    # -- VC administration -----------------------------------------------------------------
    def create_vc(self, **vc):
        return self._call("POST", "vcs", vc)

    def update_vc(self, name: str, **changes):
        return self._call("PATCH", f"vcs/{quote(name)}", changes)

    def delete_vc(self, name: str):
        return self._call("DELETE", f"vcs/{quote(name)}")


class PlatformClient(_Endpoints):
    """Blocking client (notebooks, scripts, tests)."""

    def _call(self, method: str, path: str, body: Any = None):
        import requests

        try:
            resp = requests.request(
                method,
                self._api(path),
                headers=self._headers(),
                data=None if body is None else json.dumps(body),
                timeout=self.timeout,
            )
        except requests.RequestException as e:
            raise ServiceUnreachable(str(e)) from None
        if resp.status_code >= 400:
            raise _error_from(resp.status_code, resp.text)
        return resp.json() if resp.content else None


class AsyncPlatformClient(_Endpoints):
    """Non-blocking client on tornado's HTTP client (hub, server extension)."""

    async def _call(self, method: str, path: str, body: Any = None):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        req = HTTPRequest(
            self._api(path),
            method=method,
            headers=self._headers(),
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599:  # tornado's "no response": timeout, connection closed
                raise ServiceUnreachable(str(e)) from None
            text = e.response.body.decode("utf8", "replace") if e.response else str(e)
            raise _error_from(e.code, text) from None
        except OSError as e:
            raise ServiceUnreachable(str(e)) from None
        return json.loads(resp.body) if resp.body else None
