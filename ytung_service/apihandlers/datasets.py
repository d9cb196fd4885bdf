"""``/api/v1/datasets``: datasets, their versions, resumable archive uploads, zip downloads
(SPEC S1–S3).

Uploading an archive (``.zip``, ``.tar``, ``.tar.gz``, up to 2 GB) takes three steps, so that a
dropped connection loses at most the chunk in flight:

1. ``POST /datasets/uploads`` ``{"filename", "size", "name", "description", "labeled",
   "permission"}`` (or ``"dataset_id"`` for a new version) → 201 ``{"id", "offset": 0, ...}``
2. ``PUT /datasets/uploads/<id>`` with ``Content-Range: bytes START-END/SIZE`` and the bytes,
   as often as needed; the body of a zip is streamed to disk, that of a tar to its unpacking.
   ``GET /datasets/uploads/<id>`` tells the ``offset`` to go on from after an interruption (a
   chunk at another offset is a 409 that says it too).
3. ``POST /datasets/uploads/<id>/complete`` unpacks safely (:mod:`ytung_service.archives`) and
   answers the dataset (201). A refused archive leaves no dataset and no files.

A tar is unpacked while its chunks arrive (:class:`~ytung_service.datasets.Ingest`), so step 3
waits only for the tail; a tar found unsafe or damaged on the way fails the next chunk with the
reason (400) and the upload is gone. A tar is never stored as an archive: its chunks reach the
unpacking through memory; should that unpacking be lost (a restart of the service, a stall),
the ``offset`` goes back to 0 and the archive is sent again.

Permissions: reading (list, detail, download) needs ``platform:use`` or ``annotation:use`` —
annotation persons read the datasets they label; creating, editing and deleting need
``platform:use``. Another user's private dataset answers 404 everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
import zipfile
from urllib.parse import quote

from tornado import iostream, web

from .. import datasets, orm
from ..errors import DomainError
from ..i18n import N_
from ..permissions import ADMIN, ANNOTATE, USE, requires
from .base import APIHandler

_CHUNK = 1 << 20
#: a chunk's body is read from the socket once about this much of it waits there
#: (``SO_RCVLOWAT``): a proxy passes the bytes on in 64 KiB pieces, and tornado's work for each
#: read (~40 µs) made most of what receiving cost (0.7 of 1.2 CPU-s per GB)
RECEIVE_BATCH = 512 << 10
#: seconds without a byte of the body after which it is read as it comes (no batches)
BATCH_PATIENCE = 1.0


def receive_mark(sock: socket.socket, want: int) -> int:
    """Set the socket's low-water mark for reading (``SO_RCVLOWAT``) to ``want`` bytes, or to
    half its receive buffer where that cannot hold them; answers the mark set. Linux (4.18
    on) grows the buffer to hold the mark, but not one whose size was fixed (``SO_RCVBUF``),
    nor does an older kernel: with a mark above it, the socket would never be readable."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
    room = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    if room < want:
        want = max(1, room)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
    return want


