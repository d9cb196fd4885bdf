"""The single writer of allocations: submit, schedule, release (SPEC V3, V4, V9, X1–X3).

Approval (the manual's 未批准): in a VC that needs it, a workload of an owner who is neither a
System Admin nor an admin of that VC starts ``unapproved``: outside the queue, holding no
quota. Approving puts it in the queue; its place counts from the approval (``approved_at`` is
the scheduler's submit time), so work queued meanwhile is not overtaken by a request nobody
could see, and a long wait for approval does not earn it a starvation reservation. Rejecting
closes it with the admin's reason, which the owner sees.

Every decision runs in this process, under one asyncio lock, inside one database
transaction; ``device_allocations`` has a unique (node, device) constraint on top, so a device
can never be held twice. The pure :mod:`ytung_service.scheduling` decides; this module reads
the state from the database, applies the decision, and says which servers to start or stop.

Estimated starts (X1) cost several passes, so no pass computes them: :meth:`Admission.estimate`
does, from the reconciler's periodic pass, at most every ``estimate_interval`` seconds, on a
snapshot in a worker thread, outside the lock. Passes keep the estimates stored with the queued
workloads; one queued since the last estimate shows none ("not estimated yet") until the next.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import orm
from .errors import DomainError
from .i18n import N_
from .permissions import ADMIN
from .scheduling import (
    Admit,
    Allocation,
    ClusterState,
    Estimate,
    Node,
    Policy,
    Queue,
    Workload,
    estimate_starts,
    fingerprint,
    never_fits,
    overdue,
    schedule,
    time_left,
)
from .vcs import all_vcs, is_vc_admin, to_scheduling

KINDS = ("devenv", "training", "evaluation", "inference", "conversion")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
TIME_LIMIT = {
    "code": "time_limit",
    "message": N_("Stopped: the VC's maximum run time of {hours} h is over"),
}
UNAPPROVED_REASON = {
    "code": "unapproved",
    "message": N_("Waiting for approval by an admin of {vc}"),
}
#: longest reason an admin may give when rejecting
REJECT_REASON_LIMIT = 1000


@dataclass
class Effects:
    """What the caller must do on the hub after a pass: start or stop servers."""

    start: list[int] = field(default_factory=list)
    stop: list[int] = field(default_factory=list)


def reason_dict(reason) -> dict[str, Any]:
    return {"code": reason.code, "message": reason.message, "params": dict(reason.params)}


def estimate_dict(estimate: Estimate | None) -> dict[str, Any] | None:
    """What a queued workload's reason keeps of its estimated start (X1): the time (seconds) or
    None, and why (translated when shown)."""
    if estimate is None:
        return None
    return {"start": estimate.start, **reason_dict(estimate.reason)}


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def allocation_of(w: orm.Workload) -> Allocation:
    return Allocation(
        str(w.id),
        w.owner,
        w.vc,
        w.device_type,
        w.placement,
        preemptible=w.preemptible,
        start_time=w.admitted_at or w.submit_time,
        stopping=w.status == orm.STOPPING,
        deadline=w.deadline,
        # what a preempted workload queues as again (estimates follow it, V9)
        requeue=w.status == orm.STOPPING and bool(w.requeue),
        priority=w.priority,
        queued_since=w.approved_at or w.submit_time,
    )


def request_of(w: orm.Workload) -> Workload:
    """The scheduler's view of a request (``new`` as the id of one not saved yet)."""
    return Workload(
        str(w.id) if w.id is not None else "new",
        w.owner,
        w.vc,
        w.device_type,
        w.nodes,
        w.devices_per_node,
        w.priority,
        w.preemptible,
        # an approved workload queues from its approval (see the module's docstring)
        w.approved_at or w.submit_time,
    )


