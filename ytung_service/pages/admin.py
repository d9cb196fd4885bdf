"""The admin area (``/services/ytung/admin/``): console, virtual clusters and their members, users.

Linked from the hub's navigation bar (``hub_config/templates/page.html``) for admins only;
anyone else gets a 403 page. The pages call the same domain functions as the REST API
(:mod:`ytung_service.vcs`, :mod:`ytung_service.accounts`) and hold the admission lock around
VC writes like it does, so a form cannot oversubscribe the cluster either (SPEC V1, V2, A6).

Routes (under the service prefix)::

    GET       admin/                          console: counts, VCs, add a user to a VC
    POST      admin/members                   the console's "add a user to a VC" form
    GET       admin/users                     users
    GET       admin/vcs                       VCs with quotas and usage, the cluster's devices
    GET/POST  admin/vcs/new                   create a VC
    GET/POST  admin/vcs/<name>/edit           edit a VC (409 with the blocking workloads)
    POST      admin/vcs/<name>/delete         delete a VC (409 with the blocking workloads)
    GET/POST  admin/vcs/<name>/members        members; POST adds one
    POST      admin/vcs/<name>/members/<user>/remove
    POST      admin/vcs/<name>/members/<user>/admin   make a member a VC admin (``admin=1``) or not
    GET       admin/workloads                 W2: every user's workloads, filters
    POST      admin/workloads/<id>/(stop|extend|approve|reject)

A VC's admins (members marked admin) who are not System Admins see only the Workloads tab,
with the workloads of their VCs, and may only approve or reject them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from tornado import web

from .. import accounts, orm, vcs
from ..admission import workload_model
from ..errors import DomainError
from ..i18n import N_
from ..permissions import ADMIN, USE, requires
from ..scheduling import DEVICE_TYPES, Node, capacity, unassigned
from .base import PageHandler

#: how the pages name a workload's status (the manual's words in zh_CN)
STATUS_LABELS = {
    orm.UNAPPROVED: N_("Unapproved"),
    orm.QUEUED: N_("Queued"),
    orm.SCHEDULING: N_("Scheduling"),
    orm.RUNNING: N_("Running"),
    orm.STOPPING: N_("Stopping"),
    orm.CLOSED: N_("Closed"),
    orm.COMPLETED: N_("Completed"),
    orm.FAILED: N_("Failed"),
    orm.ERROR: N_("Error"),
}

#: W2: the type filter (SPEC's workload kinds, the manual's words in zh_CN)
KIND_LABELS = {
    "devenv": N_("Dev environment"),
    "training": N_("Training"),
    "evaluation": N_("Evaluation"),
    "inference": N_("Inference"),
    "conversion": N_("Model conversion"),
}


def device_types(nodes: Iterable[Node], quota_types: Iterable[str] = ()) -> list[str]:
    """The device types a VC page shows: those the cluster has, and any a VC still has quota of."""
    present = set(capacity(nodes)) | set(quota_types)
    known = [t for t in DEVICE_TYPES if t in present]
    return known + sorted(present - set(known))


def hours_text(hours: float | None) -> str:
    """``24.0`` → ``24``, ``1.5`` → ``1.5``; unlimited is ``--`` (as in the manual)."""
    return "--" if hours is None else f"{hours:g}"


def _number(text: str) -> int | float | str | None:
    """A form field as a number; None when empty; the text itself when it is not a number."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


