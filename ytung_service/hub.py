"""The service's client of the JupyterHub REST API (start/stop named servers, list servers).

Uses the service's own hub token (``JUPYTERHUB_API_TOKEN``), whose role grants the scopes
it needs (see ``hub_config/jupyterhub_config.py``).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


class HubError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class HubClient:
    def __init__(self, api_url: str | None = None, token: str | None = None):
        self.api_url = (api_url or os.environ.get("JUPYTERHUB_API_URL", "")).rstrip("/")
        self.token = token or os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @property
    def configured(self) -> bool:
        return bool(self.api_url and self.token)

    async def _fetch(self, method: str, path: str, body: Any = None):
        req = HTTPRequest(
            f"{self.api_url}/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=30,
        )
        try:
            return await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599:
                raise HubError(503, f"the hub did not answer: {e}") from None
            text = e.response.body.decode("utf8", "replace") if e.response else str(e)
            raise HubError(e.code, text) from None
        except OSError as e:
            raise HubError(503, f"the hub is unreachable: {e}") from None

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self._fetch(method, path, body)
        return json.loads(resp.body) if resp.body else None

    @staticmethod
    def _server_path(user: str, server: str) -> str:
        if server:
            return f"users/{quote(user)}/servers/{quote(server)}"
        return f"users/{quote(user)}/server"

    async def start_server(self, user: str, server: str, options: dict[str, Any]) -> None:
        """Ask the hub to start ``user``'s server (202/201); already running or pending is fine."""
        try:
            await self.request("POST", self._server_path(user, server), options)
        except HubError as e:
            if e.status != 400 or "already" not in e.message:
                raise

    async def stop_server(self, user: str, server: str) -> bool:
        """Ask the hub to stop a server. True when it is stopped (or was not running); False
        when the hub is still stopping it (202) — its devices are not free yet."""
        try:
            code = (await self._fetch("DELETE", self._server_path(user, server))).code
        except HubError as e:
            if e.status in (400, 404):
                return True
            raise
        return code != 202

    async def servers(self, page: int = 200) -> dict[tuple[str, str], dict[str, Any]]:
        """Every server the hub knows as running or pending: (user, name) → server model.

        Paged: the hub answers at most ``api_page_max_limit`` users per request."""
        found = {}
        offset = 0
        while True:
            users = await self.request("GET", f"users?state=active&offset={offset}&limit={page}")
            for user in users or []:
                for name, server in (user.get("servers") or {}).items():
                    found[(user["name"], name)] = server
            if not users or len(users) < page:
                return found
            offset += len(users)
