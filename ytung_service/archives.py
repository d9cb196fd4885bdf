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
accepts a :class:`GrowingFile`, which reads the upload's file as its bytes arrive and blocks
until they do (or raises :class:`Interrupted` when the upload is abandoned, rewritten or stalls;
the caller then unpacks the finished file as usual). Given a ``punch_marker``, it also punches
the bytes the extraction has consumed out of the upload's file (``fallocate`` with
``FALLOC_FL_PUNCH_HOLE``), so that the upload is not written to disk a second time: its dirty
pages are dropped before writeback. The marker file, written durably before the first hole, says
that the upload's file alone can no longer be unpacked (see :meth:`GrowingFile.release`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
#: bytes of a member copied at once while following a growing upload
_FOLLOW_STEP = 8 << 20

#: the kernel copies members of uncompressed tars (no trip through Python's memory)
_COPY_RANGE = hasattr(os, "copy_file_range")

GiB = 1 << 30
MiB = 1 << 20

#: consumed bytes are punched out of a growing upload in steps of at least this many bytes,
#: cut at multiples of :data:`_PUNCH_ALIGN` (whole pages, whole extents)
_PUNCH_STEP = 8 << 20
_PUNCH_ALIGN = 1 << 20
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def _libc_fallocate():
    """libc's ``fallocate`` (64-bit offsets), or ``None`` where there is none (not Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


_fallocate = _libc_fallocate()


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate ``length`` bytes at ``offset`` of ``fd`` (they read back as zeros; the file's
    size stays). ``False`` where the system or the filesystem cannot (nothing changed then);
    other errors raise :class:`OSError`."""
    if _fallocate is None or length <= 0:
        return _fallocate is not None
    mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    if _fallocate(fd, mode, offset, length) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code))


