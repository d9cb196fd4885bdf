"""``/api/v1/me``: who am I (user, roles, permissions, VCs)."""

from tornado import web

from .. import accounts
from .base import APIHandler


class MeHandler(APIHandler):
    async def get(self):
        if self.platform_user is None:
            raise web.HTTPError(400, self.t("Only users have a profile; this is a service token"))
        self.write_json(accounts.user_model(self.platform_user, bool(self.hub_model.get("admin"))))


class VersionHandler(APIHandler):
    async def get(self):
        from .. import __version__

        self.write_json({"version": __version__, "name": "ytung"})


default_handlers = [
    (r"/api/v1/me", MeHandler),
    (r"/api/v1/version", VersionHandler),
]
