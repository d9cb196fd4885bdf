"""Virtual clusters: create, edit, delete with quotas checked against the cluster (SPEC V1, V4).

Quotas of all VCs together never exceed what the cluster has. A VC with live workloads
(unapproved, queued or holding devices) may grow but not shrink, and cannot be deleted: the
refusal (409) names the workloads in the way.

A VC may need approval (``approval_required``): a workload of a member who is neither a
System Admin nor one of the VC's admins (members marked ``admin``) waits as ``unapproved``
until an admin approves or rejects it (see :mod:`ytung_service.admission`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import orm
from .errors import DomainError
from .scheduling import DEVICE_TYPES, Node, VirtualCluster, capacity

VC_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_HOURS_LIMIT = 24 * 365


def to_scheduling(vc: orm.Vc) -> VirtualCluster:
    return VirtualCluster(
        vc.name,
        quota={q.device_type: q.quota for q in vc.quotas},
        user_max={q.device_type: q.user_max for q in vc.quotas if q.user_max is not None},
        max_hours=vc.max_hours,
    )


def all_vcs(session: Session) -> list[orm.Vc]:
    return list(session.scalars(select(orm.Vc).order_by(orm.Vc.name)))


def live_workloads(session: Session, vc_name: str) -> list[orm.Workload]:
    return list(
        session.scalars(
            select(orm.Workload)
            .where(orm.Workload.vc == vc_name, orm.Workload.status.in_(orm.LIVE_STATUSES))
            .order_by(orm.Workload.id)
        )
    )


def _busy_error(message: str, vc: str, blocking: Sequence[orm.Workload]) -> DomainError:
    names = ", ".join(f"{w.kind}-{w.id} ({w.owner}, {w.status})" for w in blocking[:20])
    err = DomainError(409, message, vc=vc, workloads=names)
    err.extra = {
        "workloads": [{"id": w.id, "owner": w.owner, "status": w.status} for w in blocking]
    }
    return err


def _int(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise DomainError(400, "{what} must be a whole number; got {value}", what=what, value=value)
    if value < minimum or value > 1_000_000:
        raise DomainError(400, "{what} is out of range; got {value}", what=what, value=value)
    return int(value)


def parse_spec(body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate a VC body: name, description, quota {type: n}, user_max {type: n|null}, max_hours."""
    spec: dict[str, Any] = {}
    if creating:
        name = body.get("name")
        if not isinstance(name, str) or not VC_NAME_RE.match(name):
            raise DomainError(
                400,
                "A VC name is 1-64 characters: lowercase letters, digits, '-' or '_'; got {name}",
                name=name,
            )
        spec["name"] = name
    if "description" in body:
        if not isinstance(body["description"], str) or len(body["description"]) > 1000:
            raise DomainError(400, "The description must be text of at most 1000 characters")
        spec["description"] = body["description"]
    for key in ("quota", "user_max"):
        if key not in body:
            continue
        value = body[key] or {}
        if not isinstance(value, Mapping):
            raise DomainError(400, "'{key}' must map device types to counts", key=key)
        parsed = {}
        for device_type, count in value.items():
            if device_type not in DEVICE_TYPES:
                raise DomainError(
                    400,
                    "Unknown device type '{device_type}'; use one of {allowed}",
                    device_type=device_type,
                    allowed=", ".join(DEVICE_TYPES),
                )
            if key == "user_max" and count is None:
                parsed[device_type] = None
                continue
            parsed[device_type] = _int(
                count, f"{key}[{device_type}]", 1 if key == "user_max" else 0
            )
        spec[key] = parsed
    if "max_hours" in body:
        hours = body["max_hours"]
        if hours is not None:
            if (
                isinstance(hours, bool)
                or not isinstance(hours, int | float)
                or not math.isfinite(hours)
            ):
                raise DomainError(400, "max_hours must be a number of hours or null (unlimited)")
            if not 0 < hours <= MAX_HOURS_LIMIT:
                raise DomainError(
                    400,
                    "max_hours must be between 0 and {limit}; got {value}",
                    limit=MAX_HOURS_LIMIT,
                    value=hours,
                )
        spec["max_hours"] = hours
    if "approval_required" in body:
        if not isinstance(body["approval_required"], bool):
            raise DomainError(400, "'{key}' must be true or false", key="approval_required")
        spec["approval_required"] = body["approval_required"]
    return spec