class ReceiveBatches:
    """Has a request's socket wake tornado once :data:`RECEIVE_BATCH` bytes of its body wait,
    or all the body still has to bring (so that its last bytes come too); 1 (the default) once
    it is all read. What tornado holds already it hands on without waiting, and the mark is
    set again after each piece (:meth:`add`): it never exceeds what is still on its way.

    Every :data:`BATCH_PATIENCE` seconds while the body arrives: when no byte came (and
    tornado waits for bytes, not for :attr:`waiting`), the mark goes back to 1 for the rest of
    it. A slow client's bytes then count within a second, and a kernel that cannot queue a
    whole batch (small packets on Linux before 5.8) cannot leave the request waiting.
    """

    def __init__(self, sock: socket.socket, size: int):
        self.sock: socket.socket | None = sock
        self.size = size
        self.received = 0
        #: what tornado waits for instead of bytes (the unpacking making room), if anything
        self.waiting: asyncio.Future | None = None
        self._batch = RECEIVE_BATCH
        self._mark = 1  # the mark asked for
        self._seen = -1  # bytes received when _watch last looked
        self._timer: asyncio.TimerHandle | None = None
        self._set_mark()
        self._watch()

    def add(self, count: int) -> None:
        self.received += count
        self._set_mark()

    def stop(self) -> None:
        """The request is answered (maybe before its body was read) or its connection gone."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sock is not None and self._mark != 1:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        self.sock = None

    def _set_mark(self) -> None:
        want = max(1, min(self._batch, self.size - self.received))
        if self.sock is None or want == self._mark:
            return
        self._mark = want
        try:
            receive_mark(self.sock, want)
        except (OSError, AttributeError):  # closed, or no such option here: tornado's way
            self.sock = None

    def _watch(self) -> None:
        self._timer = None
        if self.sock is None or self._mark == 1:
            return
        waiting = self.waiting is not None and not self.waiting.done()
        if self.received == self._seen and not waiting:
            self._batch = 1
            self._set_mark()
            return
        self._seen = self.received
        self._timer = asyncio.get_running_loop().call_later(BATCH_PATIENCE, self._watch)


#: uploads being unpacked right now (nothing else may touch them meanwhile)
_busy: set[str] = set()
#: upload id → the request writing a chunk into it; a newer chunk request takes over (the
#: older one's client is gone, even if a proxy has not told us yet)
_writers: dict[str, UploadHandler] = {}


def _supersede_writer(upload_id: str) -> None:
    """Stop the request writing a chunk into the upload, if one is (its answer is a 409)."""
    older = _writers.get(upload_id)
    if older is not None:
        older._superseded = True
        older._close_file()


def requires_any(*permissions: str):
    """Like :func:`~ytung_service.permissions.requires`, but one of ``permissions`` suffices."""

    def decorator(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.hub_model is None:
                raise web.HTTPError(401, self.t("Authentication required"))
            if not any(p in self.platform_permissions for p in permissions):
                raise web.HTTPError(
                    403,
                    self.t(
                        "You lack the permission {permission} for this action",
                        permission=" / ".join(permissions),
                    ),
                )
            return method(self, *args, **kwargs)

        wrapper.__ytung_permissions__ = permissions
        return wrapper

    return decorator


class DatasetMixin:
    @property
    def data_dir(self) -> str:
        return self.ytung.data_dir

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.platform_permissions

    def user(self) -> orm.User:
        if self.platform_user is None:
            raise web.HTTPError(403, self.t("Datasets belong to users: call with a user's token"))
        return self.platform_user

    def find(self, dataset_id: str) -> orm.Dataset:
        return datasets.get_visible(self.db, self.user(), int(dataset_id), self.is_admin)

    def model(self, dataset: orm.Dataset, detail: bool = False) -> dict:
        return datasets.dataset_model(dataset, self.user(), detail=detail, admin=self.is_admin)

    def bool_argument(self, name: str) -> bool | None:
        value = self.get_argument(name, None)
        if value in (None, ""):
            return None
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise web.HTTPError(400, self.t("'{name}' must be true or false", name=name))


class DatasetListHandler(DatasetMixin, APIHandler):
    @requires_any(USE, ANNOTATE)
    async def get(self):
        """S2: the datasets I may see; ``?q=`` fuzzy search, ``?labeled=true`` for training."""
        found = datasets.visible(
            self.db, self.user(), labeled=self.bool_argument("labeled"), admin=self.is_admin
        )
        found = datasets.search(found, self.get_argument("q", None))
        self.write_json([self.model(d) for d in found])

    @requires(USE)
    async def post(self):
        """S1 from a server path: ``{"name", "description", "labeled", "permission", "path"}``."""
        body = self.get_json_body()
        fields = datasets.clean_fields(body, partial=False)
        roots = list(self.ytung.dataset_path_roots)
        v = await asyncio.to_thread(
            datasets.register_path,
            self.db,
            self.user(),
            body.get("path"),
            roots=roots,
            data_dir=self.data_dir,
            fields=fields,
        )
        self.write_json(self.model(v.dataset, detail=True), status=201)


class DatasetHandler(DatasetMixin, APIHandler):
    @requires_any(USE, ANNOTATE)
    async def get(self, dataset_id):
        """S3: the dataset with every version."""
        self.write_json(self.model(self.find(dataset_id), detail=True))

    @requires(USE)
    async def patch(self, dataset_id):
        dataset = datasets.update(
            self.db, self.user(), self.find(dataset_id), self.get_json_body(), self.is_admin
        )
        self.write_json(self.model(dataset, detail=True))

    @requires(USE)
    async def delete(self, dataset_id):
        datasets.delete(
            self.db, self.user(), self.find(dataset_id), data_dir=self.data_dir, admin=self.is_admin
        )
        self.set_status(204)
        self.finish()


class DatasetVersionsHandler(DatasetMixin, APIHandler):
    @requires(USE)
    async def post(self, dataset_id):
        """A new version from a server path ``{"path"}`` (uploads: ``dataset_id`` on an upload)."""
        dataset = datasets.get_changeable(self.db, self.user(), int(dataset_id), self.is_admin)
        body = self.get_json_body()
        v = await asyncio.to_thread(
            datasets.register_path,
            self.db,
            self.user(),
            body.get("path"),
            roots=list(self.ytung.dataset_path_roots),
            data_dir=self.data_dir,
            dataset_id=dataset.id,
        )
        self.write_json(self.model(v.dataset, detail=True), status=201)


class _ZipSink:
    """What :class:`zipfile.ZipFile` writes to: collects bytes for the response (not seekable,
    so zipfile writes data descriptors and never seeks back)."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.pending = 0
        self.position = 0

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.pending += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts, self.pending = [], 0
        return data


