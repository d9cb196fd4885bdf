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
    BigInteger,
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
    #: the user may create privileged (root inside) dev environments (SPEC U1, D1)
    privilege_enabled: Mapped[bool] = mapped_column(Boolean, default=False)

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
    #: workloads of non-admins wait as ``unapproved`` until a VC or system admin approves them
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)

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
    #: a VC admin approves or rejects the VC's workloads (and needs no approval)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)

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
UNAPPROVED = "unapproved"  # waits for an admin of a VC that needs approval; not in the queue
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
LIVE_STATUSES = (UNAPPROVED, QUEUED, *ACTIVE_STATUSES)
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
    #: when an admin approved it: its place in the queue counts from here (NULL: never needed)
    approved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: who approved or rejected it
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

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


# --- datasets ---


class Dataset(Base):
    """A dataset (SPEC S1–S3): named, described, labeled or not, private or public, with versions.

    ``owner`` is the creator's user name (like :attr:`Workload.owner`). A private dataset is
    seen only by its owner and admins; only labeled datasets are offered for training.
    """

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    labeled: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        order_by="DatasetVersion.version",
    )

    def __repr__(self) -> str:
        return f"<Dataset {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, dataset_id: int) -> Dataset | None:
        return db.get(cls, dataset_id)

    @property
    def latest(self) -> DatasetVersion | None:
        return self.versions[-1] if self.versions else None