@dataclass
class VcForm:
    """The create/edit form as the admin typed it (strings), so a refusal re-renders it as is."""

    name: str = ""
    description: str = ""
    quota: dict[str, str] = field(default_factory=dict)
    user_max: dict[str, str] = field(default_factory=dict)
    max_hours: str = ""
    approval_required: bool = False

    @classmethod
    def of_vc(cls, vc: orm.Vc) -> VcForm:
        return cls(
            name=vc.name,
            description=vc.description or "",
            quota={q.device_type: str(q.quota) for q in vc.quotas},
            user_max={q.device_type: str(q.user_max) for q in vc.quotas if q.user_max is not None},
            max_hours="" if vc.max_hours is None else hours_text(vc.max_hours),
            approval_required=bool(vc.approval_required),
        )

    @classmethod
    def of_arguments(cls, argument, types: Sequence[str]) -> VcForm:
        """From ``argument(key, default)`` (the handler's ``get_body_argument``)."""
        return cls(
            name=argument("name", "").strip(),
            description=argument("description", "").strip(),
            quota={t: argument(f"quota_{t}", "").strip() for t in types},
            user_max={t: argument(f"user_max_{t}", "").strip() for t in types},
            max_hours=argument("max_hours", "").strip(),
            approval_required=argument("approval_required", "") in ("on", "1", "true"),
        )

    def body(self, types: Sequence[str], t, creating: bool) -> dict[str, Any]:
        """The JSON body the domain takes (as the REST API would get it).

        Empty quota is 0, empty per-user max is no cap, empty max hours is unlimited. Text
        that is no number is refused here, naming the field; ranges are the domain's to check.
        """

        def whole(value, label: str):
            if isinstance(value, str):
                raise DomainError(
                    400, "{what} must be a whole number; got {value}", what=label, value=value
                )
            return value

        body: dict[str, Any] = {"description": self.description, "quota": {}, "user_max": {}}
        if creating:
            body["name"] = self.name
        for device_type in types:
            quota = _number(self.quota.get(device_type, ""))
            label = f"{t('Quota')} ({device_type})"
            body["quota"][device_type] = 0 if quota is None else whole(quota, label)
            cap = _number(self.user_max.get(device_type, ""))
            label = f"{t('Per-user max')} ({device_type})"
            body["user_max"][device_type] = None if cap is None else whole(cap, label)
        hours = _number(self.max_hours)
        if isinstance(hours, str):
            raise DomainError(
                400, "{what} must be a number; got {value}", what=t("Max hours"), value=hours
            )
        body["max_hours"] = hours
        body["approval_required"] = self.approval_required
        return body


def device_rows(nodes: Sequence[Node], all_vcs: Sequence[orm.Vc]) -> list[dict[str, Any]]:
    """Per device type: the cluster's capacity and what no VC quota covers yet."""
    have = capacity(nodes)
    left = unassigned(nodes, [vcs.to_scheduling(vc) for vc in all_vcs])
    types = device_types(nodes, (q.device_type for vc in all_vcs for q in vc.quotas))
    return [
        {"device_type": t, "capacity": have.get(t, 0), "unassigned": max(0, left.get(t, 0))}
        for t in types
    ]


class AdminPage(PageHandler):
    #: the tab of the admin nav this page belongs to
    tab = "console"

    def admin_url(self, *parts: str, message: str = "", error: str = "") -> str:
        query = {k: v for k, v in (("msg", message), ("error", error)) if v}
        url = self.page_url("admin", *parts)
        if not parts:
            url += "/"
        return url + ("?" + urlencode(query) if query else "")

    def render_admin(self, template: str, status: int = 200, **ns) -> None:
        ns.setdefault("message", self.get_argument("msg", ""))
        ns.setdefault("error", self.get_argument("error", ""))
        self.render_page(
            template,
            status=status,
            tab=self.tab,
            status_labels=STATUS_LABELS,
            hours_text=hours_text,
            **ns,
        )

    def error_text(self, e: DomainError) -> str:
        return self.t(e.message, **e.params)

    def blocking_workloads(self, e: DomainError) -> list[orm.Workload]:
        """The workloads a 409 names, for the table under the message."""
        ids = [w["id"] for w in e.extra.get("workloads", [])]
        found = {
            w.id: w for w in self.db.scalars(select(orm.Workload).where(orm.Workload.id.in_(ids)))
        }
        return [found[i] for i in ids if i in found]

    def all_users(self) -> list[orm.User]:
        return list(self.db.scalars(select(orm.User).order_by(orm.User.name)))


class AdminHomeHandler(AdminPage):
    @web.authenticated
    @requires(ADMIN)
    async def get(self):
        users = self.all_users()
        self.render_admin(
            "admin.html",
            counts=accounts.counts(self.db),
            waiting=[u for u in users if not u.vcs],
            users=users,
            vcs=vcs.all_vcs(self.db),
        )


class AdminMemberShortcutHandler(AdminPage):
    """The console's "add a user to a virtual cluster" (the step every sign-up waits for, A1)."""

    @web.authenticated
    @requires(ADMIN)
    async def post(self):
        username = self.get_body_argument("user", "").strip()
        name = self.get_body_argument("vc", "").strip()
        try:
            vc = accounts.get_vc(self.db, name)
            accounts.add_member(self.db, vc, username)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.redirect(self.admin_url(error=self.error_text(e)))
        message = self.t("Added {user} to {vc}", user=username, vc=name)
        self.redirect(self.admin_url("vcs", name, "members", message=message))