def _zip_info(src, arcname: str) -> zipfile.ZipInfo:
    """The zip entry of an open file (stat of the descriptor, not of a path)."""
    st = os.fstat(src.fileno())
    date_time = time.localtime(st.st_mtime)[:6]
    if date_time[0] < 1980:  # before the zip format's epoch
        date_time = (1980, 1, 1, 0, 0, 0)
    info = zipfile.ZipInfo(arcname, date_time)
    info.external_attr = (st.st_mode & 0xFFFF) << 16
    info.file_size = st.st_size
    info.compress_type = zipfile.ZIP_STORED
    return info


class DatasetDownloadHandler(DatasetMixin, APIHandler):
    @requires_any(USE, ANNOTATE)
    async def get(self, dataset_id):
        """A version (``?version=``, default the latest) as a zip, streamed file by file."""
        dataset = self.find(dataset_id)
        version = self.get_argument("version", None)
        if version is not None and not version.isdigit():
            raise web.HTTPError(400, self.t("'version' must be a version number"))
        v = datasets.get_version(dataset, int(version) if version else None)
        root = datasets.version_root(
            v, data_dir=self.data_dir, roots=list(self.ytung.dataset_path_roots)
        )
        filename = f"{dataset.name}-v{v.version}.zip"
        self.set_header("Content-Type", "application/zip")
        self.set_header(
            "Content-Disposition",
            f'attachment; filename="dataset-{dataset.id}-v{v.version}.zip"; '
            f"filename*=UTF-8''{quote(filename)}",
        )
        self.db.close()  # nothing more to read; do not hold a connection while streaming
        sink = _ZipSink()
        try:
            with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for path, arcname in datasets.download_files(root):
                    src = datasets.open_inside(root, path)
                    if src is None:  # changed since it was listed: not inside any more
                        continue
                    with src, zf.open(_zip_info(src, arcname), "w") as dst:
                        while chunk := src.read(_CHUNK):
                            dst.write(chunk)
                            if sink.pending >= _CHUNK:
                                self.write(sink.take())
                                await self.flush()
            self.write(sink.take())
            await self.flush()
        except iostream.StreamClosedError:
            return  # the downloader went away
        self.finish()


class UploadListHandler(DatasetMixin, APIHandler):
    @requires(USE)
    async def post(self):
        """Start an upload (step 1); answers its id and the offset to send from (0)."""
        upload = datasets.create_upload(
            self.db, self.user(), self.get_json_body(), data_dir=self.data_dir, admin=self.is_admin
        )
        self.write_json(datasets.upload_model(upload, data_dir=self.data_dir), status=201)


