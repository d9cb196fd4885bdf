"""The platform's front door (``/services/ytung/``): the hub's ``default_url`` after login.

Users with a VC go on to their server; signed-up users without one see the "no access yet"
page (SPEC A1) until an administrator adds them to a VC.
"""

from tornado import web

from .. import accounts
from .base import PageHandler


class HomeHandler(PageHandler):
    @web.authenticated
    async def get(self):
        if self.platform_user is None:
            raise web.HTTPError(403, self.t("You have no access to this page"))
        access = accounts.access_model(self.platform_user)
        if access["allowed"]:
            self.redirect(self.hub_url("spawn"))
            return
        self.render_page("noaccess.html", status=403)


default_handlers = [(r"/?", HomeHandler)]