class AdminUsersHandler(AdminPage):
    tab = "users"

    @web.authenticated
    @requires(ADMIN)
    async def get(self):
        self.render_admin("admin_users.html", users=self.all_users())


class AdminVcListHandler(AdminPage):
    tab = "vcs"

    async def render_list(self, status: int = 200, **ns) -> None:
        nodes = await self.ytung.nodes()
        found = vcs.all_vcs(self.db)
        self.render_admin(
            "admin_vcs.html",
            status=status,
            vcs=[vcs.vc_model(self.db, vc, self.t) for vc in found],
            types=device_types(nodes, (q.device_type for vc in found for q in vc.quotas)),
            devices=device_rows(nodes, found),
            **ns,
        )

    @web.authenticated
    @requires(ADMIN)
    async def get(self):
        await self.render_list()


class AdminVcFormHandler(AdminPage):
    """``new`` and ``<name>/edit``: one form, prefilled when editing."""

    tab = "vcs"

    async def render_form(
        self,
        vc: orm.Vc | None,
        form: VcForm,
        status: int = 200,
        error: DomainError | None = None,
        nodes: Sequence[Node] | None = None,
    ) -> None:
        if nodes is None:
            nodes = await self.ytung.nodes()
        found = vcs.all_vcs(self.db)
        own = {q.device_type: q.quota for q in vc.quotas} if vc is not None else {}
        types = self.form_types(nodes, vc)
        rows = [row for row in device_rows(nodes, found) if row["device_type"] in types]
        for row in rows:
            # what the quota may grow to: the unassigned devices plus what this VC has now
            row["own"] = own.get(row["device_type"], 0)
            row["max"] = row["own"] + row["unassigned"]
        self.render_admin(
            "admin_vc_form.html",
            status=status,
            vc=vc,
            form=form,
            devices=rows,
            message="",
            error=self.error_text(error) if error else "",
            blocking=self.blocking_workloads(error) if error else [],
        )

    def form_types(self, nodes: Sequence[Node], vc: orm.Vc | None) -> list[str]:
        return device_types(nodes, (q.device_type for q in vc.quotas) if vc else ())


class AdminVcNewHandler(AdminVcFormHandler):
    @web.authenticated
    @requires(ADMIN)
    async def get(self):
        await self.render_form(None, VcForm())

    @web.authenticated
    @requires(ADMIN)
    async def post(self):
        nodes = await self.ytung.nodes()
        form = VcForm.of_arguments(self.get_body_argument, self.form_types(nodes, None))
        try:
            body = form.body(self.form_types(nodes, None), self.t, creating=True)
            async with self.ytung.admission.lock:
                vc = vcs.create_vc(self.db, nodes, body)
                self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return await self.render_form(None, form, e.status, e, nodes)
        message = self.t("Created virtual cluster {name}", name=vc.name)
        self.redirect(self.admin_url("vcs", message=message))


class AdminVcEditHandler(AdminVcFormHandler):
    @web.authenticated
    @requires(ADMIN)
    async def get(self, name):
        vc = accounts.get_vc(self.db, name)
        await self.render_form(vc, VcForm.of_vc(vc))

    @web.authenticated
    @requires(ADMIN)
    async def post(self, name):
        vc = accounts.get_vc(self.db, name)
        nodes = await self.ytung.nodes()
        types = self.form_types(nodes, vc)
        form = VcForm.of_arguments(self.get_body_argument, types)
        form.name = vc.name
        try:
            body = form.body(types, self.t, creating=False)
            async with self.ytung.admission.lock:
                vcs.update_vc(self.db, nodes, vc, body)
                self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return await self.render_form(vc, form, e.status, e, nodes)
        # a VC that grew may admit queued work at once
        self.ytung.reconciler.wake()
        message = self.t("Saved virtual cluster {name}", name=name)
        self.redirect(self.admin_url("vcs", message=message))


class AdminVcDeleteHandler(AdminVcListHandler):
    @web.authenticated
    @requires(ADMIN)
    async def post(self, name):
        vc = accounts.get_vc(self.db, name)
        try:
            async with self.ytung.admission.lock:
                vcs.delete_vc(self.db, vc)
                self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return await self.render_list(
                e.status,
                message="",
                error=self.error_text(e),
                blocking=self.blocking_workloads(e),
            )
        message = self.t("Deleted virtual cluster {name}", name=name)
        self.redirect(self.admin_url("vcs", message=message))


