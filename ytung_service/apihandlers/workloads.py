"""``/api/v1/workloads``: the allocation API, the single writer of device allocations.

``POST`` answers 201 with the workload: ``queued`` (with ``queue``: position, ahead and
reason) or admitted (``scheduling``, with its placement). A request that can never fit is
refused at once (400). ``DELETE`` stops a workload and frees its devices.

In a VC that needs approval a non-admin's workload answers ``unapproved``; System Admins and
the VC's admins list those with ``GET ?approvable=1`` and decide them with ``POST
…/approve`` (→ queued) or ``POST …/reject`` (→ closed, ``{"reason"}`` shown to the owner).
"""

from sqlalchemy import select
from tornado import web

from .. import devenvs, orm, vcs
from ..admission import workload_model
from ..errors import DomainError
from ..permissions import ADMIN, USE, requires
from .base import APIHandler

EVENTS = {"started": orm.RUNNING, "stopped": orm.CLOSED, "failed": orm.FAILED}


class WorkloadMixin:
    def model(self, w: orm.Workload) -> dict:
        model = workload_model(w, self.t, orm.Vc.find(self.db, w.vc), self.ytung.admission.clock())
        if w.kind == "training":
            # the run spec the spawner passes to the job runner as YTUNG_JOB (SPEC T2, T3)
            model["job"] = (w.user_options or {}).get("job")
        return model

    def find_workload(self, workload_id: str) -> orm.Workload:
        w = self.db.get(orm.Workload, int(workload_id))
        mine = (
            self.platform_user is not None and w is not None and w.owner == self.platform_user.name
        )
        if w is None or not (mine or ADMIN in self.platform_permissions):
            # another user's workload does not exist for you
            raise web.HTTPError(404, self.t("No such workload: {id}", id=workload_id))
        return w


class _Submitting:
    async def _submit(self, body: dict):
        if not self.is_trusted_service:
            # user_options reach the spawner as trusted facts (privileged pods, the job's
            # command, worker commands): only the hub side and the domain modules
            # (devenvs, jobs) may set them, after their own checks
            body = {k: v for k, v in body.items() if k != "user_options"}
        return await self.ytung.admission.submit(
            body,
            self.platform_user,
            trusted=self.is_trusted_service,
            admin=ADMIN in self.platform_permissions and not self.is_trusted_service,
        )

    async def _refresh_groups(self, body: dict) -> bool:
        """Re-read the owner's hub groups; True when they changed."""
        user = self.platform_user
        if self.is_trusted_service and isinstance(body.get("owner"), str):
            user = orm.User.find(self.db, body["owner"])
        if user is None:
            return False
        before = list(user.hub_groups or [])
        await self.ytung.sync_groups(self.db, user, fresh=True)
        return (user.hub_groups or []) != before


class WorkloadListHandler(_Submitting, WorkloadMixin, APIHandler):
    @requires(USE)
    async def get(self):
        """Mine; admins see everybody's, filtered by ``owner``, ``vc``, ``kind``, ``status``.

        ``approvable=1``: the unapproved workloads the caller may approve or reject (all of
        them for System Admins, those of the VCs they administer for VC admins)."""
        query = select(orm.Workload).order_by(orm.Workload.id.desc())
        if self.get_argument("approvable", "") in ("1", "true"):
            query = query.where(orm.Workload.status == orm.UNAPPROVED)
            if ADMIN not in self.platform_permissions:
                administered = vcs.administered_vcs(self.platform_user)
                query = query.where(orm.Workload.vc.in_(administered))
        elif ADMIN not in self.platform_permissions:
            query = query.where(orm.Workload.owner == self.platform_user.name)
        for key in ("owner", "vc", "kind", "status"):
            value = self.get_argument(key, None)
            if value:
                query = query.where(getattr(orm.Workload, key) == value)
        limit = self.get_argument("limit", "500")
        if not limit.isdigit() or not 1 <= int(limit) <= 5000:
            raise web.HTTPError(400, self.t("'limit' must be a whole number from 1 to 5000"))
        limit = int(limit)
        self.write_json([self.model(w) for w in self.db.scalars(query.limit(limit))])

    @requires(USE)
    async def post(self):
        body = self.get_json_body()
        try:
            wid, effects = await self._submit(body)
        except DomainError as e:
            # membership may come through a hub group joined seconds ago: look again, once
            if e.status != 403 or not await self._refresh_groups(body):
                raise
            wid, effects = await self._submit(body)
        await self.ytung.reconciler.apply(effects)
        self.db.expire_all()
        if self.is_trusted_service:
            # a server started from the hub's spawn page: list it as a dev environment (D2)
            image = body.get("image") if isinstance(body.get("image"), str) else ""
            devenvs.adopt_hub_workload(
                self.db, self.db.get(orm.Workload, wid), self.ytung, image=image
            )
            self.db.expire_all()
        self.write_json(self.model(self.db.get(orm.Workload, wid)), status=201)


