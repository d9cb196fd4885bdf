"""``/api/v1/vcs``: virtual clusters, their quotas and their members (SPEC V1, V2).

A VC's ``approval_required`` and its admins (members with ``admin: true``, who approve the
VC's workloads) are set here by System Admins.
"""

from urllib.parse import quote

from tornado import web

from .. import accounts, orm, vcs
from ..hub import HubError
from ..permissions import ADMIN, requires
from .base import APIHandler


class VcMixin:
    def find_vc(self, name: str) -> orm.Vc:
        vc = accounts.get_vc(self.db, name)
        if ADMIN not in self.platform_permissions and (
            self.platform_user is None or vc not in self.platform_user.vcs
        ):
            # do not reveal which VCs exist to non-members
            raise web.HTTPError(404, self.t("No such virtual cluster: {name}", name=name))
        return vc

    def vc_json(self, vc: orm.Vc) -> dict:
        return vcs.vc_model(self.db, vc, self.t)


class VcListHandler(VcMixin, APIHandler):
    async def get(self):
        """Admins see every VC, others the VCs they belong to."""
        if ADMIN in self.platform_permissions:
            found = vcs.all_vcs(self.db)
        elif self.platform_user is not None:
            found = self.platform_user.vcs
        else:
            found = []
        self.write_json([self.vc_json(vc) for vc in found])

    @requires(ADMIN)
    async def post(self):
        body = self.get_json_body()
        nodes = await self.ytung.nodes()
        async with self.ytung.admission.lock:
            vc = vcs.create_vc(self.db, nodes, body)
            self.db.commit()
        self.write_json(self.vc_json(vc), status=201)


class VcHandler(VcMixin, APIHandler):
    async def get(self, name):
        self.write_json(self.vc_json(self.find_vc(name)))

    @requires(ADMIN)
    async def patch(self, name):
        body = self.get_json_body()
        nodes = await self.ytung.nodes()
        async with self.ytung.admission.lock:
            vc = vcs.update_vc(self.db, nodes, self.find_vc(name), body)
            self.db.commit()
        self.ytung.reconciler.wake()
        self.write_json(self.vc_json(vc))

    @requires(ADMIN)
    async def delete(self, name):
        async with self.ytung.admission.lock:
            vcs.delete_vc(self.db, self.find_vc(name))
            self.db.commit()
        self.set_status(204)
        self.finish()


def members_json(vc: orm.Vc) -> list[dict]:
    """The members with their ``admin`` flag (users; groups are never VC admins)."""
    admins = set(vcs.admin_names(vc))
    return [
        {**m, "admin": m["user"] in admins} if m["kind"] == "user" else m
        for m in accounts.members_model(vc)
    ]


class VcMembersHandler(VcMixin, APIHandler):
    async def get(self, name):
        self.write_json(members_json(self.find_vc(name)))

    @requires(ADMIN)
    async def post(self, name):
        """Add ``{"user": name, "admin": false}`` or admit ``{"group": name}`` (a hub group)."""
        vc = self.find_vc(name)
        body = self.get_json_body()
        group = body.get("group")
        if isinstance(group, str) and group:
            await self.check_hub_group(group)
            accounts.add_group(self.db, vc, group)
            self.db.commit()
            self.write_json({"group": group, "vc": vc.name}, status=201)
            return
        username = body.get("user")
        if not isinstance(username, str) or not username:
            raise web.HTTPError(400, self.t("'user' (a username) or 'group' is required"))
        member = accounts.add_member(self.db, vc, username)
        if "admin" in body:
            vcs.set_vc_admin(self.db, vc, username, body["admin"])
        self.db.commit()
        self.write_json(
            {"user": member.user.name, "vc": vc.name, "admin": member.admin}, status=201
        )

    async def check_hub_group(self, group: str) -> None:
        hub = self.ytung.reconciler.hub
        if not hub.configured:
            return
        try:
            await hub.request("GET", f"groups/{quote(group)}")
        except HubError as e:
            if e.status == 404:
                raise web.HTTPError(404, self.t("No such group: {name}", name=group)) from None
            raise


class VcMemberHandler(VcMixin, APIHandler):
    @requires(ADMIN)
    async def patch(self, name, user):
        """``{"admin": true|false}``: make the member one of the VC's admins, or not."""
        vc = self.find_vc(name)
        body = self.get_json_body()
        if "admin" not in body:
            raise web.HTTPError(400, self.t("'{key}' is required", key="admin"))
        member = vcs.set_vc_admin(self.db, vc, user, body["admin"])
        self.db.commit()
        self.write_json({"user": member.user.name, "vc": vc.name, "admin": member.admin})

    @requires(ADMIN)
    async def delete(self, name, user):
        vc = self.find_vc(name)
        accounts.remove_member(self.db, vc, user)
        self.db.commit()
        self.set_status(204)
        self.finish()


class VcGroupHandler(VcMixin, APIHandler):
    @requires(ADMIN)
    async def delete(self, name, group):
        accounts.remove_group(self.db, self.find_vc(name), group)
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/api/v1/vcs", VcListHandler),
    (r"/api/v1/vcs/(?P<name>[^/]+)", VcHandler),
    (r"/api/v1/vcs/(?P<name>[^/]+)/members", VcMembersHandler),
    (r"/api/v1/vcs/(?P<name>[^/]+)/members/(?P<user>[^/]+)", VcMemberHandler),
    (r"/api/v1/vcs/(?P<name>[^/]+)/groups/(?P<group>[^/]+)", VcGroupHandler),
]
