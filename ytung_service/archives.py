"""Safe extraction of dataset archives (``.zip``, ``.tar``, ``.tar.gz``), streamed member by member.

:func:`archive_kind` maps a file name to its kind (or refuses it); :func:`extract` unpacks an
archive into a new directory and either finishes with every member checked and written, or
raises :class:`~ytung_service.errors.DomainError` (400) and removes what it wrote. Each member is
checked *before* anything of it is written:

- no absolute names (``/x``, ``C:\\x``), no ``..`` components, no NUL bytes;
- regular files and directories only, plus links that stay inside: a symlink's target must be
  relative and resolve inside, a hardlink must name a file already extracted; device files,
  FIFOs and encrypted zip members are refused;
- :class:`Limits`: total extracted bytes, number of files and the ratio of extracted bytes to
  archive bytes (zip bombs) are counted while writing, so lying headers do not help
  (directories count against the number of files too: they cost inodes);
- a truncated or corrupt archive, or one that is not of the kind its name says, is refused.

Files are written ``0644`` and directories ``0755`` whatever the archive says (no setuid bits).
Nothing here touches the database; the caller moves the finished directory into place.

A tar (plain or gzipped) can also be unpacked while it is still being uploaded: :func:`extract`
accepts a :class:`ChunkPipe`, into which the request handler feeds the upload's body as it
arrives; reads block until the bytes are there (or raise :class:`Interrupted` when the upload is
abandoned or stalls). The upload is then written to disk once, as the unpacked files: it never
exists as an archive file on the server.
"""

from __future__ import annotations

import collections
import errno
import io
import os
import shutil
import stat
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import DomainError

#: file name ending → archive kind (the longest ending wins: ``x.tar.gz`` is not ``.gz``)
KINDS = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar": "tar", ".zip": "zip"}

_BUFFER = 1 << 20

#: the kernel copies members of uncompressed tars (no trip through Python's memory)
_COPY_RANGE = hasattr(os, "copy_file_range")

GiB = 1 << 30
MiB = 1 << 20

#: bytes of an upload a :class:`ChunkPipe` holds before its feeder is asked to wait (memory per
#: tar upload in flight; a bigger one measured no faster)
PIPE_BUDGET = 16 * MiB
#: a member arriving through a pipe is written when this much more of it (or all) is there
_WRITE_STEP = 4 * MiB
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16


@dataclass(frozen=True)
class Limits:
    """What one archive may unpack to.

    ``max_ratio`` is extracted bytes per archive byte; it applies once more than
    ``ratio_floor_bytes`` are written, so that small, very compressible datasets still pass.
    """

    max_total_bytes: int = 50 * GiB
    max_files: int = 500_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 64 * MiB


@dataclass(frozen=True)
class ExtractStats:
    files: int
    bytes: int


class Interrupted(Exception):
    """A :class:`ChunkPipe` will not get its bytes (the upload was cancelled or stalled):
    nothing is wrong with the archive, but what was read is gone."""


class _ReadBack(Interrupted, tarfile.ReadError):
    """The reader went back to bytes it had released: a crafted archive whose headers make
    tarfile read past a member and seek back (from the finished file it would unpack). The
    same archive fails the same way when it is sent again, so this is a refusal (a
    :class:`tarfile.ReadError`, 400), not an interruption that starts the upload over."""


