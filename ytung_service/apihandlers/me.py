"""``/api/v1/me``: who am I (user, roles, permissions, VCs)."""

from datetime import UTC, datetime

from sqlalchemy import select
from tornado import web

from .. import accounts, orm, vcs
from ..admission import workload_model
from .base import APIHandler


class MeHandler(APIHandler):
    async def get(self):
        if self.platform_user is None:
            raise web.HTTPError(400, self.t("Only users have a profile; this is a service token"))
        model = accounts.user_model(self.platform_user, bool(self.hub_model.get("admin")))
        # the VCs whose workloads this user approves (the Lab links to the Workloads tab)
        model["vc_admin_of"] = vcs.administered_vcs(self.platform_user)
        self.write_json(model)


class VersionHandler(APIHandler):
    async def get(self):
        from .. import __version__

        self.write_json({"version": __version__, "name": "ytung"})


default_handlers = [
    (r"/api/v1/me", MeHandler),
    (r"/api/v1/version", VersionHandler),
]


class MyVcsHandler(APIHandler):
    """The user's VC view (SPEC V5): quota / used / mine / queued per device type, and the
    user's queued workloads with position and reason (V3, X1)."""

    async def get(self):
        user = self._user()
        mine: dict[tuple[str, str], int] = {}
        queued = []
        for w in self.db.scalars(
            select(orm.Workload)
            .where(orm.Workload.owner == user.name, orm.Workload.status.in_(orm.LIVE_STATUSES))
            .order_by(orm.Workload.submit_time)
        ):
            if w.status == orm.QUEUED:
                model = workload_model(w, self.t, None, self.ytung.admission.clock())
                queued.append(
                    {
                        **{
                            k: model[k]
                            for k in (
                                "id",
                                "name",
                                "kind",
                                "vc",
                                "device_type",
                                "nodes",
                                "devices_per_node",
                            )
                        },
                        "position": w.position,
                        "ahead": w.ahead,
                        "reason": model["reason"]["text"] if model["reason"] else "",
                        # X1: "no later than" (ISO time) or None, and how it was found
                        "estimated_start": (model["queue"] or {}).get("estimated_start"),
                        "estimate_reason": (model["queue"] or {}).get("estimate_reason"),
                        "submitted": datetime.fromtimestamp(w.submit_time, UTC).isoformat(),
                    }
                )
            elif w.device_type:
                key = (w.vc, w.device_type)
                mine[key] = mine.get(key, 0) + len(w.devices)
        out = []
        for vc in user.vcs:
            model = vcs.vc_model(self.db, vc, self.t)
            types = sorted(set(model["quota"]) | set(model["usage"]))
            devices = [
                {
                    "device_type": t,
                    "quota": model["quota"].get(t, 0),
                    "user_max": model["user_max"].get(t),
                    "used": model["usage"].get(t, {}).get("used", 0),
                    "my_used": mine.get((vc.name, t), 0),
                    "queued": model["usage"].get(t, {}).get("queued", 0),
                }
                for t in types
            ]
            out.append(
                {
                    "name": vc.name,
                    "description": model["description"],
                    "max_hours": vc.max_hours,
                    "devices": devices,
                }
            )
        current = user.current_vc if user.current_vc in {vc.name for vc in user.vcs} else None
        if current is None and user.vcs:
            current = user.vcs[0].name
        self.write_json({"current_vc": current, "vcs": out, "queued": queued})

    def _user(self) -> orm.User:
        if self.platform_user is None:
            raise web.HTTPError(400, self.t("Only users have a profile; this is a service token"))
        return self.platform_user


class MySettingsHandler(MyVcsHandler):
    async def get(self):
        user = self._user()
        self.write_json(
            {"current_vc": user.current_vc, "privilege_enabled": bool(user.privilege_enabled)}
        )

    async def put(self):
        user = self._user()
        body = self.get_json_body()
        if "privilege_enabled" in body:
            # U1: the Privilege Job toggle (D1 offers root inside only when it is on)
            enabled = body["privilege_enabled"]
            if not isinstance(enabled, bool):
                raise web.HTTPError(400, self.t("'privilege_enabled' must be true or false"))
            user.privilege_enabled = enabled
            if "current_vc" not in body:
                self.db.commit()
                return self.write_json(
                    {"current_vc": user.current_vc, "privilege_enabled": enabled}
                )
        name = body.get("current_vc")
        if not isinstance(name, str) or not name:
            raise web.HTTPError(400, self.t("'current_vc' (a VC name) is required"))
        vc = accounts.get_vc(self.db, name)
        if vc not in user.vcs:
            raise web.HTTPError(
                400, self.t("{user} is not a member of {vc}", user=user.name, vc=name)
            )
        user.current_vc = name
        self.db.commit()
        self.write_json({"current_vc": name, "privilege_enabled": bool(user.privilege_enabled)})


default_handlers += [
    (r"/api/v1/me/vcs", MyVcsHandler),
    (r"/api/v1/me/settings", MySettingsHandler),
]