class AdminVcMembersHandler(AdminPage):
    tab = "vcs"

    @web.authenticated
    @requires(ADMIN)
    async def get(self, name):
        vc = accounts.get_vc(self.db, name)
        members = sorted(vc.members, key=lambda m: m.user.name)
        present = {m.user.name for m in members}
        admitted = {g.group_name for g in vc.groups}
        self.render_admin(
            "admin_vc_members.html",
            vc=vc,
            members=members,
            candidates=[u for u in self.all_users() if u.name not in present],
            groups=vc.groups,
            group_candidates=[g for g in await self.hub_group_names() if g not in admitted],
        )

    @web.authenticated
    @requires(ADMIN)
    async def post(self, name):
        """Add a user (``user``) or admit a JupyterHub group (``group``)."""
        vc = accounts.get_vc(self.db, name)
        username = self.get_body_argument("user", "").strip()
        group = self.get_body_argument("group", "").strip()
        try:
            if group:
                if group not in await self.hub_group_names():
                    raise DomainError(404, "No such group: {name}", name=group)
                accounts.add_group(self.db, vc, group)
                message = self.t("Admitted group {group} to {vc}", group=group, vc=name)
            else:
                accounts.add_member(self.db, vc, username)
                message = self.t("Added {user} to {vc}", user=username, vc=name)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.redirect(self.admin_url("vcs", name, "members", error=self.error_text(e)))
        self.redirect(self.admin_url("vcs", name, "members", message=message))

    async def hub_group_names(self) -> list[str]:
        hub = self.ytung.reconciler.hub
        if not hub.configured:
            return []
        return sorted(g["name"] for g in await hub.request("GET", "groups") or [])


class AdminVcGroupRemoveHandler(AdminPage):
    @web.authenticated
    @requires(ADMIN)
    async def post(self, name, group):
        vc = accounts.get_vc(self.db, name)
        try:
            accounts.remove_group(self.db, vc, group)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.redirect(self.admin_url("vcs", name, "members", error=self.error_text(e)))
        message = self.t("Group {group} no longer admitted to {vc}", group=group, vc=name)
        self.redirect(self.admin_url("vcs", name, "members", message=message))


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
            return self.redirect(self.admin_url("vcs", name, "members", error=self.error_text(e)))
        message = self.t("Removed {user} from {vc}", user=user, vc=name)
        self.redirect(self.admin_url("vcs", name, "members", message=message))


class AdminVcMemberAdminHandler(AdminPage):
    """Make a member one of the VC's admins (``admin=1``) or a plain member (``admin=0``)."""

    @web.authenticated
    @requires(ADMIN)
    async def post(self, name, user):
        vc = accounts.get_vc(self.db, name)
        admin = self.get_body_argument("admin", "") == "1"
        try:
            vcs.set_vc_admin(self.db, vc, user, admin)
            self.db.commit()
        except DomainError as e:
            self.db.rollback()
            return self.redirect(self.admin_url("vcs", name, "members", error=self.error_text(e)))
        if admin:
            message = self.t("{user} is now an admin of {vc}", user=user, vc=name)
        else:
            message = self.t("{user} is no longer an admin of {vc}", user=user, vc=name)
        self.redirect(self.admin_url("vcs", name, "members", message=message))


class ReviewerPage(AdminPage):
    """A page System Admins and VC admins may open (VC admins: for their VCs only)."""

    def reviewer_vcs(self) -> list[str] | None:
        """None for a System Admin (every VC); else the VCs the caller administers (403 if none)."""
        if self.is_admin:
            return None
        administered = vcs.administered_vcs(self.platform_user)
        if not administered:
            raise web.HTTPError(
                403,
                self.t("You lack the permission {permission} for this action", permission=ADMIN),
            )
        return administered


