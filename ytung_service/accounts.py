"""Accounts and access: platform users mirrored from hub users, roles, VC membership.

The domain layer the handlers call. Functions take a SQLAlchemy session and raise
:class:`DomainError` with an HTTP status and an English message id (translated by handlers).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import orm
from .errors import DomainError
from .i18n import N_
from .passwords import hash_password, password_problem, verify_password
from .permissions import ADMIN, ADMIN_USERNAME, PRESET_ROLES, SYSTEM_ADMIN, USER


def ensure_user(session: Session, name: str, admin: bool = False) -> orm.User:
    """The platform user for hub user ``name``, created with its default role on first sight."""
    user = orm.User.find(session, name)
    if user is None:
        role = orm.Role.find(session, SYSTEM_ADMIN if admin else USER)
        user = orm.User(name=name, nickname=name, roles=[role] if role else [])
        session.add(user)
        session.flush()
    return user


def get_user(session: Session, name: str) -> orm.User:
    user = orm.User.find(session, name)
    if user is None:
        raise DomainError(404, "No such user: {name}", name=name)
    return user


def get_vc(session: Session, name: str) -> orm.Vc:
    vc = orm.Vc.find(session, name)
    if vc is None:
        raise DomainError(404, "No such virtual cluster: {name}", name=name)
    return vc


def permissions_of(user: orm.User, hub_admin: bool = False) -> set[str]:
    perms = user.permissions
    if hub_admin:
        perms |= set(PRESET_ROLES[SYSTEM_ADMIN][1])
    return perms


def _same(message: str, **params: Any) -> str:
    return message


def vc_model(vc: orm.Vc, t=_same) -> dict[str, Any]:
    description = t(vc.description) if vc.description else ""
    return {"name": vc.name, "description": description, "created": iso(vc.created)}


def user_model(user: orm.User, hub_admin: bool = False, t=_same) -> dict[str, Any]:
    """The JSON of a user; ``t`` translates role labels and descriptions for the reader."""
    perms = permissions_of(user, hub_admin)
    return {
        "name": user.name,
        "nickname": user.nickname,
        "phone": user.phone,
        "email": user.email,
        "admin": ADMIN in perms,
        "roles": [
            {"name": r.name, "label": t(r.name), "description": t(r.description)}
            for r in user.roles
        ],
        "permissions": sorted(perms),
        "vcs": [vc_model(vc, t) for vc in user.vcs],
        "created": iso(user.created),
    }


def access_model(user: orm.User) -> dict[str, Any]:
    """May ``user`` start workloads? Only as a member of at least one VC (SPEC A1)."""
    vcs = [vc.name for vc in user.vcs]
    return {
        "name": user.name,
        "allowed": bool(vcs),
        "vcs": vcs,
        "current_vc": user.current_vc if user.current_vc in vcs else (vcs[0] if vcs else None),
        "reason": None
        if vcs
        else N_("You have no access yet: ask an administrator to add you to a virtual cluster"),
    }


def add_member(session: Session, vc: orm.Vc, username: str) -> orm.VcMember:
    user = get_user(session, username)
    if orm.VcMember.find(session, vc, user) is not None:
        raise DomainError(409, "{user} is already a member of {vc}", user=username, vc=vc.name)
    member = orm.VcMember(vc=vc, user=user)
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, vc: orm.Vc, username: str) -> None:
    user = get_user(session, username)
    member = orm.VcMember.find(session, vc, user)
    if member is None:
        raise DomainError(404, "{user} is not a member of {vc}", user=username, vc=vc.name)
    session.delete(member)
    session.flush()


def add_group(session: Session, vc: orm.Vc, group: str) -> orm.VcGroup:
    """Admit a hub group to ``vc`` (the caller checks that the group exists in the hub)."""
    if orm.VcGroup.find(session, vc, group) is not None:
        raise DomainError(409, "Group {group} is already admitted to {vc}", group=group, vc=vc.name)
    row = orm.VcGroup(vc=vc, group_name=group)
    session.add(row)
    session.flush()
    return row


def remove_group(session: Session, vc: orm.Vc, group: str) -> None:
    row = orm.VcGroup.find(session, vc, group)
    if row is None:
        raise DomainError(404, "Group {group} is not admitted to {vc}", group=group, vc=vc.name)
    session.delete(row)
    session.flush()


def members_model(vc: orm.Vc) -> list[dict[str, Any]]:
    users = [
        {"kind": "user", "user": m.user.name, "nickname": m.user.nickname, "added": iso(m.added)}
        for m in sorted(vc.members, key=lambda m: m.user.name)
    ]
    groups = [{"kind": "group", "group": g.group_name, "added": iso(g.added)} for g in vc.groups]
    return users + groups


def change_password(session: Session, user: orm.User, old: str, new: str) -> None:
    if not verify_password(old, user.password_hash):
        raise DomainError(400, "The current password is wrong")
    problem = password_problem(new, user.name)
    if problem:
        raise DomainError(400, problem)
    user.password_hash = hash_password(new)
    session.flush()


def delete_user(session: Session, username: str) -> None:
    if username == ADMIN_USERNAME:
        raise DomainError(409, "The preset admin account cannot be deleted")
    session.delete(get_user(session, username))
    session.flush()


def set_roles(session: Session, username: str, role_names: list[str]) -> orm.User:
    if username == ADMIN_USERNAME:
        raise DomainError(409, "The role of the preset admin account cannot be changed")
    user = get_user(session, username)
    roles = []
    for name in role_names:
        role = orm.Role.find(session, name)
        if role is None:
            raise DomainError(404, "No such role: {name}", name=name)
        roles.append(role)
    if not roles:
        raise DomainError(400, "A user needs at least one role")
    user.roles = roles
    session.flush()
    return user


def counts(session: Session) -> dict[str, int]:
    return {
        "users": session.scalar(select(func.count()).select_from(orm.User)) or 0,
        "roles": session.scalar(select(func.count()).select_from(orm.Role)) or 0,
        "vcs": session.scalar(select(func.count()).select_from(orm.Vc)) or 0,
    }


def iso(dt) -> str | None:
    return dt.isoformat() + "Z" if dt else None


def create_account(session: Session, name: str, nickname: str, password: str) -> orm.User:
    """Sign-up (SPEC A1): a new user with the ``User`` role and no VC yet."""
    from sqlalchemy.exc import IntegrityError

    from .passwords import nickname_problem, username_problem

    problem = (
        username_problem(name) or nickname_problem(nickname) or password_problem(password, name)
    )
    if problem:
        raise DomainError(400, problem)
    if orm.User.find(session, name) is not None:
        raise DomainError(409, "The username {name} is already taken", name=name)
    user = orm.User(
        name=name,
        nickname=nickname.strip(),
        password_hash=hash_password(password),
        roles=[orm.Role.find(session, USER)],
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise DomainError(409, "The username {name} is already taken", name=name) from None
    return user