def _whole(value: Any, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(400, "{what} must be a whole number; got {value}", what=what, value=value)
    return value


class Admission:
    """The scheduler of the service: state in the database, decisions in the pure core.

    ``estimate_interval``: the fewest seconds between two estimates of the queue (X1, see the
    module's docstring); ``preview_passes``: the simulation budget of the form's preview, which
    estimates one request on each request of the form (``Policy.estimate_passes``)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        nodes: Callable[[], Awaitable[Sequence[Node]]],
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
        estimate_interval: float = 30.0,
        preview_passes: int = 4,
    ):
        if estimate_interval < 0:
            raise ValueError(f"estimate_interval must be >= 0; got {estimate_interval}")
        if preview_passes < 1:
            raise ValueError(f"preview_passes must be >= 1; got {preview_passes}")
        self.sessions = sessions
        self.nodes = nodes
        self.policy = policy or Policy()
        self.clock = clock
        self.lock = asyncio.Lock()
        self.estimate_interval = estimate_interval
        self.preview_policy = replace(self.policy, estimate_passes=preview_passes)
        #: when the queue was last estimated (the clock's seconds), and what from (fingerprint)
        self.estimated_at: float | None = None
        self._estimated_from: bytes | None = None

    # -- submit ----------------------------------------------------------------------------
    def parse(
        self,
        session: Session,
        user: orm.User | None,
        body: dict[str, Any],
        trusted: bool,
        admin: bool,
    ) -> orm.Workload:
        """A new (unsaved) workload from a request body; every refusal is a DomainError."""
        owner_name = body.get("owner") if trusted and body.get("owner") else None
        if owner_name is None and user is None:
            raise DomainError(400, "'owner' is required")
        owner = orm.User.find(session, owner_name) if owner_name else user
        if owner is None:
            raise DomainError(404, "No such user: {name}", name=owner_name)
        kind = body.get("kind", "devenv")
        if kind not in KINDS:
            raise DomainError(
                400,
                "Unknown workload kind '{kind}'; use one of {allowed}",
                kind=kind,
                allowed=", ".join(KINDS),
            )
        name = body.get("name") or kind
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise DomainError(
                400,
                "A workload name is 1-128 letters, digits, '_', '-' or '.'; got {name}",
                name=name,
            )
        vc_name = body.get("vc") or owner.current_vc or (owner.vcs[0].name if owner.vcs else None)
        if not vc_name:
            raise DomainError(
                403, "You have no access yet: ask an administrator to add you to a virtual cluster"
            )
        vc = orm.Vc.find(session, vc_name)
        if vc is None:
            raise DomainError(404, "No such virtual cluster: {name}", name=vc_name)
        if vc not in owner.vcs:
            raise DomainError(403, "{user} is not a member of {vc}", user=owner.name, vc=vc_name)
        device_type = body.get("device_type") or None
        per_node = _whole(body.get("devices_per_node"), "devices_per_node", 0)
        nodes = _whole(body.get("nodes"), "nodes", 1)
        priority = _whole(body.get("priority"), "priority", 0)
        if priority and not admin:
            raise DomainError(403, "Only administrators may set a priority")
        preemptible = body.get("preemptible", False)
        if not isinstance(preemptible, bool):
            raise DomainError(400, "'preemptible' must be true or false")
        if per_node == 0:
            device_type = None
        unapproved = vc.approval_required and not (
            admin or ADMIN in owner.permissions or is_vc_admin(owner, vc)
        )
        return orm.Workload(
            kind=kind,
            name=name,
            owner=owner.name,
            vc=vc.name,
            device_type=device_type,
            nodes=nodes,
            devices_per_node=per_node,
            priority=priority,
            preemptible=preemptible,
            status=orm.UNAPPROVED if unapproved else orm.QUEUED,
            reason={**UNAPPROVED_REASON, "params": {"vc": vc.name}} if unapproved else None,
            origin="hub" if trusted and body.get("origin") == "hub" else "service",
            server_name=body.get("server_name", "") if trusted else "",
            user_options=body.get("user_options") or {},
            submit_time=self.clock(),
        )

    def _checked(
        self,
        session: Session,
        nodes: Sequence[Node],
        user: orm.User | None,
        body: dict[str, Any],
        trusted: bool,
        admin: bool,
    ) -> orm.Workload:
        """``parse`` in this session, then refuse at once what can never fit (400)."""
        if user is not None:
            user = session.get(orm.User, user.id)
        workload = self.parse(session, user, body, trusted, admin)
        vc = orm.Vc.find(session, workload.vc)
        problem = never_fits(request_of(workload), nodes, to_scheduling(vc))
        if problem is not None:
            raise DomainError(400, problem.message, **problem.params)
        return workload

    async def submit(
        self,
        body: dict[str, Any],
        user: orm.User | None,
        trusted: bool = False,
        admin: bool = False,
    ) -> tuple[int, Effects]:
        """Validate, refuse what can never fit (400), queue, and run a pass at once."""
        nodes = await self.nodes()
        async with self.lock:
            with self.sessions() as session:
                workload = self._checked(session, nodes, user, body, trusted, admin)
                if trusted and "server_name" in body:
                    clash = session.scalar(
                        select(orm.Workload).where(
                            orm.Workload.owner == workload.owner,
                            orm.Workload.server_name == workload.server_name,
                            orm.Workload.status.in_(orm.LIVE_STATUSES),
                        )
                    )
                    if clash is not None:
                        # the same server asked again (a retried spawn): keep the first request
                        return clash.id, Effects()
                session.add(workload)
                session.flush()
                named = trusted and "server_name" in body  # "" is the default server
                if not named and workload.origin == "service":
                    workload.server_name = f"{workload.kind}-{workload.id}"
                effects = self._pass(session, nodes)
                session.commit()
                return workload.id, effects

    async def preview(
        self,
        body: dict[str, Any],
        user: orm.User | None,
        trusted: bool = False,
        admin: bool = False,
    ) -> dict[str, Any]:
        """What submitting ``body`` now would do (X1: the form warns "this will queue")."""
        nodes = await self.nodes()
        with self.sessions() as session:
            workload = self._checked(session, nodes, user, body, trusted, admin)
            if workload.status == orm.UNAPPROVED:
                return {"would": "approval", "reason": dict(workload.reason)}
            state = self._state(session, nodes)
            request = request_of(workload)
        # pure work off the event loop; a small budget (preview_passes): it runs for each form
        action, found = await asyncio.to_thread(self._preview, state, request, self.clock())
        if isinstance(action, Queue):
            assert found is not None
            return {
                "would": "queue",
                "position": action.position,
                "ahead": action.ahead,
                "reason": reason_dict(action.reason),
                #: X1: "no later than" (ISO time), or None with the reason why it is unknown
                "estimated_start": iso(found.start),
                "estimate_reason": reason_dict(found.reason),
            }
        return {"would": "start", "placement": {n: list(i) for n, i in action.placement.items()}}

    def _preview(
        self, state: ClusterState, request: Workload, now: float
    ) -> tuple[Admit | Queue, Estimate | None]:
        """(In a worker thread) what a pass would do with *request* (:func:`~.scheduling.preview`)
        and, when it would queue, its estimate, which starts from that same pass."""
        with_it = replace(state, queue=[*state.queue, request])
        decision = schedule(with_it, now, self.policy)
        action = decision.action_for(request.id)
        if not isinstance(action, Queue):
            return action, None
        found = estimate_starts(
            with_it, now, self.preview_policy, targets=[request.id], first=decision
        )
        return action, found[request.id]

    def _state(self, session: Session, nodes: Sequence[Node]) -> ClusterState:
        vcs = [to_scheduling(vc) for vc in all_vcs(session)]
        active = session.scalars(
            select(orm.Workload).where(orm.Workload.status.in_(orm.ACTIVE_STATUSES))
        )
        queued = session.scalars(select(orm.Workload).where(orm.Workload.status == orm.QUEUED))
        return ClusterState(
            nodes, vcs, [allocation_of(w) for w in active], [request_of(w) for w in queued]
        )

    # -- the pass --------------------------------------------------------------------------
    async def run_pass(self) -> Effects:
        nodes = await self.nodes()
        async with self.lock:
            with self.sessions() as session:
                effects = self._pass(session, nodes)
                session.commit()
                return effects

    def _pass(self, session: Session, nodes: Sequence[Node]) -> Effects:
        now = self.clock()
        effects = Effects()
        vcs = [to_scheduling(vc) for vc in all_vcs(session)]
        by_name = {vc.name: vc for vc in vcs}
        active = list(
            session.scalars(
                select(orm.Workload).where(orm.Workload.status.in_(orm.ACTIVE_STATUSES))
            )
        )
        queued = list(
            session.scalars(select(orm.Workload).where(orm.Workload.status == orm.QUEUED))
        )
        by_id = {str(w.id): w for w in (*active, *queued)}
        # V4: time limits first, so that what they free is scheduled in this pass
        for wid in overdue([allocation_of(w) for w in active], by_name, now):
            w = by_id[wid]
            w.status = orm.STOPPING
            hours = by_name[w.vc].max_hours if w.vc in by_name else None
            w.reason = {**TIME_LIMIT, "params": {"hours": hours}}
            effects.stop.append(w.id)
        state = ClusterState(
            nodes, vcs, [allocation_of(w) for w in active], [request_of(w) for w in queued]
        )
        decision = schedule(state, now, self.policy)
        for preempt in decision.preempted:
            for victim in preempt.victims:
                w = by_id[victim]
                w.status, w.requeue, w.reason = orm.STOPPING, True, reason_dict(preempt.reason)
                effects.stop.append(w.id)
        for admit in decision.admitted:
            w = by_id[admit.workload_id]
            w.status, w.admitted_at = orm.SCHEDULING, now
            w.reason = w.position = w.ahead = None
            for node, ids in admit.placement.items():
                for device_id in ids:
                    w.devices.append(
                        orm.DeviceAllocation(
                            node=node, device_type=w.device_type, device_id=device_id
                        )
                    )
            if w.origin == "service":
                effects.start.append(w.id)
        for q in decision.queued:
            w = by_id[q.workload_id]
            w.position, w.ahead = q.position, q.ahead
            # X1: the last estimate stays until the next one (none yet: newly queued, requeued)
            kept = (w.reason or {}).get("estimate")
            w.reason = {**reason_dict(q.reason), "estimate": kept}
        session.flush()
        return effects

    # -- estimated starts (X1) ---------------------------------------------------------------
    async def estimate(self, force: bool = False) -> bool:
        """Estimate when each queued workload starts at the latest and store it with its reason.

        At most every ``estimate_interval`` seconds unless *force*; skipped when nothing it depends
        on changed since the last estimate. The snapshot is read and simulated in a worker thread,
        outside the lock; only storing the results takes the lock, and skips workloads that are no
        longer queued. Returns whether it stored new estimates."""
        now = self.clock()
        if (
            not force
            and self.estimated_at is not None
            and now - self.estimated_at < self.estimate_interval
        ):
            return False
        self.estimated_at = now
        nodes = await self.nodes()
        computed = await asyncio.to_thread(self._estimate, nodes, now, self._estimated_from)
        if computed is None:
            return False  # the same state as last time: its estimates stand
        estimates, source = computed
        async with self.lock:
            with self.sessions() as session:
                self._store(session, estimates)
                session.commit()
        self._estimated_from = source
        return True

    def _estimate(
        self, nodes: Sequence[Node], now: float, last: bytes | None
    ) -> tuple[dict[str, Estimate], bytes] | None:
        """(In a worker thread) the estimates of a snapshot and its fingerprint; None when the
        fingerprint is *last*."""
        with self.sessions() as session:
            state = self._state(session, nodes)
        source = fingerprint(state, now, self.policy)
        if source == last:
            return None
        return estimate_starts(state, now, self.policy), source

    def _store(self, session: Session, estimates: dict[str, Estimate]) -> None:
        queued = session.scalars(select(orm.Workload).where(orm.Workload.status == orm.QUEUED))
        for w in queued:
            found = estimates.get(str(w.id))
            if found is None or not w.reason:  # queued after the snapshot; the next estimate
                continue
            stored = estimate_dict(found)
            if w.reason.get("estimate") != stored:
                w.reason = {**w.reason, "estimate": stored}

    # -- lifecycle events ------------------------------------------------------------------
    async def release(
        self,
        workload_id: int,
        status: str = orm.CLOSED,
        reason: dict[str, Any] | None = None,
        expect: tuple[str, ...] | None = None,
    ) -> Effects:
        """The workload's server is gone: free its devices (requeue a preempted one), then a pass.

        ``expect``: release only if the workload is still in one of these statuses (a caller
        that decided on an older reading must not close what changed meanwhile)."""
        nodes = await self.nodes()
        async with self.lock:
            with self.sessions() as session:
                w = session.get(orm.Workload, workload_id)
                if w is None:
                    raise DomainError(404, "No such workload: {id}", id=workload_id)
                if expect is not None and w.status not in expect:
                    return Effects()
                if w.status not in orm.TERMINAL_STATUSES:
                    w.devices.clear()
                    if w.requeue and w.status == orm.STOPPING:
                        # preempted: back in the queue with its original submit time (V9)
                        w.status, w.requeue, w.admitted_at = orm.QUEUED, False, None
                        w.start_attempts, w.deadline = 0, None
                    else:
                        # why it was stopped (time limit, preemption) outlives how it ended
                        if reason is not None and not (w.status == orm.STOPPING and w.reason):
                            w.reason = reason
                        w.status, w.ended_at = status, self.clock()
                    session.flush()
                effects = self._pass(session, nodes)
                session.commit()
                return effects

    async def mark(
        self, workload_id: int, status: str, expect: tuple[str, ...], **fields: Any
    ) -> orm.Workload | None:
        """Set ``status`` (and ``fields``) if the workload is still in one of ``expect``;
        returns it, or None when it changed meanwhile (nothing is written then)."""
        async with self.lock:
            with self.sessions() as session:
                w = session.get(orm.Workload, workload_id)
                if w is None:
                    raise DomainError(404, "No such workload: {id}", id=workload_id)
                if w.status not in expect:
                    return None
                w.status = status
                for key, value in fields.items():
                    setattr(w, key, value)
                session.commit()
                return w

    async def stop(self, workload_id: int) -> tuple[orm.Workload, bool]:
        """A user's or admin's stop: a queued workload closes at once; an active one stops
        (the caller stops the server; its spawner reports back and frees the devices)."""
        async with self.lock:
            with self.sessions() as session:
                w = session.get(orm.Workload, workload_id)
                if w is None:
                    raise DomainError(404, "No such workload: {id}", id=workload_id)
                needs_stop = w.status in orm.ACTIVE_STATUSES
                if w.status in (orm.UNAPPROVED, orm.QUEUED):
                    # withdrawn: what it waited for ("waiting for approval…") is over
                    w.status, w.ended_at = orm.CLOSED, self.clock()
                    w.position = w.ahead = w.reason = None
                elif needs_stop:
                    w.status, w.requeue = orm.STOPPING, False
                session.commit()
                return w, needs_stop

    # -- approval ---------------------------------------------------------------------------
    def _reviewable(
        self, session: Session, workload_id: int, reviewer: orm.User | None, admin: bool
    ) -> orm.Workload:
        """The unapproved workload ``reviewer`` may decide: System Admins decide every one,
        a VC's admins those of their VC. Others get 404 (403 for their own workload)."""
        w = session.get(orm.Workload, workload_id)
        if reviewer is not None:
            reviewer = session.get(orm.User, reviewer.id)
        vc = orm.Vc.find(session, w.vc) if w is not None else None
        if w is None or not (admin or is_vc_admin(reviewer, vc)):
            if w is not None and reviewer is not None and w.owner == reviewer.name:
                raise DomainError(
                    403,
                    "Only a System Admin or an admin of {vc} may approve or reject this workload",
                    vc=w.vc,
                )
            raise DomainError(404, "No such workload: {id}", id=workload_id)
        if w.status != orm.UNAPPROVED:
            raise DomainError(
                409,
                "Only an unapproved workload can be approved or rejected; this one is {state}",
                state=w.status,
            )
        return w

    async def approve(
        self, workload_id: int, reviewer: orm.User | None, admin: bool, by: str
    ) -> Effects:
        """Unapproved → queued (from now on), then a pass: it may be admitted at once."""
        nodes = await self.nodes()
        async with self.lock:
            with self.sessions() as session:
                w = self._reviewable(session, workload_id, reviewer, admin)
                w.status, w.approved_at, w.reviewed_by, w.reason = (
                    orm.QUEUED,
                    self.clock(),
                    by,
                    None,
                )
                session.flush()
                effects = self._pass(session, nodes)
                session.commit()
                return effects

    async def reject(
        self, workload_id: int, reviewer: orm.User | None, admin: bool, by: str, reason: Any = ""
    ) -> orm.Workload:
        """Unapproved → closed, with the admin's reason for the owner to read."""
        if reason is None:
            reason = ""
        if not isinstance(reason, str) or len(reason.strip()) > REJECT_REASON_LIMIT:
            raise DomainError(
                400, "A reason is text of at most {limit} characters", limit=REJECT_REASON_LIMIT
            )
        reason = reason.strip()
        async with self.lock:
            with self.sessions() as session:
                w = self._reviewable(session, workload_id, reviewer, admin)
                w.status, w.ended_at, w.reviewed_by = orm.CLOSED, self.clock(), by
                if reason:
                    message = N_("Rejected by {admin}: {reason}")
                else:
                    message = N_("Rejected by {admin}")
                w.reason = {
                    "code": "rejected",
                    "message": message,
                    "params": {"admin": by, "reason": reason},
                }
                session.commit()
                return w

    async def extend(self, workload_id: int, hours: float) -> orm.Workload:
        """An admin gives a workload ``hours`` more run time (V4)."""
        async with self.lock:
            with self.sessions() as session:
                w = session.get(orm.Workload, workload_id)
                if w is None:
                    raise DomainError(404, "No such workload: {id}", id=workload_id)
                if w.status not in (orm.SCHEDULING, orm.RUNNING):
                    raise DomainError(
                        409,
                        "Only a running workload can get more time; this one is {state}",
                        state=w.status,
                    )
                vc = orm.Vc.find(session, w.vc)
                left = time_left(allocation_of(w), to_scheduling(vc) if vc else None, self.clock())
                if left is None:
                    raise DomainError(400, "This workload has no time limit to extend")
                w.deadline = self.clock() + left + hours * 3600.0
                session.commit()
                return w


def workload_model(w: orm.Workload, t, vc: orm.Vc | None, now: float) -> dict[str, Any]:
    """The JSON of a workload; ``t`` translates its reason into the reader's language."""
    reason = None
    if w.reason:
        reason = {
            "code": w.reason.get("code"),
            "text": t(w.reason["message"], **(w.reason.get("params") or {})),
        }
    left = None
    if w.status in orm.ACTIVE_STATUSES:
        left = time_left(allocation_of(w), to_scheduling(vc) if vc else None, now)
    queue = None
    if w.status == orm.QUEUED and reason:
        queue = {"position": w.position, "ahead": w.ahead, "reason": reason["text"]}
        queue.update(queue_estimate(w.reason.get("estimate"), t, now))
    return {
        "id": w.id,
        "kind": w.kind,
        "name": w.name,
        "owner": w.owner,
        "vc": w.vc,
        "device_type": w.device_type,
        "nodes": w.nodes,
        "devices_per_node": w.devices_per_node,
        "total_devices": w.nodes * w.devices_per_node,
        "priority": w.priority,
        "preemptible": w.preemptible,
        "status": w.status,
        #: X1: position, reason, and the estimated start ("no later than"; None = unknown)
        "queue": queue,
        "reason": reason,
        "placement": {node: list(ids) for node, ids in w.placement.items()},
        "server_name": w.server_name,
        "origin": w.origin,
        #: what the spawners read (e.g. ``{"devenv": {"code_dir", "image", "privileged"}}``)
        "user_options": dict(w.user_options or {}),
        "submitted": w.submit_time,
        "approved": w.approved_at,
        "reviewed_by": w.reviewed_by,
        "admitted": w.admitted_at,
        "started": w.started_at,
        "ended": w.ended_at,
        #: seconds (V4); None = unlimited ("--")
        "time_left": None if left is None else round(left),
    }


def queue_estimate(estimate: dict[str, Any] | None, t, now: float) -> dict[str, Any]:
    """``estimated_start`` (ISO time, never before *now*: the pass that estimated it may be a few
    seconds old) and the translated ``estimate_reason``; both None before a pass estimated it."""
    if not estimate:
        return {"estimated_start": None, "estimate_reason": None}
    start = estimate.get("start")
    return {
        "estimated_start": None if start is None else iso(max(float(start), now)),
        "estimate_reason": t(estimate["message"], **(estimate.get("params") or {})),
    }