def _check_capacity(
    session: Session, nodes: Sequence[Node], name: str, quota: Mapping[str, int]
) -> None:
    have = capacity(nodes)
    others: dict[str, int] = {}
    for vc in all_vcs(session):
        if vc.name == name:
            continue
        for q in vc.quotas:
            others[q.device_type] = others.get(q.device_type, 0) + q.quota
    for device_type, count in quota.items():
        free = have.get(device_type, 0) - others.get(device_type, 0)
        if count > free:
            raise DomainError(
                400,
                "The cluster has {free} unassigned {device_type}; a quota of {count} does not fit",
                free=max(0, free),
                device_type=device_type,
                count=count,
            )


def _check_caps(quota: Mapping[str, int], user_max: Mapping[str, int | None]) -> None:
    for device_type, cap in user_max.items():
        if cap is not None and cap > quota.get(device_type, 0):
            raise DomainError(
                400,
                "The per-user maximum of {device_type} ({cap}) exceeds the VC's quota ({quota})",
                device_type=device_type,
                cap=cap,
                quota=quota.get(device_type, 0),
            )


def _apply(vc: orm.Vc, quota: Mapping[str, int], user_max: Mapping[str, int | None]) -> None:
    """Make ``vc``'s quota rows say exactly ``quota`` and ``user_max`` (None: no cap)."""
    rows = {q.device_type: q for q in vc.quotas}
    for device_type in set(quota) | set(user_max) | set(rows):
        count, cap = quota.get(device_type, 0), user_max.get(device_type)
        row = rows.get(device_type)
        if count == 0 and cap is None:
            if row is not None:
                vc.quotas.remove(row)
        elif row is None:
            vc.quotas.append(orm.VcQuota(device_type=device_type, quota=count, user_max=cap))
        else:
            row.quota, row.user_max = count, cap


def create_vc(session: Session, nodes: Sequence[Node], body: Mapping[str, Any]) -> orm.Vc:
    spec = parse_spec(body, creating=True)
    if orm.Vc.find(session, spec["name"]) is not None:
        raise DomainError(409, "A virtual cluster named {name} already exists", name=spec["name"])
    quota, user_max = spec.get("quota", {}), spec.get("user_max", {})
    _check_caps(quota, user_max)
    _check_capacity(session, nodes, spec["name"], quota)
    vc = orm.Vc(
        name=spec["name"],
        description=spec.get("description", ""),
        max_hours=spec.get("max_hours"),
        approval_required=spec.get("approval_required", False),
    )
    _apply(vc, quota, user_max)
    session.add(vc)
    session.flush()
    return vc


def _shrinks(old: VirtualCluster, spec: Mapping[str, Any]) -> bool:
    for device_type, count in spec.get("quota", {}).items():
        if count < old.quota_of(device_type):
            return True
    for device_type, cap in spec.get("user_max", {}).items():
        before = old.cap_of(device_type)
        if cap is not None and (before is None or cap < before):
            return True
    if "max_hours" in spec:
        hours = spec["max_hours"]
        if hours is not None and (old.max_hours is None or hours < old.max_hours):
            return True
    return False