class WorkloadPreviewHandler(WorkloadMixin, APIHandler):
    """X1: would this request start now or queue, and why? Nothing is created.

    A GET with the request in the query, so that the hub's spawn form can ask it with the
    user's cookie while the user fills it in.
    """

    @requires(USE)
    async def get(self):
        body: dict = {}
        for key in ("vc", "device_type", "kind", "name"):
            value = self.get_argument(key, None)
            if value:
                body[key] = value
        for key in ("devices_per_node", "nodes"):
            value = self.get_argument(key, None)
            if value is not None:
                if not value.lstrip("-").isdigit():
                    raise web.HTTPError(
                        400,
                        self.t("{what} must be a whole number; got {value}", what=key, value=value),
                    )
                body[key] = int(value)
        body["preemptible"] = self.get_argument("preemptible", "") in ("1", "true", "on")
        result = await self.ytung.admission.preview(body, self.platform_user)
        for key in ("reason", "estimate_reason"):
            # X1: why it would queue, and how its estimated start was found (or why unknown)
            if result.get(key):
                reason = result[key]
                result[key] = {
                    "code": reason["code"],
                    "text": self.t(reason["message"], **reason["params"]),
                }
        self.write_json(result)


class WorkloadHandler(WorkloadMixin, APIHandler):
    @requires(USE)
    async def get(self, workload_id):
        self.write_json(self.model(self.find_workload(workload_id)))

    @requires(USE)
    async def delete(self, workload_id):
        """Stop: queued → closed; active → the server is stopped and the devices freed."""
        w = self.find_workload(workload_id)
        await self.ytung.reconciler.stop_workload(w.id)
        self.db.expire_all()
        self.write_json(self.model(self.db.get(orm.Workload, w.id)))


class WorkloadEventHandler(WorkloadMixin, APIHandler):
    """What the spawners report: ``started``, ``stopped``, ``failed`` (service token only)."""

    @requires(ADMIN)
    async def post(self, workload_id):
        if not self.is_trusted_service:
            raise web.HTTPError(403, self.t("Only the hub's spawners report workload events"))
        body = self.get_json_body()
        event = body.get("event")
        if event not in EVENTS:
            raise web.HTTPError(
                400, self.t("Unknown event; use one of {allowed}", allowed=", ".join(EVENTS))
            )
        w = self.find_workload(workload_id)
        admission = self.ytung.admission
        if event == "started":
            await admission.mark(w.id, orm.RUNNING, (orm.SCHEDULING,), started_at=admission.clock())
        else:
            message = body.get("message")
            reason = (
                {"code": event, "message": "{message}", "params": {"message": str(message)[:2000]}}
                if message
                else None
            )
            await self.ytung.reconciler.apply(await admission.release(w.id, EVENTS[event], reason))
        self.db.expire_all()
        self.write_json(self.model(self.db.get(orm.Workload, w.id)))


class WorkloadExtendHandler(WorkloadMixin, APIHandler):
    @requires(ADMIN)
    async def post(self, workload_id):
        hours = self.get_json_body().get("hours")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 8760:
            raise web.HTTPError(400, self.t("'hours' must be a number between 0 and 8760"))
        w = self.find_workload(workload_id)
        await self.ytung.admission.extend(w.id, float(hours))
        self.db.expire_all()
        self.write_json(self.model(self.db.get(orm.Workload, w.id)))


class WorkloadReviewHandler(WorkloadMixin, APIHandler):
    """Approve (→ queued) or reject (→ closed with ``{"reason"}``) an unapproved workload.

    ``USE`` is enough to ask: who may decide (System Admins, the VC's admins) is the domain's
    check, so that a VC admin needs no platform-wide permission."""

    @requires(USE)
    async def post(self, workload_id, action):
        body = self.get_json_body()
        admission = self.ytung.admission
        admin = ADMIN in self.platform_permissions
        by = self.hub_model["name"]
        if action == "approve":
            effects = await admission.approve(int(workload_id), self.platform_user, admin, by)
            await self.ytung.reconciler.apply(effects)
        else:
            await admission.reject(
                int(workload_id), self.platform_user, admin, by, body.get("reason", "")
            )
        self.db.expire_all()
        self.write_json(self.model(self.db.get(orm.Workload, int(workload_id))))


default_handlers = [
    (r"/api/v1/workloads", WorkloadListHandler),
    (r"/api/v1/workloads/preview", WorkloadPreviewHandler),
    (r"/api/v1/workloads/(?P<workload_id>[0-9]+)", WorkloadHandler),
    (r"/api/v1/workloads/(?P<workload_id>[0-9]+)/events", WorkloadEventHandler),
    (r"/api/v1/workloads/(?P<workload_id>[0-9]+)/extend", WorkloadExtendHandler),
    (
        r"/api/v1/workloads/(?P<workload_id>[0-9]+)/(?P<action>approve|reject)",
        WorkloadReviewHandler,
    ),
]
