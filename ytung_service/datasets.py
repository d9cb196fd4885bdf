"""Datasets (SPEC S1–S3): who sees what, versions in storage, uploads, search, and the
contract other parts of the platform use (training, annotation).

Storage: ``<data_dir>/datasets/<id>/<version>/`` holds an extracted version; uploads in progress
live in ``<data_dir>/datasets/.uploads/<upload id>`` and archives are unpacked into
``<data_dir>/datasets/.staging/<random>/`` first, then renamed into place (one ``rename`` on one
filesystem: a version is either all there or not there). A tar (plain or gzipped) is never
stored as an archive: the request handler feeds its chunks to an :class:`Ingest`, which unpacks
them as they arrive (the bytes are written to disk once, as the unpacked files, and completing
only waits for the last of them). A dropped connection resumes from the bytes the ingest took;
whatever ends the ingest itself (a cancel, a chunk shorter than announced, a long stall, a
restart of the service) loses what it unpacked, and the upload starts again from byte 0
(:func:`received`). A zip lists its members at its end: it is written to the upload's file and
unpacked on completion. A registered server path stays where it is
(``DatasetVersion.source == "path"``) and is never deleted by the platform.

Visibility: a private dataset exists only for its owner and admins (everything else answers
404, as if it did not exist); a public one is readable by every platform user; only the owner
and admins change or delete it. Only labeled datasets are usable for training.

Handlers call this module; it never imports a handler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import orm
from .archives import (
    ChunkPipe,
    ExtractStats,
    Interrupted,
    Limits,
    archive_kind,
    extract,
    tree_stats,
)
from .errors import DomainError
from .i18n import N_
from .permissions import ADMIN
from .search import rank
from .storage import ensure_dir

log = logging.getLogger(__name__)

#: the largest archive accepted (SPEC S1: up to 2 GB)
MAX_UPLOAD_BYTES = 2 * 1024**3
#: an upload with no new bytes for this long expires with its file
UPLOAD_TTL = timedelta(hours=24)
#: unfinished uploads one user may have at once (each may hold up to 2 GB of disk); beyond it,
#: the user's uploads idle for :data:`UPLOAD_IDLE` make room (abandoned after failed retries)
MAX_OPEN_UPLOADS = 4
UPLOAD_IDLE = timedelta(hours=1)
NAME_MAX = 64
DESCRIPTION_MAX = 2000
SOURCES = ("upload", "path", "directory")
#: archive kinds unpacked while they are uploaded (a zip lists its members at its end)
STREAMED_KINDS = ("tar", "tar.gz")
#: an unpacking that follows an upload gives up after this many seconds without new bytes
#: (the upload then starts again from byte 0)
INGEST_STALL = 3600.0

# allocating a version number, renaming into place and committing happen under one lock (one
# service process is the single writer of dataset storage)
_versions_lock = threading.Lock()


# -- storage layout ---------------------------------------------------------------------------
def datasets_dir(data_dir) -> Path:
    return Path(data_dir) / "datasets"


def dataset_dir(data_dir, dataset_id: int) -> Path:
    return datasets_dir(data_dir) / str(int(dataset_id))


def version_path(data_dir, dataset_id: int, version: int) -> Path:
    """Where version ``version`` of dataset ``dataset_id`` is stored when the platform holds it."""
    return dataset_dir(data_dir, dataset_id) / str(int(version))


def staging_dir(data_dir) -> Path:
    """Temporary extraction directories: inside the data root, so the final rename is atomic."""
    return ensure_dir(datasets_dir(data_dir) / ".staging")


def uploads_dir(data_dir) -> Path:
    return ensure_dir(datasets_dir(data_dir) / ".uploads")


def upload_file(data_dir, upload_id: str) -> Path:
    return uploads_dir(data_dir) / upload_id


# -- visibility -------------------------------------------------------------------------------
def is_admin(user: orm.User, admin: bool | None = None) -> bool:
    return bool(admin) if admin is not None else ADMIN in user.permissions


def can_see(user: orm.User, dataset: orm.Dataset, admin: bool | None = None) -> bool:
    return dataset.public or dataset.owner == user.name or is_admin(user, admin)


def can_change(user: orm.User, dataset: orm.Dataset, admin: bool | None = None) -> bool:
    return dataset.owner == user.name or is_admin(user, admin)


def visible(
    session: Session, user: orm.User, *, labeled: bool | None = None, admin: bool | None = None
) -> list[orm.Dataset]:
    """The datasets ``user`` may see (own, public; admins: all), newest change first.

    ``labeled=True`` keeps only those usable for training. ``admin`` overrides the check of the
    user's roles (a hub admin is an admin too).
    """
    query = select(orm.Dataset).order_by(orm.Dataset.updated.desc(), orm.Dataset.id.desc())
    if not is_admin(user, admin):
        query = query.where((orm.Dataset.public.is_(True)) | (orm.Dataset.owner == user.name))
    if labeled is not None:
        query = query.where(orm.Dataset.labeled.is_(labeled))
    return list(session.scalars(query))


def get_visible(
    session: Session, user: orm.User, dataset_id: int, admin: bool | None = None
) -> orm.Dataset:
    """The dataset, or a 404 when it does not exist or ``user`` may not see it."""
    dataset = session.get(orm.Dataset, int(dataset_id))
    if dataset is None or not can_see(user, dataset, admin):
        raise DomainError(404, "No such dataset: {id}", id=dataset_id)
    return dataset


def get_changeable(
    session: Session, user: orm.User, dataset_id: int, admin: bool | None = None
) -> orm.Dataset:
    dataset = get_visible(session, user, dataset_id, admin)
    if not can_change(user, dataset, admin):
        raise DomainError(
            403, "Only the creator of dataset {name} or an admin may change it", name=dataset.name
        )
    return dataset


def get_version(dataset: orm.Dataset, version: int | None) -> orm.DatasetVersion:
    """``version`` of ``dataset`` (None: the latest), or a 404."""
    if not dataset.versions:
        raise DomainError(404, "Dataset {name} has no version yet", name=dataset.name)
    if version is None:
        return dataset.versions[-1]
    for v in dataset.versions:
        if v.version == int(version):
            return v
    raise DomainError(
        404, "Dataset {name} has no version {version}", name=dataset.name, version=version
    )


def usable_for_training(
    session: Session,
    user: orm.User,
    dataset_id: int,
    version: int | None,
    *,
    data_dir,
    admin: bool | None = None,
    roots: list[str] | None = None,
) -> tuple[orm.Dataset, orm.DatasetVersion, Path]:
    """The dataset version a workload of ``user`` may train on, and its directory.

    404 if unknown or invisible to ``user``; 400 if not labeled; ``version`` None = the latest;
    the directory as :func:`version_root` checks it.
    """
    dataset = get_visible(session, user, dataset_id, admin)
    if not dataset.labeled:
        raise DomainError(
            400, "Dataset {name} is not labeled; only labeled datasets train", name=dataset.name
        )
    v = get_version(dataset, version)
    return dataset, v, version_root(v, data_dir=data_dir, roots=roots)


def version_root(v: orm.DatasetVersion, *, data_dir, roots: list[str] | None = None) -> Path:
    """The directory of ``v`` to read, checked again now (not only when it was created):

    - a version the platform holds must still lie inside ``<data_dir>/datasets``;
    - a registered server path must still be the real directory it was (no component of it
      replaced by a symlink since: the directory itself pointing to ``/``, say), outside the
      platform's data and, when ``roots`` is given, inside one of them.

    404 when the files are gone; 409 when they moved outside what is allowed.
    """
    dataset = v.dataset
    path = Path(v.path)
    if not path.is_dir():
        raise DomainError(
            404,
            "The files of dataset {name} version {version} are missing",
            name=dataset.name,
            version=v.version,
        )
    real = Path(os.path.realpath(path))
    data_root = Path(os.path.realpath(data_dir))
    store = Path(os.path.realpath(datasets_dir(data_dir)))
    if v.source == "path":
        ok = str(real) == os.path.normpath(v.path) and not (
            real == data_root or data_root in real.parents or real in data_root.parents
        )
        if ok and roots is not None:
            allowed = [Path(os.path.realpath(r)) for r in roots]
            ok = any(real == r or r in real.parents for r in allowed)
    else:
        ok = store in real.parents
    if not ok:
        raise DomainError(
            409,
            "The files of dataset {name} version {version} are no longer where they may be "
            "read from; ask an admin",
            name=dataset.name,
            version=v.version,
        )
    return path


# -- search -----------------------------------------------------------------------------------
def search(datasets: Iterable[orm.Dataset], query: str | None) -> list[orm.Dataset]:
    """The datasets matching ``query`` by name and description, best first (all of them,
    unchanged, without a query); see :mod:`ytung_service.search`."""
    return rank(datasets, query, lambda d: (d.name, d.description))


# -- validation -------------------------------------------------------------------------------
def clean_fields(body: dict, *, partial: bool) -> dict:
    """The editable fields of ``body`` checked: name, description, labeled, public.

    ``public`` may also come as ``permission``: ``"public"`` / ``"private"``.
    """
    out: dict = {}
    if "name" in body or not partial:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DomainError(400, "The dataset name is required")
        name = name.strip()
        if len(name) > NAME_MAX or any(c in name for c in "/\\\x00\n\r\t"):
            raise DomainError(
                400,
                "Invalid dataset name: {name} (at most {max} characters, no slashes)",
                name=name[:100],
                max=NAME_MAX,
            )
        out["name"] = name
    if "description" in body:
        description = body["description"]
        if description is None:
            description = ""
        if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
            raise DomainError(
                400, "The description must be text of at most {max} characters", max=DESCRIPTION_MAX
            )
        out["description"] = description
    if "labeled" in body:
        if not isinstance(body["labeled"], bool):
            raise DomainError(400, "'labeled' must be true or false")
        out["labeled"] = body["labeled"]
    if "permission" in body and "public" not in body:
        if body["permission"] not in ("public", "private"):
            raise DomainError(400, "'permission' must be 'public' or 'private'")
        out["public"] = body["permission"] == "public"
    if "public" in body:
        if not isinstance(body["public"], bool):
            raise DomainError(400, "'public' must be true or false")
        out["public"] = body["public"]
    return out


def _check_name_free(session: Session, owner: str, name: str, except_id: int | None = None) -> None:
    query = select(orm.Dataset).where(orm.Dataset.owner == owner, orm.Dataset.name == name)
    for other in session.scalars(query):
        if other.id != except_id:
            raise DomainError(409, "You already have a dataset named {name}", name=name)


# -- creating versions ------------------------------------------------------------------------
def _new_version(
    session: Session,
    owner: orm.User,
    *,
    data_dir,
    place,
    stats: ExtractStats,
    source: str,
    origin: str,
    dataset_id: int | None,
    fields: dict,
) -> orm.DatasetVersion:
    """Create the dataset (``dataset_id`` None) or find it, number the version, ``place`` the
    files (a callable of the version number's directory answering the stored path) and commit;
    on any failure nothing stays in the database (and ``place`` has not run or is undone)."""
    with _versions_lock:
        try:
            if dataset_id is None:
                _check_name_free(session, owner.name, fields["name"])
                dataset = orm.Dataset(owner=owner.name, **fields)
                session.add(dataset)
                session.flush()
            else:
                dataset = session.get(orm.Dataset, int(dataset_id))
                if dataset is None:
                    raise DomainError(404, "No such dataset: {id}", id=dataset_id)
            # asked of the database, not of ``dataset.versions``: this session may have loaded
            # those before another request committed a version (sessions do not expire on commit)
            number = (
                session.scalar(
                    select(func.max(orm.DatasetVersion.version)).where(
                        orm.DatasetVersion.dataset_id == dataset.id
                    )
                )
                or 0
            ) + 1
            target = version_path(data_dir, dataset.id, number)
            if os.path.lexists(target):
                # left by a crash between rename and commit: it belongs to no record
                _discard(target)
            ensure_dir(target.parent)
            stored, undo = place(target)
        except BaseException:
            session.rollback()
            raise
        now = orm.utcnow()
        try:
            v = orm.DatasetVersion(
                dataset=dataset,
                version=number,
                path=str(Path(stored).absolute()),
                size_bytes=stats.bytes,
                file_count=stats.files,
                source=source,
                origin=origin[:4096],
                creator=owner.name,
                created=now,
            )
            session.add(v)
            dataset.updated = now
            session.commit()
        except BaseException:
            session.rollback()
            undo()
            raise
    session.refresh(dataset)  # its versions as they are now, with the new one
    return v


def _move_into(src: Path):
    def place(target: Path):
        os.rename(src, target)
        return target, lambda: os.rename(target, src) if target.exists() else None

    return place


def add_version_from_directory(
    session: Session,
    owner: orm.User,
    src: Path,
    *,
    data_dir,
    dataset_id: int | None = None,
    name: str | None = None,
    description: str = "",
    labeled: bool = True,
    public: bool = False,
    source: str = "directory",
    origin: str = "",
) -> orm.DatasetVersion:
    """Move ``src`` (a directory on the data root's filesystem) into storage as a new dataset
    (``dataset_id`` None; ``name`` required) or as the next version of ``dataset_id``. Atomic:
    a ``rename``, then one commit; if the commit fails the directory moves back to ``src``.

    The caller checks who may add a version to an existing dataset (see :func:`get_changeable`).
    """
    src = Path(src)
    if not src.is_dir():
        raise DomainError(400, "Not a directory: {path}", path=str(src))
    fields = {}
    if dataset_id is None:
        fields = clean_fields(
            {"name": name, "description": description, "labeled": labeled, "public": public},
            partial=False,
        )
    stats = tree_stats(src)
    return _new_version(
        session,
        owner,
        data_dir=data_dir,
        place=_move_into(src),
        stats=stats,
        source=source,
        origin=origin or str(src),
        dataset_id=dataset_id,
        fields=fields,
    )


def register_path(
    session: Session,
    owner: orm.User,
    path: str,
    *,
    roots: list[str],
    data_dir,
    dataset_id: int | None = None,
    fields: dict | None = None,
) -> orm.DatasetVersion:
    """Register an existing server directory (inside one of the admin's ``roots``) as a new
    dataset or the next version of ``dataset_id``; the files stay where they are."""
    if not roots:
        raise DomainError(
            400,
            "Registering server paths is turned off; an admin can allow directories with "
            "c.YtungService.dataset_path_roots",
        )
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise DomainError(400, "The server path is required")
    if not os.path.isabs(path):
        raise DomainError(400, "The server path must be absolute: {path}", path=path)
    real = Path(path).resolve()
    allowed = [Path(r).resolve() for r in roots]
    if not any(real == r or r in real.parents for r in allowed):
        raise DomainError(
            400,
            "{path} is not inside a directory the admin allows: {roots}",
            path=path,
            roots=", ".join(str(r) for r in allowed),
        )
    data_root = Path(data_dir).resolve()
    if real == data_root or data_root in real.parents:
        raise DomainError(400, "{path} is inside the platform's own data", path=path)
    if real in data_root.parents:  # all of the platform's files: the database, every home
        raise DomainError(400, "{path} contains the platform's own data", path=path)
    if not real.is_dir():
        raise DomainError(400, "No such directory on the server: {path}", path=path)
    stats = tree_stats(real)

    def place(_target: Path):
        return real, lambda: None

    return _new_version(
        session,
        owner,
        data_dir=data_dir,
        place=place,
        stats=stats,
        source="path",
        origin=str(real),
        dataset_id=dataset_id,
        fields=fields or {},
    )


# -- uploads ----------------------------------------------------------------------------------
def create_upload(
    session: Session, owner: orm.User, body: dict, *, data_dir, admin: bool | None = None
) -> orm.DatasetUpload:
    """Start a resumable upload of one archive: checks everything that can be checked before
    the bytes come (file type, size, name, the target dataset)."""
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise DomainError(400, "'filename' (the archive's name) is required")
    filename = os.path.basename(filename.replace("\\", "/"))[:255]
    kind = archive_kind(filename)
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise DomainError(400, "'size' must be the archive's size in bytes")
    if size > MAX_UPLOAD_BYTES:
        raise DomainError(
            400,
            "The archive is {size} bytes; at most {max} bytes may be uploaded",
            size=size,
            max=MAX_UPLOAD_BYTES,
        )
    dataset_id = body.get("dataset_id")
    if dataset_id is not None:
        if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
            raise DomainError(400, "'dataset_id' must be a dataset id")
        get_changeable(session, owner, dataset_id, admin)
        fields: dict = {}
    else:
        fields = clean_fields(body, partial=False)
        _check_name_free(session, owner.name, fields["name"])
    expire_uploads(session, data_dir=data_dir)
    _make_room_for_an_upload(session, owner, data_dir=data_dir)
    upload = orm.DatasetUpload(
        id=secrets.token_hex(16),
        owner=owner.name,
        filename=filename,
        kind=kind,
        size=size,
        dataset_id=dataset_id,
        name=fields.get("name", ""),
        description=fields.get("description", ""),
        labeled=fields.get("labeled", True),
        public=fields.get("public", False),
    )
    upload_file(data_dir, upload.id).touch(mode=0o600)
    session.add(upload)
    session.commit()
    return upload


def _make_room_for_an_upload(
    session: Session, owner: orm.User, *, data_dir, now: datetime | None = None
) -> None:
    """409 when ``owner`` has :data:`MAX_OPEN_UPLOADS` unfinished uploads, after dropping
    their oldest ones idle for :data:`UPLOAD_IDLE` (no chunk, no byte written since)."""
    now = now or orm.utcnow()
    mine = list(
        session.scalars(
            select(orm.DatasetUpload)
            .where(orm.DatasetUpload.owner == owner.name)
            .order_by(orm.DatasetUpload.touched, orm.DatasetUpload.created)
        )
    )
    idle_since = _epoch(now - UPLOAD_IDLE)
    dropped = False
    while len(mine) >= MAX_OPEN_UPLOADS:
        oldest = mine[0]
        last = _last_activity(oldest, data_dir=data_dir)
        if last >= idle_since:
            break
        _remove_upload_files(data_dir, oldest.id)
        session.delete(oldest)
        mine.pop(0)
        dropped = True
    if dropped:
        session.commit()
    if len(mine) >= MAX_OPEN_UPLOADS:
        raise DomainError(
            409,
            "You have {count} uploads in progress; finish or cancel one, or start again in an hour",
            count=len(mine),
        )


def get_upload(session: Session, user: orm.User, upload_id: str) -> orm.DatasetUpload:
    """``user``'s upload (admins do not see others' uploads), else 404."""
    upload = session.get(orm.DatasetUpload, upload_id)
    if upload is None or upload.owner != user.name:
        raise DomainError(404, "No such upload: {id}", id=upload_id)
    return upload


def received(upload: orm.DatasetUpload, *, data_dir) -> int:
    """Where the next chunk must start: the bytes the upload's :class:`Ingest` took (a tar),
    or the bytes in the upload's file (a zip). 0 for a tar whose ingest is gone (interrupted,
    cancelled, or the service restarted): what it unpacked went with it, so the upload starts
    again (a new ingest follows the chunk at byte 0)."""
    if upload.kind in STREAMED_KINDS:
        ingest = _ingests.get(upload.id)
        if ingest is None:
            return 0
        if ingest.interrupted():
            cancel_ingest(upload.id, "the unpacking was interrupted")
            return 0
        return ingest.pipe.fed
    try:
        return upload_file(data_dir, upload.id).stat().st_size
    except FileNotFoundError:
        return 0


def _last_activity(upload: orm.DatasetUpload, *, data_dir) -> float:
    """When a byte of the upload last arrived, or a chunk request ended (epoch seconds)."""
    ingest = _ingests.get(upload.id)
    return max(
        _epoch(upload.touched),
        _mtime(upload_file(data_dir, upload.id)),
        ingest.last_fed if ingest is not None else 0.0,
    )


def parse_content_range(header: str | None, size: int) -> tuple[int, int]:
    """``bytes START-END/TOTAL`` → (start, end inclusive), checked against the upload's size."""
    if not header:
        raise DomainError(400, "A chunk needs a Content-Range header: bytes START-END/TOTAL")
    try:
        unit, _, rest = header.strip().partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        start, end = int(first), int(last)
        total_n = int(total) if total != "*" else size
    except ValueError:
        raise DomainError(400, "Invalid Content-Range: {value}", value=header[:100]) from None
    if unit != "bytes" or start < 0 or end < start or total_n != size or end >= size:
        raise DomainError(400, "Invalid Content-Range: {value}", value=header[:100])
    return start, end


def upload_model(upload: orm.DatasetUpload, *, data_dir) -> dict:
    return {
        "id": upload.id,
        "filename": upload.filename,
        "kind": upload.kind,
        "size": upload.size,
        "offset": received(upload, data_dir=data_dir),
        "dataset_id": upload.dataset_id,
        "name": upload.name,
        "created": _iso(upload.created),
        "expires": _iso(upload.touched + UPLOAD_TTL),
    }


def discard_upload(session: Session, upload: orm.DatasetUpload, *, data_dir) -> None:
    _remove_upload_files(data_dir, upload.id)
    # by its id: another request may have removed it meanwhile (a refused tar's last chunk
    # and its completion both discard it)
    session.execute(sa.delete(orm.DatasetUpload).where(orm.DatasetUpload.id == upload.id))
    session.commit()


def _remove_upload_files(data_dir, upload_id: str) -> None:
    """The upload's file, and what an :class:`Ingest` of it unpacked so far."""
    cancel_ingest(upload_id, "the upload was removed")
    upload_file(data_dir, upload_id).unlink(missing_ok=True)


# -- unpacking while the bytes arrive ---------------------------------------------------------
class Ingest:
    """Unpacks a tar upload in a thread while its chunks arrive, into a staging directory.

    The handler that receives a chunk hands its bytes to :meth:`feed` (and waits for
    :meth:`room` when that answers ``True``); the thread reads them from memory
    (:class:`~ytung_service.archives.ChunkPipe`) and applies every check of
    :func:`~ytung_service.archives.extract`. :attr:`future` ends with the
    :class:`ExtractStats`, a refusal (:class:`DomainError`; nothing staged stays) or
    :class:`~ytung_service.archives.Interrupted` (cancelled or stalled: nothing staged stays
    and the upload starts again). The upload's bytes are written once, as the unpacked files.
    """

    def __init__(self, upload: orm.DatasetUpload, *, data_dir, limits: Limits | None = None):
        self.upload_id = upload.id
        self.staged = staging_dir(data_dir) / f"{upload.id}-{secrets.token_hex(4)}"
        self.pipe = ChunkPipe(upload.size, stall=INGEST_STALL)
        #: when bytes last arrived (epoch seconds)
        self.last_fed = time.time()
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._cancelled = False
        self._thread = threading.Thread(
            target=self._run,
            args=(upload.kind, limits),
            name=f"ingest-{upload.id[:8]}",
            daemon=True,
        )

    def start(self) -> Ingest:
        self.future.set_running_or_notify_cancel()  # no one cancels it but :meth:`cancel`
        self._thread.start()
        return self

    def _run(self, kind: str, limits: Limits | None) -> None:
        try:
            stats = extract(self.pipe, kind, self.staged, limits)
        except BaseException as e:  # extract removed what it staged
            if not isinstance(e, DomainError | Interrupted):
                log.exception("Unpacking upload %s failed", self.upload_id)
            self.pipe.abort("the unpacking ended")  # a feeder waiting for room goes on
            self.future.set_exception(e)
            return
        finally:
            self.pipe.close()
        with self._lock:
            if self._cancelled:
                _discard(self.staged)
                self.future.set_exception(Interrupted("cancelled"))
            else:
                self.future.set_result(stats)

    def feed(self, data) -> bool:
        """Hand on bytes of the upload (they follow the ones fed before); answers whether the
        feeder should wait for :meth:`room` before the next ones."""
        self.last_fed = time.time()
        return self.pipe.feed(data)

    def room(self) -> asyncio.Future:
        """Resolves (on the running event loop) once the thread took most of what was fed."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(ready)
            except RuntimeError:  # the loop is closed (the service stops): no one waits
                pass

        self.pipe.when_room(wake)
        return waiter

    def cancel(self, reason: str) -> None:
        """Stop and remove what was staged, whether the thread is still running or done."""
        with self._lock:
            self._cancelled = True
            if self.future.done() and self.future.exception() is None:
                # up to the whole dataset: not on the caller's (the event loop's) thread
                threading.Thread(target=_discard, args=(self.staged,), daemon=True).start()
        self.pipe.abort(reason)

    def refusal(self) -> DomainError | None:
        """The archive's refusal when the thread found one already (more bytes will not help)."""
        if self.future.done() and isinstance(self.future.exception(), DomainError):
            return self.future.exception()
        return None

    def interrupted(self) -> bool:
        """Whether it ended without a result or a refusal (cancelled, stalled, or failed, as
        when the disk is full): the upload starts again."""
        return self.future.done() and not isinstance(
            self.future.exception(), DomainError | type(None)
        )


#: upload id → its :class:`Ingest` (only this service process receives uploads)
_ingests: dict[str, Ingest] = {}


def follow_upload(
    upload: orm.DatasetUpload, start: int, *, data_dir, limits: Limits | None = None
) -> Ingest | None:
    """The :class:`Ingest` that a chunk starting at ``start`` feeds (a tar kind; started with
    the chunk at byte 0), ``None`` for an upload written to its file (a zip)."""
    if upload.kind not in STREAMED_KINDS:
        return None
    ingest = _ingests.get(upload.id)
    if ingest is not None and ingest.interrupted():
        cancel_ingest(upload.id, "the upload starts again")
        ingest = None
    if ingest is None:
        if start != 0:  # received() says 0: the caller refused this chunk already
            raise offset_error(N_("The next chunk must start at byte {offset}"), 0)
        ingest = _ingests[upload.id] = Ingest(upload, data_dir=data_dir, limits=limits).start()
    return ingest


def cancel_ingest(upload_id: str, reason: str) -> None:
    ingest = _ingests.pop(upload_id, None)
    if ingest is not None:
        ingest.cancel(reason)


def offset_error(message: str, offset: int, **params) -> DomainError:
    """A 409 that tells the client the offset to send the upload from (``offset`` in the
    answer); ``message`` is marked with :func:`~ytung_service.i18n.N_` where it is written."""
    error = DomainError(409, message, offset=offset, **params)
    error.extra = {"offset": offset}
    return error


def unpacking_lost(upload_id: str) -> DomainError:
    """End the upload's :class:`Ingest` (if it is still known): the 409 that has the tar sent
    again from byte 0."""
    cancel_ingest(upload_id, "interrupted")
    return offset_error(
        N_("The unpacking of the upload was interrupted; send it again from the start"), 0
    )


def take_ingest(upload: orm.DatasetUpload) -> Ingest | None:
    """The upload's :class:`Ingest`, for the one completing it (all bytes were fed). It stays
    known until :func:`finish_upload` (or :func:`cancel_ingest`)."""
    return _ingests.get(upload.id)


def extract_upload(upload: orm.DatasetUpload, *, data_dir, limits: Limits | None = None):
    """Unpack a complete upload's file (a zip) into a fresh staging directory (slow: run it
    in a thread). Answers ``(directory, stats)``; on a refusal the staging directory is gone
    already."""
    staged = staging_dir(data_dir) / f"{upload.id}-{secrets.token_hex(4)}"
    stats = extract(upload_file(data_dir, upload.id), upload.kind, staged, limits)
    return staged, stats


def finish_upload(
    session: Session,
    owner: orm.User,
    upload: orm.DatasetUpload,
    staged: Path,
    stats: ExtractStats,
    *,
    data_dir,
) -> orm.DatasetVersion:
    """Move an extracted upload into storage as a dataset or version; the upload is consumed."""
    fields = {}
    if upload.dataset_id is None:
        fields = {
            "name": upload.name,
            "description": upload.description,
            "labeled": upload.labeled,
            "public": upload.public,
        }
    upload_id, filename, dataset_id = upload.id, upload.filename, upload.dataset_id
    try:
        session.delete(upload)
        v = _new_version(
            session,
            owner,
            data_dir=data_dir,
            place=_move_into(staged),
            stats=stats,
            source="upload",
            origin=filename,
            dataset_id=dataset_id,
            fields=fields,
        )
    except BaseException:
        _ingests.pop(upload_id, None)  # what it staged is gone: it cannot serve a retry
        _discard(staged)
        raise
    _ingests.pop(upload_id, None)  # done: its staging directory is the version now
    upload_file(data_dir, upload_id).unlink(missing_ok=True)
    return v


def expire_uploads(session: Session, *, data_dir, now: datetime | None = None) -> int:
    """Remove uploads idle for longer than :data:`UPLOAD_TTL`, and stray files: upload files
    without a record, staging directories older than the TTL. Answers how many uploads went."""
    now = now or orm.utcnow()
    stale = list(
        session.scalars(
            select(orm.DatasetUpload).where(orm.DatasetUpload.touched < now - UPLOAD_TTL)
        )
    )
    cutoff = _epoch(now - UPLOAD_TTL)
    # a tar whose one long request is still sending bytes is not idle
    stale = [u for u in stale if _last_activity(u, data_dir=data_dir) < cutoff]
    for upload in stale:
        _remove_upload_files(data_dir, upload.id)
        session.delete(upload)
    session.commit()
    known = set(session.scalars(select(orm.DatasetUpload.id)))
    for entry in uploads_dir(data_dir).iterdir():
        if entry.name not in known and _mtime(entry) < cutoff:
            entry.unlink(missing_ok=True)
    unpacking = {ingest.staged.name for ingest in _ingests.values()}
    for entry in staging_dir(data_dir).iterdir():
        if entry.name not in unpacking and _mtime(entry) < cutoff:
            _discard(entry)
    return len(stale)


def _epoch(value: datetime) -> float:
    """Seconds since the epoch of a naive UTC datetime (as :func:`orm.utcnow` makes them;
    ``.timestamp()`` alone would read it as local time)."""
    return value.replace(tzinfo=UTC).timestamp()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# -- changing and deleting --------------------------------------------------------------------
def update(
    session: Session, user: orm.User, dataset: orm.Dataset, body: dict, admin: bool | None = None
) -> orm.Dataset:
    """Edit name, description, labeled, permission (owner or admin)."""
    if not can_change(user, dataset, admin):
        raise DomainError(
            403, "Only the creator of dataset {name} or an admin may change it", name=dataset.name
        )
    unknown = sorted(set(body) - {"name", "description", "labeled", "public", "permission"})
    if unknown:
        raise DomainError(400, "Unknown field: {fields}", fields=", ".join(unknown))
    changes = clean_fields(body, partial=True)
    if "name" in changes:
        _check_name_free(session, dataset.owner, changes["name"], except_id=dataset.id)
    for key, value in changes.items():
        setattr(dataset, key, value)
    dataset.updated = orm.utcnow()
    session.commit()
    return dataset


def live_workloads_using(session: Session, dataset_id: int) -> list[orm.Workload]:
    """Workloads not over yet whose ``user_options["dataset"]["id"]`` is ``dataset_id``."""
    live = session.scalars(select(orm.Workload).where(orm.Workload.status.in_(orm.LIVE_STATUSES)))
    found = []
    for w in live:
        ref = (w.user_options or {}).get("dataset")
        if isinstance(ref, dict) and ref.get("id") == dataset_id:
            found.append(w)
    return found


def delete(
    session: Session, user: orm.User, dataset: orm.Dataset, *, data_dir, admin: bool | None = None
) -> None:
    """Delete a dataset and the files the platform holds for it; 409 while a live workload
    uses it. Registered server directories are left alone."""
    if not can_change(user, dataset, admin):
        raise DomainError(
            403, "Only the creator of dataset {name} or an admin may change it", name=dataset.name
        )
    users = live_workloads_using(session, dataset.id)
    if users:
        error = DomainError(
            409,
            "Dataset {name} is used by running or queued workloads: {workloads}",
            name=dataset.name,
            workloads=", ".join(f"{w.name} ({w.id})" for w in users),
        )
        error.extra = {"workloads": [w.id for w in users]}
        raise error
    folder = dataset_dir(data_dir, dataset.id)
    trash = None
    if folder.exists():
        trash = staging_dir(data_dir) / f"deleted-{dataset.id}-{secrets.token_hex(4)}"
        os.rename(folder, trash)
    try:
        session.delete(dataset)
        session.commit()
    except BaseException:
        session.rollback()
        if trash is not None:
            os.rename(trash, folder)
        raise
    if trash is not None:
        _discard(trash)


def _discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        Path(path).unlink(missing_ok=True)


# -- documents --------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def version_model(v: orm.DatasetVersion) -> dict:
    return {
        "version": v.version,
        "path": v.path,
        "size_bytes": v.size_bytes,
        "file_count": v.file_count,
        "source": v.source,
        "origin": v.origin,
        "creator": v.creator,
        "created": _iso(v.created),
    }


def dataset_model(
    dataset: orm.Dataset, user: orm.User | None = None, *, detail: bool = False, admin=None
) -> dict:
    """The JSON of a dataset (S2 list row; with ``detail`` every version, S3)."""
    latest = dataset.latest
    model = {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "creator": dataset.owner,
        "public": dataset.public,
        "permission": "public" if dataset.public else "private",
        "labeled": dataset.labeled,
        "created": _iso(dataset.created),
        "updated": _iso(dataset.updated),
        "version": latest.version if latest else None,
        "path": latest.path if latest else None,
        "size_bytes": latest.size_bytes if latest else 0,
        "file_count": latest.file_count if latest else 0,
        "can_change": bool(user is not None and can_change(user, dataset, admin)),
    }
    if detail:
        model["versions"] = [version_model(v) for v in dataset.versions]
    return model


def download_files(root: Path) -> Iterable[tuple[Path, str]]:
    """``(file, name in the zip)`` for every regular file below ``root``, sorted; symlinks are
    followed only while they stay inside ``root`` (open them with :func:`open_inside`)."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            real = os.path.realpath(path)
            if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
                continue
            yield path, path.relative_to(root).as_posix()


_FD_DIR = "/proc/self/fd"


def open_inside(root: Path | str, path: Path | str):
    """``path`` opened for reading if what was opened is a regular file inside ``root``, else
    ``None``. Checked on the open descriptor (``/proc/self/fd``), so a directory or link
    swapped between listing and opening (a registered server path the user can write to)
    cannot lead outside."""
    real_root = os.path.realpath(root)
    try:
        # O_NONBLOCK: opening a FIFO planted in a registered path must not wait for a writer
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(os.path.realpath(path), flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if os.path.isdir(_FD_DIR):
            opened = os.readlink(f"{_FD_DIR}/{fd}")
        else:  # no procfs: the path must still name what was opened
            again = os.stat(os.path.realpath(path))
            opened = (
                os.path.realpath(path)
                if (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino)
                else ""
            )
        if not stat.S_ISREG(st.st_mode) or not opened.startswith(real_root + os.sep):
            os.close(fd)
            return None
        os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
    except OSError:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
