"""SQLAlchemy models of the platform service.

The hub is the source of users and groups; these tables hold only what the hub lacks:
profile fields, password hashes (for :mod:`ytung_service.authenticator`), platform roles and
virtual-cluster membership. Every schema change goes through an Alembic migration in
``ytung_service/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    object_session,
    relationship,
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A platform user: the hub user of the same name plus profile, password hash and roles."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    nickname: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    # bcrypt hash; NULL for users that authenticate elsewhere (created through the hub API)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the VC new workloads use unless told otherwise (SPEC V5, U1)
    current_vc: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the user's JupyterHub groups as last seen (a VC may admit a whole group, SPEC V2)
    hub_groups: Mapped[list[str]] = mapped_column(JSON, default=list)

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, back_populates="users")
    vc_memberships: Mapped[list[VcMember]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<User {self.name}>"

    @classmethod
    def find(cls, db: Session, name: str) -> User | None:
        return db.scalar(select(cls).where(cls.name == name))

    @property
    def permissions(self) -> set[str]:
        perms: set[str] = set()
        for role in self.roles:
            perms.update(role.permissions or [])
        return perms

    @property
    def vcs(self) -> list[Vc]:
        """The VCs the user may use: as a member, or through one of their hub groups."""
        found = {m.vc for m in self.vc_memberships}
        session = object_session(self)
        if self.hub_groups and session is not None:
            found.update(
                session.scalars(
                    select(Vc).join(VcGroup).where(VcGroup.group_name.in_(self.hub_groups))
                )
            )
        return sorted(found, key=lambda vc: vc.name)


class Role(Base):
    """A platform role: a named set of permissions (see :mod:`ytung_service.permissions`)."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    preset: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(secondary=user_roles, back_populates="roles")

    def __repr__(self) -> str:
        return f"<Role {self.name}>"

    @classmethod
    def find(cls, db: Session, name: str) -> Role | None:
        return db.scalar(select(cls).where(cls.name == name))


class Vc(Base):
    """A virtual cluster: a named share of the cluster's devices used by its members."""

    __tablename__ = "vcs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: longest a workload may run, in hours (SPEC V4); NULL = unlimited
    max_hours: Mapped[float | None] = mapped_column(Float, nullable=True)

    members: Mapped[list[VcMember]] = relationship(
        back_populates="vc", cascade="all, delete-orphan"
    )
    quotas: Mapped[list[VcQuota]] = relationship(
        back_populates="vc", cascade="all, delete-orphan", order_by="VcQuota.device_type"
    )
    groups: Mapped[list[VcGroup]] = relationship(
        back_populates="vc", cascade="all, delete-orphan", order_by="VcGroup.group_name"
    )

    def __repr__(self) -> str:
        return f"<Vc {self.name}>"

    @classmethod
    def find(cls, db: Session, name: str) -> Vc | None:
        return db.scalar(select(cls).where(cls.name == name))


