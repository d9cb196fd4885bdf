"""``/ytung/api/me``: the current user as the platform sees them (roles, permissions, VCs)."""

from __future__ import annotations

from tornado import web

from .base import YtungAPIHandler


class MeHandler(YtungAPIHandler):
    """``GET``: the service's ``/api/v1/me`` for the owner of this server, unchanged."""

    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("me"))


default_handlers = [
    (r"/me", MeHandler),
]
