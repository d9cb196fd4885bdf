"""Safe extraction (ytung_service/archives.py) against crafted malicious and broken archives.

Every refusal must leave nothing behind: not the destination, not a file outside it. Every tar
refusal is checked twice: from the finished file, and while the archive is still arriving (a
:class:`ChunkPipe` that another thread feeds a few bytes at a time, as an upload's request
handler does).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ytung_service.archives import (
    ChunkPipe,
    Interrupted,
    Limits,
    archive_kind,
    extract,
    member_parts,
)
from ytung_service.errors import DomainError


# -- building archives ------------------------------------------------------------------------
def tar_with(path: Path, members: list[tuple], mode: str = "w") -> Path:
    """``members``: ``(name, bytes)`` files, ``(name, "dir")``, ``(name, "sym", target)``,
    ``(name, "hard", target)``, ``(name, "fifo")``."""
    with tarfile.open(path, mode) as tar:
        for member in members:
            name, what = member[0], member[1]
            info = tarfile.TarInfo(name)
            if isinstance(what, bytes):
                info.size = len(what)
                tar.addfile(info, io.BytesIO(what))
                continue
            if what == "dir":
                info.type = tarfile.DIRTYPE
            elif what == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, member[2]
            elif what == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, member[2]
            elif what == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return path


def zip_with(path: Path, members: list[tuple], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for member in members:
            name, what = member[0], member[1]
            if what == "sym":
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, member[2])
            else:
                zf.writestr(name, what)
    return path


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "root" / "out"


class Feeder:
    """Feeds the bytes of ``archive`` into a :class:`ChunkPipe` ``step`` at a time from a
    thread, as an upload's request handler does, waiting while the pipe is full (``upto``: stop
    there, as an upload that stalls)."""

    def __init__(self, pipe: ChunkPipe, archive: Path, step: int = 8192, upto: int | None = None):
        self.pipe, self.step = pipe, step
        self.data = archive.read_bytes()
        self.upto = pipe.size if upto is None else upto
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)

    def _feed(self) -> None:
        for start in range(0, self.upto, self.step):
            if self.stop.is_set():
                return
            if self.pipe.feed(self.data[start : min(start + self.step, self.upto)]):
                room = threading.Event()
                self.pipe.when_room(room.set)
                while not room.wait(0.05):
                    if self.stop.is_set():
                        return
            time.sleep(0)  # let the reader run

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def extract_growing(archive: Path, kind: str, dest: Path, limits: Limits | None = None, **feed):
    """:func:`extract` of ``archive`` while its bytes are still arriving."""
    pipe = ChunkPipe(archive.stat().st_size, stall=30, budget=256 << 10)
    try:
        with Feeder(pipe, archive, **feed):
            return extract(pipe, kind, dest, limits)
    finally:
        pipe.close()


def refused(archive: Path, kind: str, dest: Path, match: str, limits: Limits | None = None):
    outside_before = (
        sorted(p.name for p in dest.parent.parent.iterdir()) if dest.parent.parent.exists() else []
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(DomainError) as e:
        extract(archive, kind, dest, limits)
    assert e.value.status == 400
    assert match in str(e.value), e.value
    assert not dest.exists(), "a refused archive must leave nothing"
    assert sorted(p.name for p in dest.parent.iterdir()) == []
    after = sorted(p.name for p in dest.parent.parent.iterdir())
    assert set(after) - set(outside_before) <= {"root"}
    if kind in ("tar", "tar.gz"):  # the same refusal while the archive is still arriving
        with pytest.raises(DomainError) as again:
            extract_growing(archive, kind, dest, limits)
        assert again.value.status == 400
        assert match in str(again.value), again.value
        assert not dest.exists(), "a refused archive must leave nothing"
        assert sorted(p.name for p in dest.parent.parent.iterdir()) == after
    return e.value


# -- the file name ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, kind",
    [
        ("data.zip", "zip"),
        ("DATA.ZIP", "zip"),
        ("a.tar", "tar"),
        ("a.tar.gz", "tar.gz"),
        ("a.tgz", "tar.gz"),
        ("my.data.v2.tar.gz", "tar.gz"),
    ],
)
def test_archive_kind(name, kind):
    assert archive_kind(name) == kind


@pytest.mark.parametrize("name", ["a.rar", "a.gz", "a.7z", "zip", ".zip", "a.tar.bz2", "", "a"])
def test_wrong_extension_is_refused(name):
    with pytest.raises(DomainError) as e:
        archive_kind(name)
    assert e.value.status == 400 and "Unsupported file type" in e.value.message


def test_member_parts():
    assert member_parts("./images/a.png") == ("images", "a.png")
    assert member_parts("a//b/") == ("a", "b")
    for bad in ("/etc/passwd", "../x", "a/../../x", "C:\\x", "a\\..\\..\\x", "a\x00b"):
        with pytest.raises(DomainError):
            member_parts(bad)


# -- good archives ----------------------------------------------------------------------------
@pytest.mark.parametrize("growing", [False, True], ids=["file", "growing"])
@pytest.mark.parametrize("kind, mode", [("tar", "w"), ("tar.gz", "w:gz")])
def test_tar_extracts_files_dirs_and_inside_links(tmp_path, dest, kind, mode, growing):
    archive = tar_with(
        tmp_path / f"good.{kind}",
        [
            ("data", "dir"),
            ("data/a.txt", b"alpha"),
            ("data/sub/b.txt", b"beta" * 1000),
            ("data/latest", "sym", "sub/b.txt"),
            ("data/sub/up", "sym", "../a.txt"),
            ("data/copy.txt", "hard", "data/a.txt"),
        ],
        mode,
    )
    dest.parent.mkdir(parents=True)
    stats = (extract_growing if growing else extract)(archive, kind, dest)
    assert (dest / "data/a.txt").read_bytes() == b"alpha"
    assert (dest / "data/latest").read_bytes() == b"beta" * 1000
    assert (dest / "data/sub/up").read_bytes() == b"alpha"
    assert (dest / "data/copy.txt").read_bytes() == b"alpha"
    assert stats.files == 5 and stats.bytes == 5 + 4000
    assert stat.S_IMODE((dest / "data/a.txt").stat().st_mode) == 0o644


def test_zip_extracts(tmp_path, dest):
    archive = zip_with(
        tmp_path / "good.zip",
        [
            ("imgs/", b""),
            ("imgs/1.png", b"\x89PNG" * 10),
            ("labels.json", b"{}"),
            ("l", "sym", "labels.json"),
        ],
    )
    dest.parent.mkdir(parents=True)
    stats = extract(archive, "zip", dest)
    assert (dest / "imgs/1.png").read_bytes() == b"\x89PNG" * 10
    assert (dest / "l").is_symlink() and (dest / "l").read_bytes() == b"{}"
    assert stats.files == 3


def test_setuid_bits_are_dropped(tmp_path, dest):
    archive = tmp_path / "suid.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("run.sh")
        info.size, info.mode = 2, 0o6777
        tar.addfile(info, io.BytesIO(b"#!"))
    dest.parent.mkdir(parents=True)
    extract(archive, "tar", dest)
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o644


# -- malicious archives -----------------------------------------------------------------------
def test_zip_slip(tmp_path, dest):
    archive = zip_with(tmp_path / "slip.zip", [("ok.txt", b"x"), ("../../evil.txt", b"pwned")])
    refused(archive, "zip", dest, "'..'")
    assert not (tmp_path / "evil.txt").exists()


def test_tar_slip(tmp_path, dest):
    archive = tar_with(tmp_path / "slip.tar", [("a/../../evil.txt", b"pwned")])
    refused(archive, "tar", dest, "'..'")


@pytest.mark.parametrize("name", ["/tmp/ytung-evil.txt", "\\\\server\\x", "C:/evil.txt"])
def test_absolute_paths(tmp_path, dest, name):
    archive = zip_with(tmp_path / "abs.zip", [(name, b"pwned")])
    # zipfile itself strips a leading "/" when writing; write the raw name
    if name.startswith("/"):
        archive = tar_with(tmp_path / "abs.tar", [(name, b"pwned")])
        refused(archive, "tar", dest, "Absolute path")
        assert not Path(name).exists()
    else:
        refused(archive, "zip", dest, "Absolute path")


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../outside", "a/../../x", ""])
def test_symlink_escapes(tmp_path, dest, target):
    archive = tar_with(tmp_path / "sym.tar", [("link", "sym", target), ("link/pwned", b"x")])
    refused(archive, "tar", dest, "Link pointing outside")


def test_symlink_escape_in_zip(tmp_path, dest):
    archive = zip_with(tmp_path / "sym.zip", [("link", "sym", "/etc")])
    refused(archive, "zip", dest, "Link pointing outside")


def test_symlink_bent_out_by_a_later_link(tmp_path, dest):
    """Each link looks inside by its text, but together they point out (s -> ., t -> s/../x)."""
    archive = tar_with(
        tmp_path / "bent.tar",
        [("t", "sym", "s/../x"), ("s", "sym", "."), ("t2", "dir")],
    )
    refused(archive, "tar", dest, "Link pointing outside")


def test_writing_through_an_escaping_directory_link(tmp_path, dest):
    outside = tmp_path / "root" / "x"
    archive = tar_with(
        tmp_path / "through.tar",
        [("t", "sym", "s/../x"), ("s", "sym", "."), ("t/evil.txt", b"pwned")],
    )
    dest.parent.mkdir(parents=True)
    with pytest.raises(DomainError) as e:
        extract(archive, "tar", dest)
    assert "Link escape" in str(e.value) or "outside" in str(e.value)
    assert not dest.exists() and not outside.exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt", "missing.txt", "dir"])
def test_hardlink_escapes(tmp_path, dest, target):
    archive = tar_with(tmp_path / "hard.tar", [("dir", "dir"), ("h", "hard", target)])
    refused(archive, "tar", dest, "Link pointing outside")


def test_hardlink_through_a_symlink_is_refused(tmp_path, dest):
    (tmp_path / "secret.txt").write_text("secret")
    archive = tar_with(
        tmp_path / "hard2.tar", [("s", "sym", "."), ("h", "hard", "s/s/../secret.txt")]
    )
    refused(archive, "tar", dest, "")


def test_device_and_fifo_are_refused(tmp_path, dest):
    archive = tar_with(tmp_path / "fifo.tar", [("ok.txt", b"x"), ("pipe", "fifo")])
    refused(archive, "tar", dest, "Unsupported entry")


def test_zip_bomb_ratio(tmp_path, dest):
    archive = zip_with(tmp_path / "bomb.zip", [("zeros.bin", b"\0" * (8 << 20))])
    assert archive.stat().st_size < 20_000
    limits = Limits(max_ratio=50, ratio_floor_bytes=1 << 20)
    refused(archive, "zip", dest, "zip bomb", limits)


def test_gzip_bomb_ratio_is_counted_while_writing(tmp_path, dest):
    archive = tar_with(tmp_path / "bomb.tar.gz", [("zeros.bin", b"\0" * (8 << 20))], "w:gz")
    limits = Limits(max_ratio=50, ratio_floor_bytes=1 << 20)
    refused(archive, "tar.gz", dest, "zip bomb", limits)


def test_zip_with_lying_sizes_is_stopped_by_counting(tmp_path, dest):
    """A central directory that understates sizes: the bytes written are counted anyway."""
    archive = zip_with(tmp_path / "liar.zip", [("zeros.bin", b"\0" * (4 << 20))])
    data = bytearray(archive.read_bytes())
    # patch the uncompressed size in the central directory entry to 10 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    limits = Limits(max_total_bytes=1 << 20, ratio_floor_bytes=1 << 20)
    err = refused(archive, "zip", dest, "", limits)
    assert "more than" in str(err) or "damaged" in str(err)


def test_total_size_limit(tmp_path, dest):
    archive = tar_with(
        tmp_path / "big.tar", [("a", os.urandom(600_000)), ("b", os.urandom(600_000))]
    )
    refused(archive, "tar", dest, "more than 1000000 bytes", Limits(max_total_bytes=1_000_000))


def test_too_many_files(tmp_path, dest):
    archive = zip_with(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(30)])
    refused(archive, "zip", dest, "more than 20 files", Limits(max_files=20))
    tar = tar_with(tmp_path / "many.tar", [(f"f{i}.txt", b"x") for i in range(30)])
    refused(tar, "tar", dest, "more than 20 files", Limits(max_files=20))


def test_empty_directories_count_against_the_file_limit(tmp_path, dest):
    """A tar of empty directories (no bytes, only inodes) is held to ``max_files`` too."""
    tar = tar_with(tmp_path / "dirs.tar", [(f"d{i}", "dir") for i in range(30)] + [("f", b"x")])
    refused(tar, "tar", dest, "more than 20 files", Limits(max_files=20))
    ok = tar_with(tmp_path / "few.tar", [("d", "dir"), ("d/", "dir"), ("d/f", b"x")])
    assert extract(ok, "tar", tmp_path / "few").files == 1  # directories are no files


# -- broken archives --------------------------------------------------------------------------
def test_truncated_tar_gz(tmp_path, dest):
    archive = tar_with(tmp_path / "t.tar.gz", [("a.bin", os.urandom(200_000))], "w:gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    refused(archive, "tar.gz", dest, "damaged")


def test_truncated_tar(tmp_path, dest):
    archive = tar_with(tmp_path / "t.tar", [("a.bin", os.urandom(200_000))])
    data = archive.read_bytes()
    archive.write_bytes(data[:100_000])
    refused(archive, "tar", dest, "damaged")


def test_truncated_zip(tmp_path, dest):
    archive = zip_with(tmp_path / "t.zip", [("a.bin", os.urandom(200_000))])
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 30])
    refused(archive, "zip", dest, "damaged")


def test_corrupt_zip_data_fails_the_crc(tmp_path, dest):
    archive = zip_with(tmp_path / "crc.zip", [("a.txt", b"hello world" * 100)], zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    data[40] ^= 0xFF  # inside the stored data
    archive.write_bytes(bytes(data))
    refused(archive, "zip", dest, "damaged")


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_not_an_archive_at_all(tmp_path, dest, kind):
    archive = tmp_path / f"fake.{kind}"
    archive.write_bytes(b"this is a text file, not an archive\n" * 50)
    refused(archive, kind, dest, "damaged")


def test_zip_named_tar_gz_is_refused(tmp_path, dest):
    archive = zip_with(tmp_path / "real.zip", [("a.txt", b"x")])
    refused(archive, "tar.gz", dest, "damaged")


def test_empty_archive(tmp_path, dest):
    archive = tar_with(tmp_path / "empty.tar", [("only-a-dir", "dir")])
    refused(archive, "tar", dest, "no files")


def test_duplicate_entries(tmp_path, dest):
    archive = tar_with(tmp_path / "dup.tar", [("a.txt", b"1"), ("a.txt", b"2")])
    refused(archive, "tar", dest, "Duplicate")


# -- unpacking while the archive arrives ------------------------------------------------------
@pytest.mark.parametrize("kind, mode", [("tar", "w"), ("tar.gz", "w:gz")])
def test_a_growing_tar_is_unpacked_as_far_as_its_bytes_arrived(tmp_path, dest, kind, mode):
    """Members are written while later bytes are missing; nothing is read past what arrived."""
    first, big = os.urandom(300_000), os.urandom(3 << 20)
    archive = tar_with(tmp_path / f"g.{kind}", [("first.bin", first), ("big/last.bin", big)], mode)
    size = archive.stat().st_size
    half = size // 2
    dest.parent.mkdir(parents=True)
    pipe = ChunkPipe(size, stall=30)
    result: dict = {}

    def run():
        try:
            result["stats"] = extract(pipe, kind, dest)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    reader = threading.Thread(target=run)
    with Feeder(pipe, archive, step=65536, upto=half):
        reader.start()
        deadline = time.monotonic() + 30
        while not (
            (dest / "first.bin").is_file() and (dest / "first.bin").stat().st_size == 300_000
        ):
            assert reader.is_alive() and time.monotonic() < deadline, result
            time.sleep(0.01)
    assert reader.is_alive(), "the reader must wait for the missing bytes"
    assert not result
    pipe.feed(archive.read_bytes()[half:])
    reader.join(30)
    pipe.close()
    assert result["stats"].files == 2 and result["stats"].bytes == len(first) + len(big)
    assert (dest / "first.bin").read_bytes() == first
    assert (dest / "big/last.bin").read_bytes() == big


def test_an_unsafe_member_is_refused_before_the_rest_arrives(tmp_path, dest):
    archive = tar_with(
        tmp_path / "slip.tar",
        [("ok.bin", os.urandom(100_000)), ("../evil.txt", b"x"), ("tail.bin", os.urandom(2 << 20))],
    )
    dest.parent.mkdir(parents=True)
    with pytest.raises(DomainError, match="'..'"):
        # the bytes stop after the bad member's header: the refusal needs no more
        extract_growing(archive, "tar", dest, upto=110_000)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("how", ["abort", "stall"])
@pytest.mark.parametrize("kind, mode", [("tar", "w"), ("tar.gz", "w:gz")])
def test_an_interrupted_upload_leaves_nothing_half_unpacked(tmp_path, dest, kind, mode, how):
    archive = tar_with(
        tmp_path / f"i.{kind}", [(f"f{i}.bin", os.urandom(200_000)) for i in range(10)], mode
    )
    dest.parent.mkdir(parents=True)
    size = archive.stat().st_size
    pipe = ChunkPipe(size, stall=0.2 if how == "stall" else 30)
    pipe.feed(archive.read_bytes()[: size // 2])
    if how == "abort":
        threading.Timer(0.2, pipe.abort, ["cancelled"]).start()
    with pytest.raises(Interrupted, match="cancelled" if how == "abort" else "no new bytes"):
        extract(pipe, kind, dest)
    pipe.close()
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_a_pipe_reads_like_the_finished_file_forward(tmp_path):
    data = os.urandom(100_000)
    pipe = ChunkPipe(90_000, stall=5)  # declared smaller: what comes after is dropped
    for at in range(0, len(data), 7_000):
        pipe.feed(data[at : at + 7_000])
    assert pipe.fed == 90_000
    assert pipe.read(10) == data[:10]
    pipe.seek(50_000)
    assert pipe.tell() == 50_000 and pipe.read(20) == data[50_000:50_020]
    pipe.seek(-5, os.SEEK_END)
    assert pipe.read() == data[89_995:90_000] and pipe.read(10) == b""
    pipe.release(60_000)  # what lies before is gone: reading it again is an error, not zeros
    pipe.seek(10)
    with pytest.raises(Interrupted, match="released"):
        pipe.read(10)
    pipe.seek(63_000)
    assert pipe.read(10) == data[63_000:63_010]
    pipe.abort("gone")
    with pytest.raises(Interrupted, match="gone"):
        pipe.read(1)
    assert pipe.feed(b"more") is False and pipe._held == 0
    pipe.close()


def test_a_full_pipe_asks_its_feeder_to_wait_until_the_reader_took_half():
    pipe = ChunkPipe(10_000, budget=4_000)
    calls = []
    assert pipe.feed(b"a" * 3_000) is False
    assert pipe.feed(b"b" * 2_000) is True  # 5,000 held: over the budget
    pipe.when_room(lambda: calls.append("room"))
    assert calls == []
    pipe.release(1_000)  # inside the first piece: nothing can be dropped yet
    assert calls == [] and pipe._held == 5_000
    pipe.release(3_000)  # the first piece is dropped: 2,000 held, half the budget
    assert calls == ["room"] and pipe._held == 2_000
    pipe.when_room(lambda: calls.append("now"))  # room already: called at once
    assert calls == ["room", "now"]
    pipe.feed(b"c" * 3_000)
    pipe.when_room(lambda: calls.append("aborted"))
    pipe.abort("cancelled")  # a feeder waiting for room is let go
    assert calls[-1] == "aborted"


def test_memory_held_while_unpacking_stays_bounded(tmp_path, dest):
    """A 24 MB tar through a 1 MB pipe: the feeder waits, the reader drops what it wrote, and
    the pipe never holds much more than its budget."""
    members = [(f"d/f{i}.bin", os.urandom(3 << 20)) for i in range(8)] + [("s.txt", b"hi")]
    archive = tar_with(tmp_path / "m.tar", members)
    pipe = ChunkPipe(archive.stat().st_size, stall=30, budget=1 << 20)
    held = []
    real_feed = pipe.feed

    def feed(data):
        full = real_feed(data)
        held.append(pipe._held)
        return full

    pipe.feed = feed
    dest.parent.mkdir(parents=True)
    with Feeder(pipe, archive, step=256 << 10):
        stats = extract(pipe, "tar", dest)
    assert stats.files == 9
    assert all((dest / name).read_bytes() == data for name, data in members)
    assert max(held) <= (1 << 20) + (256 << 10), max(held)


@pytest.mark.parametrize(
    "members",
    [
        [("a", b"file"), ("a/b.txt", b"under a file")],
        [("a", b"file"), ("a/b/c.txt", b"deeper under a file")],
        [("d/x", b"1"), ("d/x/y", b"2")],
        [("a.txt", b"1"), ("a.txt", "dir")],
        [("d", "dir"), ("d", b"a file on a directory")],
    ],
    ids=["file-then-child", "file-then-grandchild", "nested", "file-then-dir", "dir-then-file"],
)
def test_a_member_under_or_on_another_is_a_clear_refusal(tmp_path, dest, members):
    """Not a server error: the archive is at fault, and nothing of it stays."""
    archive = tar_with(tmp_path / "clash.tar", members)
    refused(archive, "tar", dest, "Duplicate")
    zipped = zip_with(
        tmp_path / "clash.zip",
        [(n + "/", b"") if d == "dir" else (n, d) for n, d in members],
    )
    refused(zipped, "zip", dest, "Duplicate")


def _feed_all(pipe: ChunkPipe, data: bytes, step: int = 64 << 10) -> threading.Thread:
    """A feeder thread that sends all of ``data``, waiting for room as a request handler does
    (it ends on its own only if room comes whenever it waits)."""

    def run():
        for start in range(0, len(data), step):
            if pipe.feed(data[start : start + step]):
                room = threading.Event()
                pipe.when_room(room.set)
                room.wait()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_bytes_after_the_end_of_the_tar_are_counted_and_do_not_hold_the_feeder(tmp_path, dest):
    """The reader is done at the end-of-archive blocks; whatever follows (padding, a second
    tar appended) must not fill the pipe with a feeder waiting for room forever."""
    archive = tar_with(tmp_path / "a.tar", [("f.txt", b"x" * 1000)]).read_bytes()
    data = archive + os.urandom(2 << 20)
    pipe = ChunkPipe(len(data), stall=30, budget=256 << 10)
    feeder = _feed_all(pipe, data)
    dest.parent.mkdir(parents=True)
    try:
        assert extract(pipe, "tar", dest).files == 1
    finally:
        pipe.close()  # as the ingest thread does
    feeder.join(30)
    assert not feeder.is_alive(), "the feeder still waits for room"
    assert pipe.fed == len(data) and pipe._held == 0  # the offset reaches the end: completable


def _big_pax_tar(path: Path, size: int) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f.txt")
        info.pax_headers = {"comment": "y" * size}
        info.size = 1
        tar.addfile(info, io.BytesIO(b"z"))
    return path


def _gzip_with_long_name(path: Path, inner: bytes, name_size: int) -> Path:
    import struct
    import zlib

    header = b"\x1f\x8b\x08\x08\0\0\0\0\0\xff" + b"n" * name_size + b"\0"  # FNAME
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(inner) + deflate.flush()
    path.write_bytes(header + body + struct.pack("<II", zlib.crc32(inner), len(inner)))
    return path


def test_a_header_larger_than_the_pipe_is_refused_not_waited_for(tmp_path, dest):
    """A reader that needs more bytes than the pipe holds before its feeder waits would wait
    for its stall and the upload start over forever: a 400 instead, at once."""
    dest.parent.mkdir(parents=True)
    pax = _big_pax_tar(tmp_path / "pax.tar", 1 << 20)
    inner = tar_with(tmp_path / "inner.tar", [("f.txt", b"x")]).read_bytes()
    gz = _gzip_with_long_name(tmp_path / "name.tar.gz", inner, 1 << 20)
    for archive, kind in ((pax, "tar"), (gz, "tar.gz")):
        assert extract(archive, kind, dest).files == 1  # from a file: nothing to wait for
        shutil.rmtree(dest)
        pipe = ChunkPipe(archive.stat().st_size, stall=600, budget=256 << 10)
        feeder = _feed_all(pipe, archive.read_bytes())
        try:
            with pytest.raises(DomainError) as e:
                extract(pipe, kind, dest)
        finally:
            pipe.abort("the unpacking ended")  # as the ingest thread does on a failure
        assert e.value.status == 400 and "damaged" in str(e.value)
        assert not dest.exists()
        feeder.join(30)
        assert not feeder.is_alive()


def test_a_sparse_member_larger_than_the_pipe_arrives_whole(tmp_path, dest):
    """GNU tar's sparse members are read through tarfile: what they passed is released."""
    tar = shutil.which("tar")
    if tar is None or b"GNU" not in subprocess.run([tar, "--version"], capture_output=True).stdout:
        pytest.skip("GNU tar makes the sparse member")
    source = tmp_path / "src" / "sparse.bin"
    source.parent.mkdir()
    with open(source, "wb") as f:
        for i in range(4):
            f.seek(i * (4 << 20))
            f.write(os.urandom(1 << 20))
        f.truncate(17 << 20)
    archive = tmp_path / "sparse.tar"
    subprocess.run([tar, "-S", "-cf", archive, "-C", source.parent, "sparse.bin"], check=True)
    with tarfile.open(archive) as t:
        assert t.getmembers()[0].issparse()
    pipe = ChunkPipe(archive.stat().st_size, stall=30, budget=4 << 20)  # less than its data
    dest.parent.mkdir(parents=True)
    with Feeder(pipe, archive, step=64 << 10):
        stats = extract(pipe, "tar", dest)
    pipe.close()
    assert stats.files == 1 and (dest / "sparse.bin").read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    "name", ["a" * 300 + ".txt", "/".join(["d" * 200] * 25) + "/f.txt"], ids=["name", "path"]
)
def test_a_name_too_long_for_the_file_system_is_a_refusal(tmp_path, dest, name):
    """Not a server error (and, for an upload unpacked while it arrives, not an interruption
    that starts it over and over): the archive's name is at fault."""
    members = [("ok.txt", b"1"), (name, b"2")]
    refused(tar_with(tmp_path / "long.tar", members), "tar", dest, "Unsafe path")
    refused(zip_with(tmp_path / "long.zip", members), "zip", dest, "Unsafe path")