def _write_durably(path: Path) -> None:
    """Create ``path`` and make it (and its name in its directory) survive a crash."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"punched\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    """A :class:`GrowingFile` will not get its bytes (the upload was cancelled, rewritten or
    stalled): nothing is wrong with the archive, so the caller may unpack the finished file."""


class GrowingFile(io.RawIOBase):
    """The archive an upload is writing, read while it grows.

    The writer calls :meth:`advance` with the number of bytes on disk; reads block until the
    bytes they ask for (never past ``size``, the upload's declared size) are there, so a reader
    sees an ordinary file of ``size`` bytes. :meth:`abort`, or ``stall`` seconds without new
    bytes, make a waiting read raise :class:`Interrupted`.

    With a ``punch_marker`` path, :meth:`release` punches what the reader is done with out of the
    file (the reader calls it; it never reads those bytes again).
    """

    def __init__(
        self,
        path: Path | str,
        size: int,
        *,
        stall: float = 600.0,
        punch_marker: Path | str | None = None,
    ):
        super().__init__()
        self.name = str(path)
        self.size = size
        self.stall = stall
        self.punch_marker = Path(punch_marker) if punch_marker is not None else None
        # punching needs a descriptor open for writing
        self._fd = os.open(path, os.O_RDWR if punch_marker is not None else os.O_RDONLY)
        self._position = 0
        self._available = 0
        self._aborted: str | None = None
        self._changed = threading.Condition()
        #: bytes [0, punched) are holes now; ``_punching`` is held while one is made
        self.punched = 0
        self._can_punch = punch_marker is not None and _fallocate is not None
        self._marked = False
        self._punching = threading.Lock()

    # -- the writer's side ----------------------------------------------------------------
    def advance(self, available: int) -> None:
        """``available`` bytes are written (from the start of the file)."""
        with self._changed:
            if available > self._available:
                self._available = available
                self._changed.notify_all()

    def abort(self, reason: str) -> None:
        """Make waiting and later reads raise :class:`Interrupted`; once this returns, no hole
        is punched any more (the caller may truncate or remove the file)."""
        with self._changed:
            self._aborted = reason
            self._changed.notify_all()
        with self._punching:
            pass  # a hole being punched right now is finished

    # -- giving back consumed bytes -------------------------------------------------------
    def release(self, end: int) -> None:
        """The reader will not read before ``end`` any more: punch ``[punched, end)`` out of the
        file (cut down to whole MiB, in steps of at least 8 MiB) without changing its size.

        The marker is written and synced before the first hole: from then on the file alone
        cannot be unpacked, and whoever finds the marker without this reader alive must have
        the upload sent again. Where holes cannot be punched nothing happens (and no marker
        stays)."""
        if not self._can_punch:
            return
        end = min(end, self._available) // _PUNCH_ALIGN * _PUNCH_ALIGN
        if end - self.punched < _PUNCH_STEP:
            return
        with self._punching:
            if self._aborted or not self._can_punch:
                return
            if not self._marked:
                _write_durably(self.punch_marker)
                self._marked = True
            if not punch_hole(self._fd, self.punched, end - self.punched):
                self._can_punch = False
                if self.punched == 0:  # nothing punched: the file is whole after all
                    self.punch_marker.unlink(missing_ok=True)
                    self._marked = False
                return
            self.punched = end

    # -- the reader's side ----------------------------------------------------------------
    def wait_for(self, end: int) -> None:
        """Block until the first ``end`` bytes (at most ``size``) are written."""
        end = min(end, self.size)
        with self._changed:
            while self._available < end:
                if self._aborted:
                    raise Interrupted(self._aborted)
                if not self._changed.wait(self.stall) and self._available < end:
                    raise Interrupted(f"no new bytes for {self.stall:g} s")
            if self._aborted:
                raise Interrupted(self._aborted)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

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
        if self._position < self.punched:  # a reader going back: those bytes are zeros now
            raise Interrupted("the bytes asked for were already released")
        self.wait_for(self._position + want)
        view = memoryview(buffer)
        got = 0
        while got < want:
            n = os.preadv(self._fd, [view[got:want]], self._position + got)
            if n == 0:  # the file is shorter than announced (truncated behind our back)
                raise Interrupted("the upload's file shrank")
            got += n
        self._position += got
        return got

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
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
    parts = tuple(p for p in PurePosixPath(normalized).parts if p not in ("", "."))
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
        self._dirs: set[tuple[str, ...]] = {()}

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    def _parent(self, parts: tuple[str, ...], name: str) -> Path:
        """Create the member's parent directories, refusing any that resolve outside.

        A directory checked once stays good: nothing later can replace it by a link (a link
        member on an existing name is a duplicate)."""
        key = parts[:-1]
        parent = self.root.joinpath(*key)
        if key in self._dirs:
            return parent
        if not self._inside(parent):
            raise DomainError(400, "Link escape in the archive: {name}", name=name)
        parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if not self._inside(parent):
            raise DomainError(400, "Link escape in the archive: {name}", name=name)
        if not any(os.path.islink(self.root.joinpath(*key[:i])) for i in range(1, len(key) + 1)):
            self._dirs.add(key)
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

    def _create(self, name: str, declared_size: int | None) -> int:
        """Checks for a new regular file; answers its descriptor (opened for writing)."""
        parts = member_parts(name)
        if not parts:
            raise DomainError(400, "Unsafe path in the archive: {name}", name=repr(name))
        self._count_file(name)
        if declared_size is not None and self.bytes + declared_size > self.allowed:
            raise self._too_big()
        path = self._parent(parts, name) / parts[-1]
        if os.path.lexists(path):
            raise DomainError(400, "Duplicate entry in the archive: {name}", name=name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        return os.open(path, flags, 0o644)

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

    def file_range(
        self, name: str, src_fd: int, offset: int, size: int, wait=None, release=None
    ) -> int:
        """Write one regular file from ``size`` bytes at ``offset`` of ``src_fd`` (an
        uncompressed tar), copied by the kernel; answers the bytes written. ``wait(end)``, when
        given, blocks until the source holds its first ``end`` bytes (a growing upload): the
        copy follows the upload in steps instead of waiting for the whole member.
        ``release(end)``, when given, is told after each step that the source's bytes before
        ``end`` are copied."""
        fd = self._create(name, size)
        written = 0
        try:
            while written < size:
                count = min(size - written, 1 << 30)
                if wait is not None:
                    count = min(count, _FOLLOW_STEP)
                    wait(offset + written + count)
                try:
                    n = os.copy_file_range(src_fd, fd, count, offset + written)
                except OSError as e:
                    if written or e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL):
                        raise
                    n = -1
                if n < 0:  # not supported here: copy through user space
                    while written < size:
                        step = min(_BUFFER, size - written)
                        if wait is not None:
                            wait(offset + written + step)
                        chunk = os.pread(src_fd, step, offset + written)
                        if not chunk:
                            break
                        os.write(fd, chunk)
                        written += len(chunk)
                        self.bytes += len(chunk)
                    break
                if n == 0:
                    break  # end of the archive: truncated
                written += n
                self.bytes += n
                if self.bytes > self.allowed:
                    raise self._too_big()
                if release is not None:
                    release(offset + written)
        finally:
            os.close(fd)
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
    archive: Path | str | GrowingFile, kind: str, dest: Path | str, limits: Limits | None = None
) -> ExtractStats:
    """Unpack ``archive`` (of ``kind``) into ``dest``, which must not exist yet.

    On any refusal or error ``dest`` is removed and a 400 :class:`DomainError` raised.
    ``archive`` may be a :class:`GrowingFile` of a tar still being uploaded; when it is
    interrupted, ``dest`` is removed and :class:`Interrupted` raised.
    """
    growing = archive if isinstance(archive, GrowingFile) else None
    if growing is not None and kind not in ("tar", "tar.gz"):
        raise ValueError(f"a {kind} archive cannot be unpacked while it arrives")
    archive = Path(growing.name if growing else archive)
    dest = Path(dest)
    limits = limits or Limits()
    dest.mkdir(mode=0o755)
    writer = _Writer(dest, limits, growing.size if growing else archive.stat().st_size)
    try:
        if kind == "zip":
            _extract_zip(archive, writer)
        elif growing is not None:
            _extract_tar_from(growing, kind, writer, wait=growing.wait_for, growing=growing)
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


def _extract_tar(archive: Path, kind: str, writer: _Writer) -> None:
    with open(archive, "rb") as raw:
        _extract_tar_from(raw, kind, writer)


def _extract_tar_from(
    raw, kind: str, writer: _Writer, wait=None, growing: GrowingFile | None = None
) -> None:
    # random-access modes read members straight from the file (faster than the stream modes);
    # on a growing file they read in order too, so nothing is read before it has arrived, and
    # nothing is read again once passed: what lies behind can be released (punched out).
    mode = "r:gz" if kind == "tar.gz" else "r:"
    release = progress = None
    if growing is not None and kind == "tar":

        def release(end: int) -> None:
            # tarfile reads the byte before the next header again (a truncation check), and
            # a member's data may end right there: that byte stays
            growing.release(end - 1)

    elif growing is not None:
        # the gzip reader only reads on (tarfile never seeks it back): every byte it has taken
        # from the file is decompressed or in its memory
        def progress():
            growing.release(growing.tell())

    with tarfile.open(fileobj=raw, mode=mode, bufsize=_BUFFER) as tar:
        for member in tar:
            if member.isdir():
                writer.directory(member.name)
            elif member.isreg():
                if kind == "tar" and not member.issparse() and _COPY_RANGE:
                    written = writer.file_range(
                        member.name, raw.fileno(), member.offset_data, member.size, wait, release
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