class ChunkPipe(io.RawIOBase):
    """An archive that an upload is sending, read from memory while it arrives.

    The request that receives the upload hands each piece of its body to :meth:`feed`;
    reads block until the bytes they ask for are fed (never past ``size``, the upload's
    declared size), so a reader sees an ordinary file of ``size`` bytes that it reads
    forward: what it gave back with :meth:`release` is dropped, and reading that again raises
    :class:`Interrupted`. Nothing is written to disk but what the reader writes.

    At most about ``budget`` bytes are held: :meth:`feed` answers ``True`` when the feeder
    should wait, and :meth:`when_room` calls back once the reader has taken half of them.
    :meth:`abort`, or ``stall`` seconds without new bytes, make a waiting read raise
    :class:`Interrupted`.
    """

    def __init__(self, size: int, *, stall: float = 600.0, budget: int = PIPE_BUDGET):
        super().__init__()
        self.name = "<upload>"
        self.size = size
        self.stall = stall
        self.budget = budget
        #: bytes fed so far: where the next piece starts
        self.fed = 0
        self._chunks: collections.deque[tuple[int, memoryview]] = collections.deque()
        self._held = 0
        self._position = 0
        self._released = 0  # reads before this offset fail
        self._wanted = 0  # the offset the reader waits for (the feeder wakes it then only)
        self._aborted: str | None = None
        self._finished = False  # the reader is done: later bytes are counted, not kept
        self._changed = threading.Condition()
        self._room_callbacks: list = []

    # -- the feeder's side ----------------------------------------------------------------
    def feed(self, data) -> bool:
        """Append ``data`` (bytes-like; kept, not copied) at offset :attr:`fed`. Answers
        whether the pipe is full (wait for :meth:`when_room` before feeding more). After an
        :meth:`abort` the bytes are dropped; after :meth:`close` (the reader is done: what
        follows the end of the archive) they are counted in :attr:`fed` and dropped."""
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return False
        with self._changed:
            if self._aborted:
                return False
            view = view[: max(0, self.size - self.fed)]
            if self._finished:
                self.fed += view.nbytes
                return False
            if view.nbytes:
                self._chunks.append((self.fed, view))
                self.fed += view.nbytes
                self._held += view.nbytes
                if self.fed >= self._wanted or self._held >= self.budget:
                    self._changed.notify_all()  # a reader waits for these, or for too much
            return self._held >= self.budget

    def when_room(self, callback) -> None:
        """Call ``callback()`` (from the reader's thread, or now) once at most half the budget
        is held, or the pipe is aborted or closed."""
        with self._changed:
            if self._aborted or self._finished or self._held <= self.budget // 2:
                now = True
            else:
                self._room_callbacks.append(callback)
                now = False
        if now:
            callback()

    def abort(self, reason: str) -> None:
        """Make waiting and later reads raise :class:`Interrupted`; drop what is held."""
        with self._changed:
            self._aborted = reason
            self._changed.notify_all()
        self._drop_all()

    def _drop_all(self) -> None:
        """Drop what is held and let a feeder waiting for room go on."""
        with self._changed:
            self._chunks.clear()
            self._held = 0
            callbacks, self._room_callbacks = self._room_callbacks, []
        for callback in callbacks:
            callback()

    # -- the reader's side ----------------------------------------------------------------
    def wait_for(self, end: int) -> None:
        """Block until the first ``end`` bytes (at most ``size``) are fed."""
        end = min(end, self.size)
        if self.fed >= end and not self._aborted:
            return  # there already (``fed`` only grows)
        with self._changed:
            while self.fed < end:
                if self._aborted:
                    raise Interrupted(self._aborted)
                if self._held >= self.budget:
                    # the feeder waits for room that only this reader can make: a header (or
                    # a gzip field) larger than the pipe, never a real member's data
                    raise tarfile.ReadError(f"a header or field longer than {self.budget} bytes")
                self._wanted = end
                if not self._changed.wait(self.stall) and self.fed < end:
                    raise Interrupted(f"no new bytes for {self.stall:g} s")
            if self._aborted:
                raise Interrupted(self._aborted)

    def release(self, end: int) -> None:
        """The reader will not read before ``end`` any more: drop what lies wholly before."""
        callbacks = []
        with self._changed:
            self._released = max(self._released, end)
            chunks = self._chunks
            while chunks and chunks[0][0] + chunks[0][1].nbytes <= end:
                self._held -= chunks.popleft()[1].nbytes
            if self._room_callbacks and self._held <= self.budget // 2:
                callbacks, self._room_callbacks = self._room_callbacks, []
        for callback in callbacks:
            callback()

    def _views(self, start: int, end: int):
        """The held pieces of ``[start, end)`` (all fed already), in order."""
        with self._changed:
            if self._aborted:
                raise Interrupted(self._aborted)
            if start < self._released or (self._chunks and start < self._chunks[0][0]):
                raise _ReadBack("the bytes asked for were already released")
            views = []
            for offset, view in self._chunks:
                if offset >= end:
                    break
                if offset + view.nbytes <= start:
                    continue
                views.append(view[max(0, start - offset) : end - offset])
            return views

    def copy_to(self, fd: int, offset: int, size: int, release=None) -> int:
        """Write ``size`` bytes at ``offset`` of the archive to ``fd`` as they arrive;
        answers the bytes written. ``release(end)``, when given, is told between pieces that
        the bytes before ``end`` are written (not after the last: the caller goes on from
        there)."""
        written = 0
        end = min(offset + size, self.size)
        position = offset
        while position < end:
            # wait for a few MiB (or the rest), then write all that is there in few system calls;
            # never for more than the feeder may send before it waits for room
            self.wait_for(min(end, position + min(_WRITE_STEP, self.budget // 4)))
            views = self._views(position, min(end, self.fed))
            while views:
                n = os.writev(fd, views[:_IOV_MAX])
                written += n
                position += n
                while views and n >= views[0].nbytes:
                    n -= views.pop(0).nbytes
                if n:
                    views[0] = views[0][n:]
            if release is not None and position < end:  # the caller releases the rest
                release(position)
        return written

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self.size - self._position)
        if want <= 0:
            return 0
        self.wait_for(self._position + want)
        target = memoryview(buffer).cast("B")
        got = 0
        for view in self._views(self._position, self._position + want):
            target[got : got + view.nbytes] = view
            got += view.nbytes
        self._position += got
        return got

    def close(self) -> None:
        """The reader is done: drop what is held, and let a feeder waiting for room go on
        (what it sends on is counted, not kept)."""
        with self._changed:
            self._finished = True
        self._drop_all()
        super().close()


def archive_kind(filename: str) -> str:
    """``zip``, ``tar`` or ``tar.gz`` for ``filename``; a 400 for any other ending."""
    lower = (filename or "").lower()
    for ending, kind in sorted(KINDS.items(), key=lambda kv: -len(kv[0])):
        if lower.endswith(ending) and len(lower) > len(ending):
            return kind
    raise DomainError(
        400,
        "Unsupported file type: {name}; upload a .zip, .tar or .tar.gz archive",
        name=filename,
    )


def member_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive member name, or a 400 if it could escape.

    >>> member_parts("./images/a.png")
    ('images', 'a.png')
    """
    if "\x00" in name:
        raise DomainError(400, "Unsafe path in the archive: {name}", name=repr(name))
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise DomainError(400, "Absolute path in the archive: {name}", name=name)
    parts = tuple(p for p in normalized.split("/") if p not in ("", "."))
    if ".." in parts:
        raise DomainError(400, "Path with '..' in the archive: {name}", name=name)
    return parts


def _link_target_inside(link_parts: tuple[str, ...], target: str) -> bool:
    """Whether a symlink at ``link_parts`` pointing to ``target`` stays inside (by its text)."""
    target = target.replace("\\", "/")
    if not target or target.startswith("/") or "\x00" in target:
        return False
    depth = len(link_parts) - 1  # the link's directory
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


class _Writer:
    """Writes members under ``root``, counting bytes and files against the limits."""

    def __init__(self, root: Path, limits: Limits, archive_size: int):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.limits = limits
        self.allowed = min(
            limits.max_total_bytes,
            max(int(limits.max_ratio * max(archive_size, 1)), limits.ratio_floor_bytes),
        )
        self.files = 0
        self.entries = 0  # files, links and directories
        self.bytes = 0
        self.links: list[Path] = []
        #: directories checked (no link on the way): path components → path
        self._dirs: dict[tuple[str, ...], Path] = {(): root}

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    def _parent(self, parts: tuple[str, ...], name: str) -> Path:
        """Create the member's parent directories, refusing any that resolve outside.

        A directory checked once stays good: nothing later can replace it by a link (a link
        member on an existing name is a duplicate)."""
        key = parts[:-1]
        known = self._dirs.get(key)
        if known is not None:
            return known
        parent = self.root.joinpath(*key)
        above = self._dirs.get(key[:-1])
        if above is not None:
            # one new directory in a checked one: made here, it is no link (the common case,
            # without resolving the whole path twice)
            try:
                os.mkdir(parent, 0o755)
            except FileExistsError:
                pass  # a member made it, or a link: the full check below
            else:
                self._dirs[key] = parent
                return parent
        if not self._inside(parent):
            raise DomainError(400, "Link escape in the archive: {name}", name=name)
        try:
            parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        except (FileExistsError, NotADirectoryError):  # a file of the archive is in the way
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name) from None
        if not self._inside(parent):
            raise DomainError(400, "Link escape in the archive: {name}", name=name)
        for i in range(1, len(key) + 1):  # remember the directories up to the first link
            prefix = key[:i]
            if prefix not in self._dirs:
                path = self.root.joinpath(*prefix)
                if os.path.islink(path):
                    break
                self._dirs[prefix] = path
        return parent

    def _count_file(self, name: str, directory: bool = False) -> None:
        if not directory:
            self.files += 1
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise DomainError(
                400,
                "The archive holds more than {limit} files",
                limit=self.limits.max_files,
            )

    def _too_big(self) -> DomainError:
        if self.allowed < self.limits.max_total_bytes:
            return DomainError(
                400,
                "The archive unpacks to more than {ratio:g} times its size (a zip bomb?)",
                ratio=self.limits.max_ratio,
            )
        return DomainError(
            400,
            "The archive unpacks to more than {limit} bytes",
            limit=self.limits.max_total_bytes,
        )

    def directory(self, name: str) -> None:
        parts = member_parts(name)
        if not parts:
            return
        path = self._parent(parts, name) / parts[-1]
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name)
        if not path.exists():
            self._count_file(name, directory=True)  # empty directories cost inodes too
        path.mkdir(exist_ok=True, mode=0o755)
        if parts[:-1] in self._dirs:  # a real directory (no link) in a checked one
            self._dirs[parts] = path

    def _create(self, name: str, declared_size: int | None) -> int:
        """Checks for a new regular file; answers its descriptor (opened for writing)."""
        parts = member_parts(name)
        if not parts:
            raise DomainError(400, "Unsafe path in the archive: {name}", name=repr(name))
        self._count_file(name)
        if declared_size is not None and self.bytes + declared_size > self.allowed:
            raise self._too_big()
        path = os.path.join(self._parent(parts, name), parts[-1])
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:  # O_EXCL: any existing name (a link too, never followed) is a duplicate
            return os.open(path, flags, 0o644)
        except FileExistsError:
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name) from None

    def file(self, name: str, stream, declared_size: int | None = None, progress=None) -> int:
        """Write one regular file from ``stream``; answers the bytes written. ``progress()``,
        when given, is called after each chunk."""
        fd = self._create(name, declared_size)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(_BUFFER)
                if not chunk:
                    break
                written += len(chunk)
                self.bytes += len(chunk)
                if self.bytes > self.allowed:
                    raise self._too_big()
                out.write(chunk)
                if progress is not None:
                    progress()
        return written

    def file_range(self, name: str, src_fd: int, offset: int, size: int) -> int:
        """Write one regular file from ``size`` bytes at ``offset`` of ``src_fd`` (an
        uncompressed tar), copied by the kernel; answers the bytes written."""
        fd = self._create(name, size)
        written = 0
        try:
            while written < size:
                count = min(size - written, 1 << 30)
                try:
                    n = os.copy_file_range(src_fd, fd, count, offset + written)
                except OSError as e:
                    if written or e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL):
                        raise
                    n = -1
                if n < 0:  # not supported here: copy through user space
                    while written < size:
                        chunk = os.pread(src_fd, min(_BUFFER, size - written), offset + written)
                        if not chunk:
                            break
                        os.write(fd, chunk)
                        written += len(chunk)
                    break
                if n == 0:
                    break  # end of the archive: truncated
                written += n
        finally:
            os.close(fd)
        self.bytes += written
        return written

    def file_from_pipe(self, name: str, pipe: ChunkPipe, offset: int, size: int, release) -> int:
        """Write one regular file from ``size`` bytes at ``offset`` of an uncompressed tar
        arriving through ``pipe``, piece by piece as they come; answers the bytes written.
        ``release(end)`` is told after each piece that the bytes before ``end`` are written."""
        fd = self._create(name, size)
        try:
            written = pipe.copy_to(fd, offset, size, release)
        finally:
            os.close(fd)
        self.bytes += written
        return written

    def symlink(self, name: str, target: str) -> None:
        parts = member_parts(name)
        if not parts or not _link_target_inside(parts, target):
            raise DomainError(
                400,
                "Link pointing outside the archive: {name} -> {target}",
                name=name,
                target=target,
            )
        self._count_file(name)
        path = self._parent(parts, name) / parts[-1]
        if os.path.lexists(path):
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name)
        os.symlink(target.replace("\\", "/"), path)
        self.links.append(path)

    def hardlink(self, name: str, target: str) -> None:
        parts = member_parts(name)
        try:
            target_parts = member_parts(target) if target else ()
        except DomainError:
            target_parts = ()
        source = self.root.joinpath(*target_parts) if target_parts else None
        if (
            not parts
            or source is None
            or not self._inside(source.parent)
            or not source.is_file()
            or source.is_symlink()
        ):
            raise DomainError(
                400,
                "Link pointing outside the archive: {name} -> {target}",
                name=name,
                target=target,
            )
        self._count_file(name)
        path = self._parent(parts, name) / parts[-1]
        if os.path.lexists(path):
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name)
        os.link(source, path)

    def check_links(self) -> None:
        """Every symlink, as finally laid out, resolves inside (later members cannot bend one out)."""
        for link in self.links:
            if not self._inside(link):
                name = str(link.relative_to(self.root))
                raise DomainError(
                    400,
                    "Link pointing outside the archive: {name} -> {target}",
                    name=name,
                    target=os.readlink(link),
                )


def extract(
    archive: Path | str | ChunkPipe, kind: str, dest: Path | str, limits: Limits | None = None
) -> ExtractStats:
    """Unpack ``archive`` (of ``kind``) into ``dest``, which must not exist yet.

    On any refusal or error ``dest`` is removed and a 400 :class:`DomainError` raised.
    ``archive`` may be a :class:`ChunkPipe` of a tar still being uploaded; when it is
    interrupted, ``dest`` is removed and :class:`Interrupted` raised.
    """
    pipe = archive if isinstance(archive, ChunkPipe) else None
    if pipe is not None and kind not in ("tar", "tar.gz"):
        raise ValueError(f"a {kind} archive cannot be unpacked while it arrives")
    dest = Path(dest)
    limits = limits or Limits()
    if pipe is None:
        archive = Path(archive)
    dest.mkdir(mode=0o755)
    writer = _Writer(dest, limits, pipe.size if pipe is not None else archive.stat().st_size)
    try:
        if pipe is not None:
            _extract_tar_from(pipe, kind, writer)
        elif kind == "zip":
            _extract_zip(archive, writer)
        elif kind in ("tar", "tar.gz"):
            _extract_tar(archive, kind, writer)
        else:
            raise DomainError(
                400,
                "Unsupported file type: {name}; upload a .zip, .tar or .tar.gz archive",
                name=archive.name,
            )
        writer.check_links()
        if writer.files == 0:
            raise DomainError(400, "The archive holds no files")
    except DomainError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in _MEMBER_ERRNOS:
            # the member's name or links are more than a file system takes: the archive's fault
            # (as a server error, an upload unpacked while it arrives would start over forever)
            name = os.path.relpath(e.filename2 or e.filename or dest, dest)
            raise DomainError(
                400, "Unsafe path in the archive: {name}", name=_shortened(name)
            ) from e
        if isinstance(e, OSError) and e.errno is not None:
            raise  # disk full, permissions: not the archive's fault
        raise DomainError(
            400,
            "The archive is damaged or not a {kind} file: {detail}",
            kind=kind,
            detail=str(e)[:300] or type(e).__name__,
        ) from e
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return ExtractStats(files=writer.files, bytes=writer.bytes)


#: errors of the file system that a member's name or links cause (too long, too many links
#: to one file, a loop of symlinks on a member's path)
_MEMBER_ERRNOS = (errno.ENAMETOOLONG, errno.EMLINK, errno.ELOOP)


def _shortened(name: str, limit: int = 200) -> str:
    return name if len(name) <= limit else name[:limit] + "…"


def _octal(field: bytes) -> int:
    """A header's number (octal digits up to a NUL); ValueError for anything else."""
    return int(field.split(b"\0", 1)[0] or b"0", 8)  # int() strips the spaces


def _text(field: bytes, encoding: str, errors: str) -> str:
    return field.split(b"\0", 1)[0].decode(encoding, errors)


class _TarInfo(tarfile.TarInfo):
    """tarfile's ``TarInfo``, read faster from the usual header: a regular file or directory
    with octal numbers and a good checksum (~20 µs less per member; a GB of images has tens
    of thousands). Any other header is tarfile's own :meth:`tarfile.TarInfo.frombuf`, and the
    attributes are the ones it sets (``test_archives`` compares both over many headers)."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        kind = buf[156:157]
        if len(buf) != tarfile.BLOCKSIZE or kind not in (tarfile.REGTYPE, tarfile.DIRTYPE):
            return super().frombuf(buf, encoding, errors)
        try:
            chksum = _octal(buf[148:156])
            if chksum != sum(buf) - sum(buf[148:156]) + 256:  # unsigned, the field as spaces
                raise ValueError("bad checksum")
            obj = cls(_text(buf[0:100], encoding, errors))
            obj.mode = _octal(buf[100:108])
            obj.uid = _octal(buf[108:116])
            obj.gid = _octal(buf[116:124])
            obj.size = _octal(buf[124:136])
            obj.mtime = _octal(buf[136:148])
            obj.linkname = _text(buf[157:257], encoding, errors)
            obj.uname = _text(buf[265:297], encoding, errors)
            obj.gname = _text(buf[297:329], encoding, errors)
            obj.devmajor = _octal(buf[329:337])
            obj.devminor = _octal(buf[337:345])
            prefix = _text(buf[345:500], encoding, errors)
        except ValueError:  # base-256 numbers, a signed checksum, bad bytes: tarfile decides
            return super().frombuf(buf, encoding, errors)
        obj.chksum = chksum
        obj.type = kind
        if kind == tarfile.DIRTYPE:
            obj.name = obj.name.rstrip("/")
        if prefix:  # ustar's long names
            obj.name = prefix + "/" + obj.name
        return obj


def _extract_tar(archive: Path, kind: str, writer: _Writer) -> None:
    with open(archive, "rb") as raw:
        _extract_tar_from(raw, kind, writer)


def _extract_tar_from(raw, kind: str, writer: _Writer) -> None:
    # random-access modes read members straight from the file (faster than the stream modes);
    # from a pipe they read in order too, so nothing is read before it has arrived, and
    # nothing is read again once passed: what lies behind is released (dropped).
    mode = "r:gz" if kind == "tar.gz" else "r:"
    pipe = raw if isinstance(raw, ChunkPipe) else None
    release = progress = None
    if pipe is not None and kind == "tar":

        def release(end: int) -> None:
            # tarfile reads the byte before the next header again (a truncation check), and
            # a member's data may end right there: that byte stays
            pipe.release(end - 1)

        def progress():
            # a sparse member is read forward through tarfile: what lies behind it is written
            release(pipe.tell())

    elif pipe is not None:
        # the gzip reader only reads on (tarfile never seeks it back): every byte it has taken
        # from the pipe is decompressed or in its memory
        def progress():
            pipe.release(pipe.tell())

    with tarfile.open(fileobj=raw, mode=mode, bufsize=_BUFFER, tarinfo=_TarInfo) as tar:
        while (member := tar.next()) is not None:
            # tarfile keeps every member it read (~450 bytes each, 200 MB for the 500,000 files
            # allowed); they are not needed again here
            tar.members.clear()
            if member.isdir():
                writer.directory(member.name)
            elif member.isreg():
                if kind == "tar" and not member.issparse() and pipe is not None:
                    written = writer.file_from_pipe(
                        member.name, pipe, member.offset_data, member.size, release
                    )
                elif kind == "tar" and not member.issparse() and _COPY_RANGE:
                    written = writer.file_range(
                        member.name, raw.fileno(), member.offset_data, member.size
                    )
                else:
                    written = writer.file(
                        member.name, tar.extractfile(member), member.size, progress
                    )
                if written != member.size:  # a truncated last member reads short
                    raise tarfile.ReadError(f"unexpected end of data in {member.name}")
            elif member.issym():
                writer.symlink(member.name, member.linkname)
            elif member.islnk():
                writer.hardlink(member.name, member.linkname)
            elif member.type in (
                tarfile.XHDTYPE,
                tarfile.XGLTYPE,
                tarfile.GNUTYPE_LONGNAME,
                tarfile.GNUTYPE_LONGLINK,
            ):
                continue
            else:
                raise DomainError(
                    400,
                    "Unsupported entry in the archive (device, FIFO…): {name}",
                    name=member.name,
                )
            if release is not None:
                release(tar.offset)  # where the next header starts
            elif progress is not None:
                progress()


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > writer.allowed:
            raise writer._too_big()
        if len(infos) > writer.limits.max_files:
            raise DomainError(
                400, "The archive holds more than {limit} files", limit=writer.limits.max_files
            )
        for info in infos:
            if info.flag_bits & 0x1:
                raise DomainError(
                    400, "Encrypted archives are not supported: {name}", name=info.filename
                )
            mode = info.external_attr >> 16
            if info.is_dir():
                writer.directory(info.filename)
            elif stat.S_ISLNK(mode):
                if info.file_size > 4096:
                    raise DomainError(400, "Unsafe path in the archive: {name}", name=info.filename)
                target = zf.read(info).decode("utf-8", "replace")
                writer.symlink(info.filename, target)
            elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise DomainError(
                    400,
                    "Unsupported entry in the archive (device, FIFO…): {name}",
                    name=info.filename,
                )
            else:
                with zf.open(info) as stream:
                    writer.file(info.filename, stream, info.file_size)


def tree_stats(root: Path | str) -> ExtractStats:
    """Files and bytes below ``root`` (symlinks counted, not followed)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            files += 1
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                size += st.st_size
    return ExtractStats(files=files, bytes=size)