def test_a_path_through_a_loop_of_links_is_a_refusal(tmp_path, dest):
    """The kernel's "too many levels of symbolic links" is the archive's doing, not the server's."""
    members = [("ok.txt", b"1"), ("l", "sym", "l"), ("l/l/w.txt", b"2")]
    refused(tar_with(tmp_path / "loop.tar", members), "tar", dest, "Unsafe path")


def _sparse_map_past_its_member(path: Path) -> Path:
    """A GNU sparse 1.0 member whose map runs on past the member's declared size: tarfile
    reads it, then seeks back to where it thinks the next header is."""
    count = 4000
    mapping = b"%d\n" % count + b"".join(b"%d\n1\n" % (i * 2) for i in range(count))
    data = mapping + bytes(-len(mapping) % 512) + b"y" * count
    info = tarfile.TarInfo("s.bin")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "s.bin",
        "GNU.sparse.realsize": str(2 * count),
    }
    info.size = 512
    raw = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data
    raw += bytes(-len(data) % 512) + bytes(1024)
    path.write_bytes(raw)
    return path


def test_an_archive_that_reads_back_what_was_released_is_refused_not_interrupted(tmp_path, dest):
    """While it arrives, such an archive cannot be unpacked, and never will: a 400 (an
    interruption would make the upload start over, and fail the same way, forever)."""
    import gzip

    plain = _sparse_map_past_its_member(tmp_path / "s.tar")
    archive = tmp_path / "s.tar.gz"
    archive.write_bytes(gzip.compress(plain.read_bytes()))
    dest.parent.mkdir(parents=True)
    with pytest.raises(DomainError) as e:
        extract_growing(archive, "tar.gz", dest)
    assert e.value.status == 400 and "damaged" in str(e.value)
    assert not dest.exists()
    with pytest.raises(DomainError) as e:  # its sparse data, released as written, is passed too
        extract_growing(plain, "tar", dest)
    assert e.value.status == 400 and not dest.exists()