def update_vc(
    session: Session, nodes: Sequence[Node], vc: orm.Vc, body: Mapping[str, Any]
) -> orm.Vc:
    spec = parse_spec(body, creating=False)
    old = to_scheduling(vc)
    if _shrinks(old, spec):
        blocking = live_workloads(session, vc.name)
        if blocking:
            raise _busy_error(
                "VC {vc} cannot shrink while it has live workloads: {workloads}", vc.name, blocking
            )
    quota = {**old.quota, **spec.get("quota", {})}
    user_max: dict[str, int | None] = {**old.user_max, **spec.get("user_max", {})}
    _check_caps(quota, user_max)
    _check_capacity(session, nodes, vc.name, quota)
    if "description" in spec:
        vc.description = spec["description"]
    if "max_hours" in spec:
        vc.max_hours = spec["max_hours"]
    if "approval_required" in spec:
        # workloads already waiting stay unapproved until reviewed (an admin decides them)
        vc.approval_required = spec["approval_required"]
    _apply(vc, quota, user_max)
    session.flush()
    return vc


def delete_vc(session: Session, vc: orm.Vc) -> None:
    blocking = live_workloads(session, vc.name)
    if blocking:
        raise _busy_error(
            "VC {vc} cannot be deleted while it has live workloads: {workloads}", vc.name, blocking
        )
    for user in session.scalars(select(orm.User).where(orm.User.current_vc == vc.name)):
        user.current_vc = None
    session.delete(vc)
    session.flush()


def usage(session: Session, vc_name: str) -> dict[str, dict[str, int]]:
    """Per device type: devices held (``used``) and devices requested by queued work (``queued``)."""
    out: dict[str, dict[str, int]] = {}
    for w in session.scalars(
        select(orm.Workload).where(
            orm.Workload.vc == vc_name, orm.Workload.status.in_(orm.LIVE_STATUSES)
        )
    ):
        if not w.device_type or w.status == orm.UNAPPROVED:
            continue  # CPU-only, or not in the queue yet
        entry = out.setdefault(w.device_type, {"used": 0, "queued": 0})
        if w.status == orm.QUEUED:
            entry["queued"] += w.nodes * w.devices_per_node
        else:
            entry["used"] += len(w.devices)
    return out


def vc_model(session: Session, vc: orm.Vc, t=lambda s, **k: s.format(**k)) -> dict[str, Any]:
    used = usage(session, vc.name)
    return {
        "name": vc.name,
        "description": t(vc.description) if vc.description else "",
        "created": vc.created.isoformat() + "Z" if vc.created else None,
        "quota": {q.device_type: q.quota for q in vc.quotas},
        "user_max": {q.device_type: q.user_max for q in vc.quotas if q.user_max is not None},
        "max_hours": vc.max_hours,
        "approval_required": bool(vc.approval_required),
        "admins": admin_names(vc),
        "usage": used,
        "members": len(vc.members),
    }


# -- VC admins (approve the VC's workloads) --------------------------------------------------
def admin_names(vc: orm.Vc) -> list[str]:
    return sorted(m.user.name for m in vc.members if m.admin)


def is_vc_admin(user: orm.User | None, vc: orm.Vc | None) -> bool:
    """Is ``user`` one of ``vc``'s admins (a direct member marked ``admin``)?"""
    if user is None or vc is None:
        return False
    return any(m.admin and m.vc_id == vc.id for m in user.vc_memberships)


def administered_vcs(user: orm.User | None) -> list[str]:
    """The names of the VCs ``user`` is an admin of."""
    if user is None:
        return []
    return sorted(m.vc.name for m in user.vc_memberships if m.admin)


def set_vc_admin(session: Session, vc: orm.Vc, username: str, admin: bool) -> orm.VcMember:
    """Make a member of ``vc`` one of its admins, or a plain member again."""
    if not isinstance(admin, bool):
        raise DomainError(400, "'{key}' must be true or false", key="admin")
    user = orm.User.find(session, username)
    member = orm.VcMember.find(session, vc, user) if user is not None else None
    if member is None:
        raise DomainError(404, "{user} is not a member of {vc}", user=username, vc=vc.name)
    member.admin = admin
    session.flush()
    return member