class AdminWorkloadsHandler(ReviewerPage):
    """Every user's live workloads (SPEC W2, in part): filter, stop, give more time (V4);
    approve or reject the unapproved ones (a VC's admins: only those of their VCs)."""

    tab = "workloads"

    @web.authenticated
    @requires(USE)
    async def get(self):
        allowed = self.reviewer_vcs()
        status = self.get_argument("status", "live")
        vc_name = self.get_argument("vc", "")
        kind = self.get_argument("kind", "")
        keyword = self.get_argument("q", "").strip()
        query = select(orm.Workload).order_by(orm.Workload.id.desc())
        if kind:
            query = query.where(orm.Workload.kind == kind)
        if status == "live":
            query = query.where(orm.Workload.status.in_(orm.LIVE_STATUSES))
        elif status:
            query = query.where(orm.Workload.status == status)
        if vc_name:
            query = query.where(orm.Workload.vc == vc_name)
        if allowed is not None:
            query = query.where(orm.Workload.vc.in_(allowed))
        if keyword:
            like = f"%{keyword}%"
            query = query.where(orm.Workload.name.ilike(like) | orm.Workload.owner.ilike(like))
        admission = self.ytung.admission
        by_vc = {
            vc.name: vc for vc in vcs.all_vcs(self.db) if allowed is None or vc.name in allowed
        }
        rows = [
            workload_model(w, self.t, by_vc.get(w.vc), admission.clock())
            for w in self.db.scalars(query.limit(500))
        ]
        self.render_admin(
            "admin_workloads.html",
            workloads=rows,
            statuses=["live", *orm.LIVE_STATUSES, *orm.TERMINAL_STATUSES],
            vc_names=sorted(by_vc),
            kinds=KIND_LABELS,
            filters={"status": status, "vc": vc_name, "kind": kind, "q": keyword},
            waiting=self.waiting_count(allowed),
        )

    def waiting_count(self, allowed: list[str] | None) -> int:
        """How many workloads wait for the caller's approval (shown on the tab's filter)."""
        query = select(orm.Workload.id).where(orm.Workload.status == orm.UNAPPROVED)
        if allowed is not None:
            query = query.where(orm.Workload.vc.in_(allowed))
        return len(self.db.scalars(query).all())


class AdminWorkloadActionHandler(ReviewerPage):
    @web.authenticated
    @requires(USE)
    async def post(self, workload_id, action):
        wid = int(workload_id)
        self.reviewer_vcs()
        try:
            admission = self.ytung.admission
            if action in ("approve", "reject"):
                by = self.platform_user.name if self.platform_user else ""
                if action == "approve":
                    effects = await admission.approve(wid, self.platform_user, self.is_admin, by)
                    await self.ytung.reconciler.apply(effects)
                    message = self.t("Approved workload {id}", id=wid)
                else:
                    reason = self.get_body_argument("reason", "")
                    await admission.reject(wid, self.platform_user, self.is_admin, by, reason)
                    message = self.t("Rejected workload {id}", id=wid)
            elif not self.is_admin:
                raise DomainError(
                    403, "You lack the permission {permission} for this action", permission=ADMIN
                )
            elif action == "stop":
                await self.ytung.reconciler.stop_workload(wid)
                message = self.t("Stopped workload {id}", id=wid)
            else:
                hours = _number(self.get_body_argument("hours", ""))
                if not isinstance(hours, int | float) or not 0 < hours <= 8760:
                    raise DomainError(400, "'hours' must be a number between 0 and 8760")
                await self.ytung.admission.extend(wid, float(hours))
                message = self.t("Gave workload {id} {hours} more hours", id=wid, hours=hours)
        except DomainError as e:
            return self.redirect(self.admin_url("workloads", error=self.error_text(e)))
        self.redirect(self.admin_url("workloads", message=message))


default_handlers = [
    (r"/admin/?", AdminHomeHandler),
    (r"/admin/members", AdminMemberShortcutHandler),
    (r"/admin/users", AdminUsersHandler),
    (r"/admin/workloads", AdminWorkloadsHandler),
    (
        r"/admin/workloads/(?P<workload_id>[0-9]+)/(?P<action>stop|extend|approve|reject)",
        AdminWorkloadActionHandler,
    ),
    (r"/admin/vcs/?", AdminVcListHandler),
    (r"/admin/vcs/new", AdminVcNewHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/edit", AdminVcEditHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/delete", AdminVcDeleteHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/members", AdminVcMembersHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/members/(?P<user>[^/]+)/remove", AdminVcMemberRemoveHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/members/(?P<user>[^/]+)/admin", AdminVcMemberAdminHandler),
    (r"/admin/vcs/(?P<name>[^/]+)/groups/(?P<group>[^/]+)/remove", AdminVcGroupRemoveHandler),
]