class DatasetVersion(Base):
    """One immutable version of a dataset: an extracted directory (``path``).

    ``source`` is ``upload`` (an archive, extracted under ``<data_dir>/datasets/<id>/<version>``),
    ``path`` (a registered server directory, left where it is) or ``directory`` (moved in by
    another part of the platform, e.g. an annotation export).
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(4096))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16), default="upload")
    #: the uploaded file's name or the registered server path
    origin: Mapped[str] = mapped_column(String(4096), default="")
    creator: Mapped[str] = mapped_column(String(64), default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")

    def __repr__(self) -> str:
        return f"<DatasetVersion {self.dataset_id}v{self.version}>"

    @classmethod
    def find(cls, db: Session, dataset_id: int, version: int) -> DatasetVersion | None:
        return db.scalar(select(cls).where(cls.dataset_id == dataset_id, cls.version == version))


class DatasetUpload(Base):
    """A resumable archive upload in progress: bytes go to ``<data_dir>/datasets/.uploads/<id>``.

    What to create on completion is kept here: a new dataset (``dataset_id`` NULL; ``name`` …)
    or a new version of ``dataset_id``. Sessions idle for too long expire with their file.
    """

    __tablename__ = "dataset_uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    dataset_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    labeled: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the last time bytes arrived (expiry counts from here)
    touched: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<DatasetUpload {self.id} {self.owner} {self.filename}>"

    @classmethod
    def find(cls, db: Session, upload_id: str) -> DatasetUpload | None:
        return db.get(cls, upload_id)


# --- dev environments ---


class DevEnv(Base):
    """A development environment (SPEC D1–D9): the spec a user filled in, kept across runs.

    Each start is one :class:`Workload` of kind ``devenv`` (``workload_id`` is the latest);
    stop or pause ends the workload and keeps this record and the files, start submits a new
    workload with the same spec, delete removes the record (never the files).
    """

    __tablename__ = "devenvs"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: as the user sees it: ``/home/<user>/...``
    code_dir: Mapped[str] = mapped_column(String(1024))
    #: ``preset`` / ``saved`` / ``custom``
    engine_source: Mapped[str] = mapped_column(String(16), default="preset")
    #: the preset's name, the saved image's id, or the custom image name
    engine: Mapped[str] = mapped_column(String(512))
    #: the container image the environment runs (Kubernetes)
    image: Mapped[str] = mapped_column(String(512), default="")
    engine_type: Mapped[str] = mapped_column(String(64), default="")
    #: ``regular`` (常规任务) or ``distributed`` (分布式任务)
    job_type: Mapped[str] = mapped_column(String(16), default="regular")
    vc: Mapped[str] = mapped_column(String(64))
    device_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    nodes: Mapped[int] = mapped_column(Integer, default=1)
    devices_per_node: Mapped[int] = mapped_column(Integer, default=0)
    preemptible: Mapped[bool] = mapped_column(Boolean, default=False)
    privileged: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the latest run; NULL before the first or when it could not be submitted
    workload_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: stopped by "pause" (resumed by start) rather than "stop"
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: D5: what the environment's SSH server reported for the current run
    ssh_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ssh_password: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the hub server it runs in when started from the hub's spawn page (``""``: the default
    #: server); NULL for environments created on the platform (server ``devenv-<workload>``)
    hub_server: Mapped[str | None] = mapped_column(String(255), nullable=True)

    def __repr__(self) -> str:
        return f"<DevEnv {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, devenv_id: int) -> DevEnv | None:
        return db.get(cls, devenv_id)


class SavedImage(Base):
    """An engine saved from a dev environment (SPEC D8, I1) that new environments can use.

    On Kubernetes ``image`` is the committed container image; on the local runtime it is the
    image of the environment it was saved from, and ``packages`` (``pip freeze`` inside the
    environment) is what makes it reproducible.
    """

    __tablename__ = "saved_images"
    __table_args__ = (UniqueConstraint("owner", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    #: the dev environment's name it was saved from
    from_devenv: Mapped[str] = mapped_column(String(128), default="")
    image: Mapped[str] = mapped_column(String(512), default="")
    engine_type: Mapped[str] = mapped_column(String(64), default="")
    runtime: Mapped[str] = mapped_column(String(16), default="local")
    #: how the environment's server is started (argv)
    start_command: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``pip freeze`` lines of the environment when it was saved
    packages: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<SavedImage {self.id} {self.owner}/{self.name}:{self.version}>"

    @classmethod
    def find(cls, db: Session, image_id: int) -> SavedImage | None:
        return db.get(cls, image_id)


# --- training ---
class TrainingJob(Base):
    """A training job (SPEC T1–T7): the validated form and its runs.

    Every run is one workload of kind ``training`` (``runs``: their ids, ``workload_id``: the
    latest); pausing stops the run and keeps the outputs, resuming starts a new run from the
    latest checkpoint. ``exit_code`` and ``message`` (the tail of stderr) are what the job
    runner reported when the command of the latest run ended.
    """

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    engine: Mapped[str] = mapped_column(String(64))
    #: the form as validated (paths as the user wrote them), see ytung_service.jobs
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    workload_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    runs: Mapped[list[int]] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TrainingJob {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, job_id: int) -> TrainingJob | None:
        return db.get(cls, job_id)


class TrainingParamSet(Base):
    """A saved set of training parameters (SPEC T4, 训练参数管理): engine, code, start file,
    run parameters…; presets come with the preset models and are not stored."""

    __tablename__ = "training_param_sets"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TrainingParamSet {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, set_id: int) -> TrainingParamSet | None:
        return db.get(cls, set_id)


class TrainingTemplate(Base):
    """A job template (SPEC T7): a whole job form saved under a name, to create jobs from."""

    __tablename__ = "training_templates"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TrainingTemplate {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, template_id: int) -> TrainingTemplate | None:
        return db.get(cls, template_id)


# --- annotation ---


class AnnotationProject(Base):
    """An annotation project (SPEC S4, 标注项目): a named group of annotation datasets."""

    __tablename__ = "annotation_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    datasets: Mapped[list[AnnotationDataset]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="AnnotationDataset.id"
    )

    def __repr__(self) -> str:
        return f"<AnnotationProject {self.id} {self.name}>"

    @classmethod
    def find(cls, db: Session, project_id: int) -> AnnotationProject | None:
        return db.get(cls, project_id)


class AnnotationDataset(Base):
    """A labeling task (SPEC S5): the images of one dataset version, copied to
    ``<data_dir>/annotations/<id>/images/``, labeled with ``classes`` using ``object_types``
    (``bbox``, ``polygon``). Private ones are seen only by their owner and admins."""

    __tablename__ = "annotation_datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the dataset and version the images came from (no foreign key: the copy outlives it)
    source_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data_type: Mapped[str] = mapped_column(String(16), default="image")
    object_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    project: Mapped[AnnotationProject] = relationship(back_populates="datasets")
    images: Mapped[list[AnnotationImage]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="AnnotationImage.id"
    )

    def __repr__(self) -> str:
        return f"<AnnotationDataset {self.id} {self.owner}/{self.name}>"

    @classmethod
    def find(cls, db: Session, dataset_id: int) -> AnnotationDataset | None:
        return db.get(cls, dataset_id)


class AnnotationImage(Base):
    """One image of an annotation dataset (a task of S6) and its submitted shapes.

    ``shapes`` is the list the last Submit saved (see :mod:`ytung_service.coco` for the
    format); ``state`` is ``unlabeled`` until the first Submit, then ``labeled``."""

    __tablename__ = "annotation_images"
    __table_args__ = (UniqueConstraint("dataset_id", "file_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("annotation_datasets.id", ondelete="CASCADE"), index=True
    )
    file_name: Mapped[str] = mapped_column(String(1024))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="unlabeled", index=True)
    shapes: Mapped[list[dict]] = mapped_column(JSON, default=list)
    labeled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    dataset: Mapped[AnnotationDataset] = relationship(back_populates="images")

    def __repr__(self) -> str:
        return f"<AnnotationImage {self.dataset_id}/{self.file_name} {self.state}>"

    @classmethod
    def find(cls, db: Session, dataset_id: int, image_id: int) -> AnnotationImage | None:
        return db.scalar(select(cls).where(cls.dataset_id == dataset_id, cls.id == image_id))


class AnnotationExport(Base):
    """A COCO export of an annotation dataset (S7), run in the background.

    ``status``: ``running`` → ``completed`` (the labeled dataset ``result_dataset_id`` version
    ``result_version`` holds the images and ``annotations.json``) or ``failed`` (``message``).
    ``done`` of ``total`` images are copied so far."""

    __tablename__ = "annotation_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("annotation_datasets.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    annotations: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<AnnotationExport {self.id} of {self.dataset_id} {self.status}>"

    @classmethod
    def find(cls, db: Session, export_id: int) -> AnnotationExport | None:
        return db.get(cls, export_id)
