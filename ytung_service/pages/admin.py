"""The admin area (``/services/ytung/admin/``): console, users, VCs and their members.

Linked from the hub's navigation bar (``hub_config/templates/page.html``) for admins only;
anyone else gets a 403 page.
"""

from urllib.parse import urlencode

from sqlalchemy import select
from tornado import web

from .. import accounts, orm
from ..errors import DomainError
from ..permissions import ADMIN, requires
from .base import PageHandler


class AdminPage(PageHandler):
    def back(self, message: str = "", error: str = "") -> None:
        query = {k: v for k, v in (("msg", message), ("error", error)) if v}
        self.redirect(self.page_url("admin/") + ("?" + urlencode(query) if query else ""))


class AdminHomeHandler(AdminPage):
    @web.authenticated
    @requires(ADMIN)
    async def get(self):
        users = self.db.scalars(select(orm.User).order_by(orm.User.name)).all()
        vcs = self.db.scalars(select(orm.Vc).order_by(orm.Vc.name)).all()
        self.render_page(
            "admin.html",
            counts=accounts.counts(self.db),
            users=users,
            vcs=vcs,
            message=self.get_argument("msg", ""),
            error=self.get_argument("error", ""),
        )


class AdminVcMembersHandler(AdminPage):
    @web.authenticated
    @requires(ADMIN)
    async def post(self, name):
        vc = accounts.get_vc(self.db, name)
        username = self.get_body_argument("user", "").strip()
        try:
            accounts.add_member(self.db, vc, username)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.back(error=self.t(e.message, **e.params))
        self.back(self.t("Added {user} to {vc}", user=username, vc=name))


class AdminVcMemberRemoveHandler(AdminPage):
    @web.authenticated
    @requires(ADMIN)
    async def post(self, name, user):
        vc = accounts.get_vc(self.db, name)
        try:
            accounts.remove_member(self.db, vc, user)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.back(error=self.t(e.message, **e.params))
        self.back(self.t("Removed {user} from {vc}", user=user, vc=name))


default_handlers = [
    (r"/admin/?", AdminHomeHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/members", AdminVcMembersHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/members/(?P<user>[^/]+)/remove", AdminVcMemberRemoveHandler),
]