# -- the fast header reader against tarfile's own ---------------------------------------------
_ATTRIBUTES = (
    "name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname",
    "gname", "devmajor", "devminor", "offset", "offset_data", "pax_headers", "sparse",
)  # fmt: skip


def _read_all(data: bytes, tarinfo=tarfile.TarInfo):
    """Every member's attributes, or the error that stopped the reading (its type and text)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:", tarinfo=tarinfo) as tar:
            return [tuple(getattr(m, a, None) for a in _ATTRIBUTES) for m in tar]
    except Exception as e:  # noqa: BLE001 - the same error is what is compared
        return (type(e), str(e))


def _from_block(block: bytes, tarinfo=tarfile.TarInfo):
    """One header block read alone: the attributes ``frombuf`` sets, or its error."""
    try:
        info = tarinfo.frombuf(block, "utf-8", "surrogateescape")
    except Exception as e:  # noqa: BLE001 - the same error is what is compared
        return (type(e), str(e))
    return tuple(getattr(info, a, None) for a in _ATTRIBUTES[:13])


def _header_archives() -> list[bytes]:
    """Archives of every format with the members a dataset may hold, and the odd ones."""
    found = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
            for name, data in (
                ("a.txt", b"hello"),
                ("dir/b.bin", os.urandom(1000)),
                ("图片/猫.jpg", b"\xff\xd8"),
                ("x" * 90 + "/" + "y" * 60 + ".png", b"long: a ustar prefix"),
                ("empty", b""),
            ):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o640
                info.uname, info.gname = "ada", "lab"
                info.devmajor, info.devminor = 3, 0o1234567  # every number field has digits
                tar.addfile(info, io.BytesIO(data))
            old_dir = tarfile.TarInfo("v7-dir/")  # a directory as old tars wrote it
            old_dir.type = tarfile.AREGTYPE
            tar.addfile(old_dir)
            for name, kind in (("dir", tarfile.DIRTYPE), ("dir/sub/", tarfile.DIRTYPE)):
                info = tarfile.TarInfo(name)
                info.type = kind
                tar.addfile(info)
            link = tarfile.TarInfo("link")
            link.type, link.linkname = tarfile.SYMTYPE, "a.txt"
            tar.addfile(link)
            if fmt != tarfile.USTAR_FORMAT:
                big = tarfile.TarInfo("big-ids")  # base-256 numbers (GNU) or pax records
                big.uid = big.gid = 10**10
                tar.addfile(big)
                long = tarfile.TarInfo("z" * 300)
                tar.addfile(long, io.BytesIO(b""))
        found.append(buf.getvalue())
    return found


def test_the_fast_header_reader_reads_what_tarfile_reads():
    from ytung_service.archives import _TarInfo

    for data in _header_archives():
        assert _read_all(data, _TarInfo) == _read_all(data), data[:100]
        assert isinstance(_read_all(data), list)
        for start in range(0, len(data), 512):  # every block (data too) as if a header
            block = data[start : start + 512]
            assert _from_block(block, _TarInfo) == _from_block(block), start


def test_the_fast_header_reader_agrees_on_damaged_headers():
    """Each byte of each header set to values that break numbers, names, checksums, types
    (the checksum fixed up half of the time, so that the fields themselves are read)."""
    from ytung_service.archives import _TarInfo

    data = _header_archives()[0]
    header = bytearray(data[:512])
    values = (0, 0x20, 0x30, 0x37, 0x38, 0x41, 0x80, 0xFF)
    for position in range(512):
        for value in values:
            for fix in (False, True):
                block = bytearray(header)
                block[position] = value
                if fix:  # the checksum counts its own field as spaces
                    block[148:156] = b" " * 8
                    block[148:156] = b"%06o\0 " % sum(block)
                where = (position, value, fix)
                assert _from_block(bytes(block), _TarInfo) == _from_block(bytes(block)), where
                if position % 5 == 0:  # and in an archive, through tarfile's reading
                    mangled = bytes(block) + data[512:]
                    assert _read_all(mangled, _TarInfo) == _read_all(mangled), where
