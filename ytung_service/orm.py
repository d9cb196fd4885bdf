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
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


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
        return sorted((m.vc for m in self.vc_memberships), key=lambda vc: vc.name)


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

    members: Mapped[list[VcMember]] = relationship(
        back_populates="vc", cascade="all, delete-orphan"
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