class VcMember(Base):
    """Membership of a user in a VC (what grants access to the platform's devices)."""

    __tablename__ = "vc_members"
    __table_args__ = (UniqueConstraint("vc_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vc_id: Mapped[int] = mapped_column(Integer, ForeignKey("vcs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    added: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    vc: Mapped[Vc] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="vc_memberships")

    def __repr__(self) -> str:
        return f"<VcMember {self.user.name}@{self.vc.name}>"

    @classmethod
    def find(cls, db: Session, vc: Vc, user: User) -> VcMember | None:
        return db.scalar(select(cls).where(cls.vc_id == vc.id, cls.user_id == user.id))


class VcGroup(Base):
    """A JupyterHub group admitted to a VC: every member of the group may use it."""

    __tablename__ = "vc_groups"
    __table_args__ = (UniqueConstraint("vc_id", "group_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vc_id: Mapped[int] = mapped_column(Integer, ForeignKey("vcs.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(255))
    added: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    vc: Mapped[Vc] = relationship(back_populates="groups")

    def __repr__(self) -> str:
        return f"<VcGroup {self.group_name}@{self.vc.name}>"

    @classmethod
    def find(cls, db: Session, vc: Vc, group: str) -> VcGroup | None:
        return db.scalar(select(cls).where(cls.vc_id == vc.id, cls.group_name == group))


class VcQuota(Base):
    """A VC's share of one device type: ``quota`` devices, at most ``user_max`` per user."""

    __tablename__ = "vc_quotas"
    __table_args__ = (UniqueConstraint("vc_id", "device_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vc_id: Mapped[int] = mapped_column(Integer, ForeignKey("vcs.id", ondelete="CASCADE"))
    device_type: Mapped[str] = mapped_column(String(64))
    quota: Mapped[int] = mapped_column(Integer, default=0)
    #: NULL = no per-user cap
    user_max: Mapped[int | None] = mapped_column(Integer, nullable=True)

    vc: Mapped[Vc] = relationship(back_populates="quotas")

    def __repr__(self) -> str:
        return f"<VcQuota {self.vc.name} {self.device_type}={self.quota}>"

    @classmethod
    def find(cls, db: Session, vc: Vc, device_type: str) -> VcQuota | None:
        return db.scalar(select(cls).where(cls.vc_id == vc.id, cls.device_type == device_type))


#: statuses of a workload (SPEC D2; completed/failed for jobs)
QUEUED = "queued"
SCHEDULING = "scheduling"  # admitted: devices allocated, server starting
RUNNING = "running"
STOPPING = "stopping"
CLOSED = "closed"
COMPLETED = "completed"
FAILED = "failed"
ERROR = "error"
#: holding devices
ACTIVE_STATUSES = (SCHEDULING, RUNNING, STOPPING)
#: not over yet (a VC with any of these cannot be edited or deleted)
LIVE_STATUSES = (QUEUED, *ACTIVE_STATUSES)
TERMINAL_STATUSES = (CLOSED, COMPLETED, FAILED, ERROR)


class Workload(Base):
    """Anything that runs under a VC quota: one JupyterHub server of its owner.

    ``origin`` says who starts the server: ``service`` (created through the API; the service
    starts the named server ``<kind>-<id>`` once admitted) or ``hub`` (a spawn from the hub,
    whose spawner waits for admission). Times are epoch seconds.
    """

    __tablename__ = "workloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="devenv")
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    vc: Mapped[str] = mapped_column(String(64), index=True)
    device_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    nodes: Mapped[int] = mapped_column(Integer, default=1)
    devices_per_node: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    preemptible: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    #: why it waits or ended: {"code", "message", "params"} (translated when shown)
    reason: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ahead: Mapped[int | None] = mapped_column(Integer, nullable=True)
    origin: Mapped[str] = mapped_column(String(16), default="service")
    server_name: Mapped[str] = mapped_column(String(255), default="")
    user_options: Mapped[dict] = mapped_column(JSON, default=dict)
    requeue: Mapped[bool] = mapped_column(Boolean, default=False)
    start_attempts: Mapped[int] = mapped_column(Integer, default=0)
    submit_time: Mapped[float] = mapped_column(Float)
    admitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: an admin's extension of the time limit (epoch seconds); NULL = the VC's max_hours
    deadline: Mapped[float | None] = mapped_column(Float, nullable=True)

    devices: Mapped[list[DeviceAllocation]] = relationship(
        back_populates="workload", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Workload {self.id} {self.kind} {self.owner}/{self.name} {self.status}>"

    @classmethod
    def find(cls, db: Session, workload_id: int) -> Workload | None:
        return db.get(cls, workload_id)

    @property
    def placement(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, list[int]] = {}
        for d in self.devices:
            out.setdefault(d.node, []).append(d.device_id)
        return {node: tuple(sorted(ids)) for node, ids in sorted(out.items())}


class DeviceAllocation(Base):
    """One device held by one workload. The unique constraint makes a device held twice
    impossible at the database level, whatever a bug above it might try."""

    __tablename__ = "device_allocations"
    __table_args__ = (UniqueConstraint("node", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workload_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("workloads.id", ondelete="CASCADE"), index=True
    )
    node: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[int] = mapped_column(Integer)

    workload: Mapped[Workload] = relationship(back_populates="devices")

    def __repr__(self) -> str:
        return f"<DeviceAllocation {self.node}:{self.device_id} → {self.workload_id}>"
