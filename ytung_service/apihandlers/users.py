"""``/api/v1/users``: platform users (admin), their roles, and their access (SPEC A1–A3)."""

from tornado import web

from .. import accounts, orm
from ..permissions import ADMIN, requires
from .base import APIHandler


class UserListHandler(APIHandler):
    @requires(ADMIN)
    async def get(self):
        users = self.db.query(orm.User).order_by(orm.User.name).all()
        self.write_json([accounts.user_model(u) for u in users])


class UserHandler(APIHandler):
    def _check_self_or_admin(self, name: str) -> None:
        if ADMIN in self.platform_permissions:
            return
        if self.platform_user is None or self.platform_user.name != name:
            raise web.HTTPError(403, self.t("You may only see your own account"))

    async def get(self, name):
        self._check_self_or_admin(name)
        self.write_json(accounts.user_model(accounts.get_user(self.db, name)))

    @requires(ADMIN)
    async def delete(self, name):
        accounts.delete_user(self.db, name)
        self.db.commit()
        self.set_status(204)
        self.finish()


class UserRolesHandler(APIHandler):
    @requires(ADMIN)
    async def put(self, name):
        body = self.get_json_body()
        roles = body.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise web.HTTPError(400, self.t("'roles' must be a list of role names"))
        user = accounts.set_roles(self.db, name, roles)
        self.db.commit()
        self.write_json(accounts.user_model(user))


class UserAccessHandler(APIHandler):
    """Asked by the spawners before every start: may this user run workloads at all?"""

    async def get(self, name):
        UserHandler._check_self_or_admin(self, name)
        user = accounts.ensure_user(self.db, name)
        self.db.commit()
        model = accounts.access_model(user)
        if not model["allowed"]:
            # perhaps through a hub group joined seconds ago: look again before refusing
            await self.ytung.sync_groups(self.db, user, fresh=True)
            model = accounts.access_model(user)
        if model["reason"]:
            model["reason"] = self.t(model["reason"])
        self.write_json(model)


class RoleListHandler(APIHandler):
    async def get(self):
        roles = self.db.query(orm.Role).order_by(orm.Role.id).all()
        self.write_json(
            [
                {
                    "name": r.name,
                    "description": self.t(r.description),
                    "type": "preset" if r.preset else "custom",
                    "permissions": r.permissions,
                }
                for r in roles
            ]
        )


default_handlers = [
    (r"/api/v1/users", UserListHandler),
    (r"/api/v1/users/(?P<name>[^/]+)", UserHandler),
    (r"/api/v1/users/(?P<name>[^/]+)/roles", UserRolesHandler),
    (r"/api/v1/users/(?P<name>[^/]+)/access", UserAccessHandler),
    (r"/api/v1/roles", RoleListHandler),
]