@web.stream_request_body
class UploadHandler(DatasetMixin, APIHandler):
    """``GET``: the offset; ``PUT``: one chunk, streamed to the upload's file (a zip) or its
    unpacking (a tar); ``DELETE``: cancel."""

    _file = None
    _start = 0
    _expected = 0
    _written = 0
    _upload_id: str | None = None
    _superseded = False
    _ingest: datasets.Ingest | None = None
    _batches: ReceiveBatches | None = None

    async def prepare(self):
        await super().prepare()
        if self.request.method != "PUT":
            return
        if USE not in self.platform_permissions:
            raise web.HTTPError(
                403, self.t("You lack the permission {permission} for this action", permission=USE)
            )
        upload = datasets.get_upload(self.db, self.user(), self.path_kwargs["upload_id"])
        start, end = datasets.parse_content_range(
            self.request.headers.get("Content-Range"), upload.size
        )
        if upload.id in _busy:
            raise web.HTTPError(409, self.t("This upload is busy with another request"))
        _supersede_writer(upload.id)
        offset = datasets.received(upload, data_dir=self.data_dir)
        if start != offset:
            raise datasets.offset_error(N_("The next chunk must start at byte {offset}"), offset)
        self._expected = end - start + 1
        length = self._content_length()
        if length is not None and length != self._expected:
            raise web.HTTPError(400, self.t("Content-Length and Content-Range disagree"))
        ingest = datasets.follow_upload(
            upload, start, data_dir=self.data_dir, limits=self.ytung.dataset_limits()
        )
        if ingest is not None and ingest.refusal() is not None:
            # the bytes so far are refused already: the rest of them will not help
            datasets.discard_upload(self.db, upload, data_dir=self.data_dir)
            raise ingest.refusal()
        self.request.connection.set_max_body_size(self._expected)
        sock = getattr(getattr(self.request.connection, "stream", None), "socket", None)
        if length is not None and sock is not None:  # a chunked body's framing: no batches
            self._batches = ReceiveBatches(sock, self._expected)
        self._upload_id = upload.id
        _writers[upload.id] = self
        self._start = start
        self._ingest = ingest
        if ingest is None:  # a zip: written to the upload's file, unpacked on completion
            self._file = open(  # noqa: SIM115
                datasets.upload_file(self.data_dir, upload.id), "r+b", buffering=0
            )
            self._file.seek(start)

    def _content_length(self) -> int | None:
        """The body's announced size, if any: ASCII digits, maybe repeated by a proxy
        (``N, N``, which tornado reads as ``N``); anything else is a 400."""
        value = self.request.headers.get("Content-Length")
        if value is None:
            return None
        pieces = {piece.strip() for piece in value.split(",")}
        digits = pieces.pop() if len(pieces) == 1 else ""
        if not (digits.isascii() and digits.isdigit()):
            raise web.HTTPError(400, self.t("Invalid Content-Length: {value}", value=value[:40]))
        return int(digits)

    def data_received(self, chunk: bytes):
        room = self._expected - self._written
        self._written += len(chunk)
        if self._batches is not None:
            self._batches.add(len(chunk))
        if room <= 0:
            return None
        view = memoryview(chunk)[:room]
        if self._ingest is not None:
            # a tar: its bytes go to the unpacking thread, never to a file; tornado reads no
            # more of the body until the future answered here resolves (the thread caught up)
            if self._ingest.feed(view):
                room = self._ingest.room()
                if self._batches is not None:
                    self._batches.waiting = room
                return room
        elif self._file is not None:
            while view:
                view = view[self._file.write(view) :]
        return None

    def _close_file(self) -> None:
        self._ingest = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._upload_id is not None:
            if _writers.get(self._upload_id) is self:
                del _writers[self._upload_id]
            self._upload_id = None

    def write_error(self, status_code: int, **kwargs) -> None:
        if self.request.method == "PUT":
            # a chunk refused before its body was read: tornado drops the connection once it
            # answered, and a proxy that kept it for its next request would fail that one (503)
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def _stop_batches(self) -> None:
        if self._batches is not None:
            self._batches.stop()
            self._batches = None

    def on_connection_close(self):
        # the bytes that arrived stay: GET tells the client where to go on from
        self._stop_batches()
        self._close_file()
        super().on_connection_close()

    def on_finish(self):
        self._stop_batches()
        self._close_file()
        super().on_finish()

    @requires(USE)
    async def put(self, upload_id):
        upload = datasets.get_upload(self.db, self.user(), upload_id)
        if self._superseded:
            raise web.HTTPError(409, self.t("A newer request took over this upload"))
        if self._written != self._expected:
            if self._ingest is not None:
                # the unpacking read what arrived: the upload starts again (offset 0)
                datasets.cancel_ingest(upload.id, "a chunk was taken back")
            elif self._file is not None:
                self._file.truncate(self._start)
            self._close_file()
            raise web.HTTPError(
                400,
                self.t(
                    "The chunk has {got} bytes; Content-Range announced {expected}",
                    got=self._written,
                    expected=self._expected,
                ),
            )
        ingest = self._ingest
        self._close_file()
        if ingest is not None and ingest.refusal() is not None:
            datasets.discard_upload(self.db, upload, data_dir=self.data_dir)
            raise ingest.refusal()
        if ingest is not None and ingest.interrupted():
            raise datasets.unpacking_lost(upload.id)
        upload.touched = orm.utcnow()
        self.db.commit()
        self.write_json(datasets.upload_model(upload, data_dir=self.data_dir))

    @requires(USE)
    async def get(self, upload_id):
        upload = datasets.get_upload(self.db, self.user(), upload_id)
        self.write_json(datasets.upload_model(upload, data_dir=self.data_dir))

    @requires(USE)
    async def delete(self, upload_id):
        upload = datasets.get_upload(self.db, self.user(), upload_id)
        if upload.id in _busy:
            raise web.HTTPError(409, self.t("This upload is busy with another request"))
        _supersede_writer(upload.id)
        datasets.discard_upload(self.db, upload, data_dir=self.data_dir)
        self.set_status(204)
        self.finish()


