"""First-start state: schema, preset roles, the ``admin`` account and the ``default`` VC.

:func:`prepare_database` is idempotent; the hub config calls it before the hub starts (so the
generated admin password is printed once, in the hub's log) and the service calls it again at
its own start.
"""

from __future__ import annotations

import os

from sqlalchemy.orm import Session

from . import db, orm
from .i18n import N_
from .passwords import generate_password, hash_password
from .permissions import ADMIN_USERNAME, PRESET_ROLES, SYSTEM_ADMIN

DEFAULT_VC = "default"


def ensure_preset_roles(session: Session) -> None:
    for name, (description, permissions) in PRESET_ROLES.items():
        role = orm.Role.find(session, name)
        if role is None:
            session.add(
                orm.Role(name=name, description=description, preset=True, permissions=permissions)
            )
        else:
            # presets follow the code: a new permission reaches existing installations
            role.preset = True
            role.permissions = permissions
    session.flush()


def first_start(session: Session, admin_password: str | None) -> str | None:
    """Create ``admin`` and the ``default`` VC if ``admin`` does not exist yet.

    Returns the admin password when one was generated (the caller prints it once), else None.
    """
    if orm.User.find(session, ADMIN_USERNAME) is not None:
        return None
    generated = None
    if not admin_password:
        admin_password = generated = generate_password()
    admin = orm.User(
        name=ADMIN_USERNAME,
        nickname="Administrator",
        password_hash=hash_password(admin_password),
        roles=[orm.Role.find(session, SYSTEM_ADMIN)],
    )
    session.add(admin)
    vc = orm.Vc.find(session, DEFAULT_VC)
    if vc is None:
        vc = orm.Vc(name=DEFAULT_VC, description=N_("CPU-only work; no device quota"))
        session.add(vc)
    session.flush()
    session.add(orm.VcMember(vc=vc, user=admin))
    session.flush()
    return generated


def prepare_database(url: str, admin_password: str | None = None) -> str | None:
    """Migrate ``url`` to head and create the first-start state; see :func:`first_start`."""
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            ensure_preset_roles(session)
            return first_start(session, admin_password or os.environ.get("YTUNG_ADMIN_PASSWORD"))
    finally:
        engine.dispose()