class UploadCompleteHandler(DatasetMixin, APIHandler):
    @requires(USE)
    async def post(self, upload_id):
        """Unpack the complete upload and create the dataset or version (step 3)."""
        user = self.user()
        upload = datasets.get_upload(self.db, user, upload_id)
        offset = datasets.received(upload, data_dir=self.data_dir)
        if offset != upload.size:  # 0 after a reset (see datasets.received)
            raise datasets.offset_error(
                N_("The upload is incomplete: {offset} of {size} bytes received"),
                offset,
                size=upload.size,
            )
        if upload.id in _busy:
            raise web.HTTPError(409, self.t("This upload is busy with another request"))
        _busy.add(upload.id)
        try:
            try:
                staged, stats = await self._unpacked(upload)
            except DomainError as e:
                if e.status == 400:
                    # a refused archive will not get better: nothing of it stays
                    datasets.discard_upload(self.db, upload, data_dir=self.data_dir)
                raise  # 409: the upload was reset, to be sent again
            v = datasets.finish_upload(self.db, user, upload, staged, stats, data_dir=self.data_dir)
        finally:
            _busy.discard(upload_id)
        self.write_json(self.model(v.dataset, detail=True), status=201)

    async def _unpacked(self, upload: orm.DatasetUpload):
        """``(staged directory, stats)``: from the ingest that followed the upload when there
        is one and it was not interrupted, else by unpacking the file now."""
        ingest = datasets.take_ingest(upload)
        if ingest is None and upload.kind in datasets.STREAMED_KINDS:
            # its unpacking ended after the offset was read: the bytes went with it
            raise datasets.unpacking_lost(upload.id)
        if ingest is not None:
            try:
                return ingest.staged, await asyncio.wrap_future(ingest.future)
            except DomainError:
                datasets.cancel_ingest(upload.id, "refused")
                raise
            except BaseException:
                # what it unpacked is gone: the upload starts again from its first byte
                raise datasets.unpacking_lost(upload.id) from None
        return await asyncio.to_thread(
            datasets.extract_upload,
            upload,
            data_dir=self.data_dir,
            limits=self.ytung.dataset_limits(),
        )


default_handlers = [
    (r"/api/v1/datasets", DatasetListHandler),
    (r"/api/v1/datasets/uploads", UploadListHandler),
    (r"/api/v1/datasets/uploads/(?P<upload_id>[0-9a-f]{32})", UploadHandler),
    (r"/api/v1/datasets/uploads/(?P<upload_id>[0-9a-f]{32})/complete", UploadCompleteHandler),
    (r"/api/v1/datasets/(?P<dataset_id>[0-9]+)", DatasetHandler),
    (r"/api/v1/datasets/(?P<dataset_id>[0-9]+)/versions", DatasetVersionsHandler),
    (r"/api/v1/datasets/(?P<dataset_id>[0-9]+)/download", DatasetDownloadHandler),
]
