"""Datasets (SPEC S1–S3): the domain on a real database, and the REST API on the real platform.

API tests use the session ``platform`` (hub + proxy + service as processes) with users who
signed up like anybody: uploads in chunks, resuming, refusals that leave nothing, visibility of
private datasets, the annotation-only role, delete while a workload uses the dataset.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tarfile
import threading
import time
import uuid
import warnings
import zipfile
from datetime import UTC
from pathlib import Path

import pytest
import requests

from ytung_service import datasets, orm
from ytung_service.apihandlers.datasets import RECEIVE_BATCH
from ytung_service.errors import DomainError

PASSWORD = "Secret-pass-42"


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- the domain, on a migrated database ---------------------------------------------------------
@pytest.fixture
def users(db):
    from ytung_service import accounts

    alice = accounts.ensure_user(db, "alice")
    bob = accounts.ensure_user(db, "bob")
    db.commit()
    return alice, bob, orm.User.find(db, "admin")


def staged_dir(data_dir: Path, files: dict[str, bytes]) -> Path:
    src = datasets.staging_dir(data_dir) / f"src-{time.monotonic_ns()}"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    return src


def test_add_version_from_directory_and_training_contract(db, users, tmp_path):
    alice, bob, admin = users
    src = staged_dir(tmp_path, {"a.txt": b"1", "sub/b.txt": b"22"})
    v1 = datasets.add_version_from_directory(
        db, alice, src, data_dir=tmp_path, name="cats", description="cat pictures", public=False
    )
    assert not src.exists()
    assert v1.version == 1 and (v1.size_bytes, v1.file_count) == (3, 2)
    assert Path(v1.path) == datasets.version_path(tmp_path, v1.dataset_id, 1)
    assert (Path(v1.path) / "sub/b.txt").read_bytes() == b"22"

    src2 = staged_dir(tmp_path, {"a.txt": b"new"})
    v2 = datasets.add_version_from_directory(
        db, alice, src2, data_dir=tmp_path, dataset_id=v1.dataset_id
    )
    assert v2.version == 2
    assert (Path(v1.path) / "a.txt").read_bytes() == b"1"  # the old version stays readable

    ds, v, path = datasets.usable_for_training(db, alice, v1.dataset_id, None, data_dir=tmp_path)
    assert (ds.name, v.version, path) == ("cats", 2, Path(v2.path))
    _ds, v, _path = datasets.usable_for_training(db, alice, v1.dataset_id, 1, data_dir=tmp_path)
    assert v.version == 1
    # private: another user does not see it at all; the admin does
    with pytest.raises(DomainError) as e:
        datasets.usable_for_training(db, bob, v1.dataset_id, None, data_dir=tmp_path)
    assert e.value.status == 404
    assert datasets.usable_for_training(db, admin, v1.dataset_id, None, data_dir=tmp_path)
    assert [d.name for d in datasets.visible(db, bob)] == []
    assert [d.name for d in datasets.visible(db, admin)] == ["cats"]
    with pytest.raises(DomainError) as e:
        datasets.usable_for_training(db, alice, v1.dataset_id, 7, data_dir=tmp_path)
    assert e.value.status == 404

    datasets.update(db, alice, ds, {"labeled": False, "permission": "public"})
    assert [d.name for d in datasets.visible(db, bob)] == ["cats"]
    assert datasets.visible(db, bob, labeled=True) == []
    with pytest.raises(DomainError) as e:
        datasets.usable_for_training(db, bob, ds.id, None, data_dir=tmp_path)
    assert e.value.status == 400 and "not labeled" in str(e.value)


def test_a_failed_commit_moves_the_directory_back(db, users, tmp_path, monkeypatch):
    alice, _bob, _admin = users
    src = staged_dir(tmp_path, {"a.txt": b"1"})

    def broken_commit():
        raise RuntimeError("database went away")

    monkeypatch.setattr(db, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        datasets.add_version_from_directory(db, alice, src, data_dir=tmp_path, name="x")
    monkeypatch.undo()
    assert (src / "a.txt").read_bytes() == b"1"
    assert db.query(orm.Dataset).count() == 0
    assert not any(datasets.datasets_dir(tmp_path).glob("[0-9]*/*"))


def test_names_are_unique_per_owner(db, users, tmp_path):
    alice, bob, _admin = users
    datasets.add_version_from_directory(
        db, alice, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="same"
    )
    with pytest.raises(DomainError) as e:
        datasets.add_version_from_directory(
            db, alice, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="same"
        )
    assert e.value.status == 409
    datasets.add_version_from_directory(
        db, bob, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="same"
    )


def test_register_path_only_under_the_admins_roots(db, users, tmp_path):
    alice, _bob, _admin = users
    allowed = tmp_path / "nfs"
    (allowed / "coco").mkdir(parents=True)
    (allowed / "coco" / "x.jpg").write_bytes(b"jpg")
    (tmp_path / "secret").mkdir()
    data_dir = tmp_path / "data"
    fields = {"name": "coco", "labeled": True}
    with pytest.raises(DomainError) as e:
        datasets.register_path(
            db, alice, str(allowed / "coco"), roots=[], data_dir=data_dir, fields=fields
        )
    assert "dataset_path_roots" in str(e.value)
    # a directory holding the platform's data (its database, every home) is never registered
    with pytest.raises(DomainError) as e:
        datasets.register_path(
            db, alice, str(tmp_path), roots=[str(tmp_path)], data_dir=data_dir, fields=fields
        )
    assert e.value.status == 400 and "contains the platform's own data" in str(e.value)
    for bad in [str(tmp_path / "secret"), str(allowed / ".." / "secret"), "relative/path"]:
        with pytest.raises(DomainError) as e:
            datasets.register_path(
                db, alice, bad, roots=[str(allowed)], data_dir=data_dir, fields=fields
            )
        assert e.value.status == 400
    (allowed / "escape").symlink_to(tmp_path / "secret")
    with pytest.raises(DomainError):
        datasets.register_path(
            db,
            alice,
            str(allowed / "escape"),
            roots=[str(allowed)],
            data_dir=data_dir,
            fields=fields,
        )
    v = datasets.register_path(
        db, alice, str(allowed / "coco"), roots=[str(allowed)], data_dir=data_dir, fields=fields
    )
    assert v.path == str((allowed / "coco").resolve()) and v.source == "path" and v.file_count == 1
    # deleting the dataset leaves the admin's directory alone
    datasets.delete(db, alice, v.dataset, data_dir=data_dir)
    assert (allowed / "coco" / "x.jpg").exists()


def test_version_numbers_come_from_the_database_not_a_stale_session(db, users, tmp_path):
    """Two requests (sessions) add versions to one dataset: the second one had loaded the
    versions before the first committed; it still gets the next number, not a duplicate."""
    from sqlalchemy.orm import Session

    alice, _bob, _admin = users
    v1 = datasets.add_version_from_directory(
        db, alice, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="shared"
    )
    with Session(db.get_bind(), expire_on_commit=False) as other:
        stale = other.get(orm.Dataset, v1.dataset_id)
        assert [v.version for v in stale.versions] == [1]  # loaded now, before version 2
        v2 = datasets.add_version_from_directory(
            db, alice, staged_dir(tmp_path, {"b": b"2"}), data_dir=tmp_path, dataset_id=stale.id
        )
        v3 = datasets.add_version_from_directory(
            other,
            orm.User.find(other, "alice"),
            staged_dir(tmp_path, {"c": b"3"}),
            data_dir=tmp_path,
            dataset_id=stale.id,
        )
        assert (v2.version, v3.version) == (2, 3)
        assert [v.version for v in stale.versions] == [1, 2, 3]
        assert (Path(v3.path) / "c").read_bytes() == b"3"
    assert (Path(v2.path) / "b").read_bytes() == b"2"


def test_a_registered_path_swapped_for_a_link_is_not_read(db, users, tmp_path):
    """Registered while it was a real directory; later its owner (who can write under the
    root) replaces it by a symlink to ``/`` or to another user's files: neither the download
    nor training follows it."""
    alice, _bob, _admin = users
    allowed = tmp_path / "nfs"
    (allowed / "coco").mkdir(parents=True)
    (allowed / "coco" / "x.jpg").write_bytes(b"jpg")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_bytes(b"private")
    data_dir = tmp_path / "data"
    roots = [str(allowed)]
    v = datasets.register_path(
        db,
        alice,
        str(allowed / "coco"),
        roots=roots,
        data_dir=data_dir,
        fields={"name": "coco", "labeled": True},
    )
    assert datasets.version_root(v, data_dir=data_dir, roots=roots) == allowed / "coco"
    _ds, _v, path = datasets.usable_for_training(db, alice, v.dataset_id, 1, data_dir=data_dir)
    assert path == allowed / "coco"

    (allowed / "coco").rename(allowed / "coco-old")
    (allowed / "coco").symlink_to(tmp_path / "secret")
    for check in (
        lambda: datasets.version_root(v, data_dir=data_dir, roots=roots),
        lambda: datasets.version_root(v, data_dir=data_dir),
        lambda: datasets.usable_for_training(db, alice, v.dataset_id, 1, data_dir=data_dir),
    ):
        with pytest.raises(DomainError) as e:
            check()
        assert e.value.status == 409
    # a directory the admin no longer allows is not read either
    (allowed / "coco").unlink()
    (allowed / "coco-old").rename(allowed / "coco")
    with pytest.raises(DomainError) as e:
        datasets.version_root(v, data_dir=data_dir, roots=[str(tmp_path / "elsewhere")])
    assert e.value.status == 409
    # gone: a 404
    (allowed / "coco" / "x.jpg").unlink()
    (allowed / "coco").rmdir()
    with pytest.raises(DomainError) as e:
        datasets.version_root(v, data_dir=data_dir, roots=roots)
    assert e.value.status == 404


def test_a_stored_version_pointing_outside_the_store_is_not_read(db, users, tmp_path):
    alice, _bob, _admin = users
    v = datasets.add_version_from_directory(
        db, alice, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="held"
    )
    assert datasets.version_root(v, data_dir=tmp_path) == Path(v.path)
    (tmp_path / "outside").mkdir()
    datasets._discard(Path(v.path))
    Path(v.path).symlink_to(tmp_path / "outside")
    with pytest.raises(DomainError) as e:
        datasets.version_root(v, data_dir=tmp_path)
    assert e.value.status == 409


def test_open_inside_checks_what_was_opened(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_bytes(b"ok")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (root / "inside-link").symlink_to(root / "sub" / "ok.txt")
    (root / "out-link").symlink_to(tmp_path / "secret.txt")
    listed = dict((name, path) for path, name in datasets.download_files(root))
    assert sorted(listed) == ["inside-link", "sub/ok.txt"]
    with datasets.open_inside(root, listed["sub/ok.txt"]) as f:
        assert f.read() == b"ok"
    assert datasets.open_inside(root, root / "out-link") is None
    assert datasets.open_inside(root, root / "sub") is None  # not a regular file
    assert datasets.open_inside(root, root / "missing") is None
    # a FIFO planted in a registered path: refused at once, not waited on for a writer
    os.mkfifo(root / "pipe")
    assert datasets.open_inside(root, root / "pipe") is None
    # listed, then the directory is swapped for a link to outside before it is opened
    (root / "sub").rename(root / "sub-old")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "ok.txt").write_bytes(b"secret")
    (root / "sub").symlink_to(tmp_path / "evil")
    assert datasets.open_inside(root, listed["sub/ok.txt"]) is None


def test_open_uploads_per_user_are_limited(db, users, tmp_path):
    """Each unfinished upload may hold 2 GB of disk: a user cannot start any number of them;
    abandoned ones (idle for an hour) make room, active ones do not."""
    alice, bob, _admin = users

    def start(user, name):
        return datasets.create_upload(
            db, user, {"filename": "a.zip", "size": 10, "name": name}, data_dir=tmp_path
        )

    started = [start(alice, f"d{i}") for i in range(datasets.MAX_OPEN_UPLOADS)]
    with pytest.raises(DomainError) as e:
        start(alice, "one-more")
    assert e.value.status == 409 and "uploads in progress" in str(e.value)
    assert db.query(orm.DatasetUpload).count() == datasets.MAX_OPEN_UPLOADS  # none dropped
    # another user is not affected; cancelling one makes room
    start(bob, "bobs")
    datasets.discard_upload(db, started[0], data_dir=tmp_path)
    start(alice, "one-more")
    # one of them is abandoned: an hour without a chunk (record and file) makes room for it
    abandoned = started[1]
    abandoned.touched -= datasets.UPLOAD_IDLE * 2
    db.commit()
    old = (orm.utcnow() - datasets.UPLOAD_IDLE * 2).replace(tzinfo=UTC).timestamp()
    os.utime(datasets.upload_file(tmp_path, abandoned.id), (old, old))
    start(alice, "after-the-abandoned-one")
    assert db.get(orm.DatasetUpload, abandoned.id) is None
    assert not datasets.upload_file(tmp_path, abandoned.id).exists()
    # the record is old but bytes arrived lately (a long chunk): it stays, and so the limit
    busy = started[2]
    busy.touched -= datasets.UPLOAD_IDLE * 2
    db.commit()
    with pytest.raises(DomainError):
        start(alice, "no-room")
    assert db.get(orm.DatasetUpload, busy.id) is not None


def test_extraction_limits_are_configurable():
    from traitlets.config import Config

    from ytung_service.app import YtungService
    from ytung_service.archives import Limits

    assert YtungService().dataset_limits() == Limits()
    c = Config()
    c.YtungService.dataset_max_extracted_bytes = 1000
    c.YtungService.dataset_max_files = 3
    c.YtungService.dataset_max_ratio = 10.0
    c.YtungService.dataset_ratio_floor_bytes = 100
    assert YtungService(config=c).dataset_limits() == Limits(1000, 3, 10.0, 100)
    with pytest.raises(Exception, match="must be positive"):
        YtungService(dataset_max_files=0)


def test_delete_refused_while_a_live_workload_uses_it(db, users, tmp_path):
    alice, _bob, _admin = users
    v = datasets.add_version_from_directory(
        db, alice, staged_dir(tmp_path, {"a": b"1"}), data_dir=tmp_path, name="busy"
    )
    w = orm.Workload(
        name="train-1",
        owner="alice",
        vc="default",
        status=orm.RUNNING,
        submit_time=time.time(),
        user_options={"dataset": {"id": v.dataset_id, "version": 1}},
    )
    db.add(w)
    db.commit()
    with pytest.raises(DomainError) as e:
        datasets.delete(db, alice, v.dataset, data_dir=tmp_path)
    assert e.value.status == 409 and "train-1" in str(e.value)
    assert Path(v.path).exists()
    w.status = orm.COMPLETED
    db.commit()
    datasets.delete(db, alice, v.dataset, data_dir=tmp_path)
    assert not Path(v.path).exists() and db.query(orm.DatasetVersion).count() == 0


def test_search_ranks_and_forgives_typos(db, users, tmp_path, monkeypatch):
    alice, _bob, _admin = users
    for name, description in [
        ("flowers-102", "Oxford flowers"),
        ("Cats_and_Dogs", "pets"),
        ("coco2017", "common objects in context"),
    ]:
        datasets.add_version_from_directory(
            db,
            alice,
            staged_dir(tmp_path, {"a": b"1"}),
            data_dir=tmp_path,
            name=name,
            description=description,
        )
    found = datasets.visible(db, alice)
    assert [d.name for d in datasets.search(found, "cats")] == ["Cats_and_Dogs"]
    assert [d.name for d in datasets.search(found, "FLOWER")][0] == "flowers-102"
    assert [d.name for d in datasets.search(found, "flwers")][0] == "flowers-102"
    assert [d.name for d in datasets.search(found, "objects")] == ["coco2017"]
    assert datasets.search(found, "zzzzqqq") == []
    assert len(datasets.search(found, "")) == 3
    # a huge query is cut before fuzzy matching (difflib is quadratic in the lengths)
    import difflib

    compared = []

    class Recording(difflib.SequenceMatcher):
        def __init__(self, isjunk=None, a="", b="", autojunk=True):
            compared.append(len(a))
            super().__init__(isjunk, a, b, autojunk)

    from ytung_service import search

    monkeypatch.setattr(search.difflib, "SequenceMatcher", Recording)
    assert datasets.search(found, "coco2017" * 5_000) == []
    assert compared and max(compared) <= search.QUERY_MAX


def test_stale_uploads_expire(db, users, tmp_path):
    alice, _bob, _admin = users
    upload = datasets.create_upload(
        db, alice, {"filename": "a.zip", "size": 10, "name": "later"}, data_dir=tmp_path
    )
    path = datasets.upload_file(tmp_path, upload.id)
    assert path.exists()
    assert datasets.expire_uploads(db, data_dir=tmp_path) == 0
    later = orm.utcnow() + datasets.UPLOAD_TTL * 2
    assert datasets.expire_uploads(db, data_dir=tmp_path, now=later) == 1
    assert not path.exists() and db.query(orm.DatasetUpload).count() == 0


def test_discarding_an_upload_twice_is_no_error(db, users, tmp_path):
    """A refused tar's last chunk and its completion may both discard it (two requests, two
    sessions that loaded the upload): the second finds nothing left to remove."""
    from sqlalchemy.orm import Session

    alice, _bob, _admin = users
    upload = datasets.create_upload(
        db, alice, {"filename": "a.zip", "size": 10, "name": "twice"}, data_dir=tmp_path
    )
    with Session(db.get_bind()) as other, warnings.catch_warnings():
        warnings.simplefilter("error")  # not even SQLAlchemy's "0 rows were matched"
        same = other.get(orm.DatasetUpload, upload.id)
        datasets.discard_upload(db, upload, data_dir=tmp_path)
        datasets.discard_upload(other, same, data_dir=tmp_path)
    assert db.query(orm.DatasetUpload).count() == 0
    assert not datasets.upload_file(tmp_path, upload.id).exists()


# -- a tar unpacked while it arrives, from memory ------------------------------------------------
def big_tar(count: int = 5, size: int = 5 << 20) -> tuple[bytes, dict[str, bytes]]:
    files = {f"part/{i}.bin": os.urandom(size) for i in range(count)}
    return make_tar(files), files


def write_upload(upload, data: bytes, start: int, *, data_dir) -> datasets.Ingest | None:
    """What a chunk request does: feed a tar's ingest (waiting while its pipe is full), or
    write a zip's bytes at ``start`` of the upload's file."""
    ingest = datasets.follow_upload(upload, start, data_dir=data_dir)
    if ingest is None:
        with open(datasets.upload_file(data_dir, upload.id), "r+b", buffering=0) as f:
            f.seek(start)
            f.write(data)
        return None
    for at in range(0, len(data), 1 << 20):
        if ingest.feed(data[at : at + (1 << 20)]):
            room = threading.Event()
            ingest.pipe.when_room(room.set)
            assert room.wait(30), "the ingest never took the bytes"
    return ingest


def service_restart() -> None:
    """What a restart of the service leaves: no ingest thread, no ingest known."""
    for upload_id in list(datasets._ingests):
        datasets.cancel_ingest(upload_id, "the service stopped")


def complete(db, owner, upload, *, data_dir) -> orm.DatasetVersion:
    """What the completion request does: the ingest's result (a tar), else the file unpacked."""
    ingest = datasets.take_ingest(upload)
    if ingest is not None:
        staged, stats = ingest.staged, ingest.future.result(60)
    else:
        staged, stats = datasets.extract_upload(upload, data_dir=data_dir)
    return datasets.finish_upload(db, owner, upload, staged, stats, data_dir=data_dir)


def stored_files(v: orm.DatasetVersion) -> dict[str, bytes]:
    root = Path(v.path)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_tar_upload_is_never_stored_as_a_file(db, users, tmp_path):
    """Its bytes go to the ingest, whose offset is where the next chunk starts; the upload's
    file stays empty, and the pipe holds a bounded part of the archive at any time."""
    alice = users[0]
    archive, files = big_tar(count=12)  # 60 MB: more than the pipe holds
    upload = datasets.create_upload(
        db, alice, {"filename": "big.tar", "size": len(archive), "name": "mem"}, data_dir=tmp_path
    )
    half = len(archive) // 2
    ingest = write_upload(upload, archive[:half], 0, data_dir=tmp_path)
    assert datasets.received(upload, data_dir=tmp_path) == half
    assert datasets.upload_file(tmp_path, upload.id).stat().st_size == 0
    assert ingest.pipe._held <= ingest.pipe.budget + (1 << 20)
    write_upload(upload, archive[half:], half, data_dir=tmp_path)
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files
    assert list(datasets.uploads_dir(tmp_path).iterdir()) == []


def test_a_tar_upload_whose_ingest_is_gone_starts_again_from_zero(db, users, tmp_path):
    """The service restarts mid-upload: what was unpacked is lost with the ingest, the offset is
    0, a completion is refused with offset 0, and a full re-send works."""
    alice = users[0]
    archive, files = big_tar()
    upload = datasets.create_upload(
        db, alice, {"filename": "big.tar", "size": len(archive), "name": "big"}, data_dir=tmp_path
    )
    half = len(archive) // 2
    write_upload(upload, archive[:half], 0, data_dir=tmp_path)
    assert datasets.received(upload, data_dir=tmp_path) == half
    service_restart()
    assert datasets.received(upload, data_dir=tmp_path) == 0
    assert datasets.upload_model(upload, data_dir=tmp_path)["offset"] == 0
    with pytest.raises(DomainError) as e:  # a chunk after the lost bytes is refused
        datasets.follow_upload(upload, half, data_dir=tmp_path)
    assert e.value.status == 409
    wait_for(
        lambda: list(datasets.staging_dir(tmp_path).iterdir()) == [],
        "the lost unpacking left files behind",
    )
    # the client sends everything again: a new ingest follows it
    ingest = write_upload(upload, archive, 0, data_dir=tmp_path)
    assert ingest is not None
    assert datasets.received(upload, data_dir=tmp_path) == len(archive)
    v = complete(db, alice, upload, data_dir=tmp_path)
    assert stored_files(v) == files
    assert not datasets.upload_file(tmp_path, upload.id).exists()


def test_a_stalled_ingest_resets_the_upload(db, users, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "INGEST_STALL", 0.3)
    alice = users[0]
    archive, files = big_tar()
    upload = datasets.create_upload(
        db, alice, {"filename": "big.tar", "size": len(archive), "name": "st"}, data_dir=tmp_path
    )
    ingest = write_upload(upload, archive[: len(archive) // 2], 0, data_dir=tmp_path)
    wait_for(ingest.interrupted, "the ingest did not give up")
    assert datasets.received(upload, data_dir=tmp_path) == 0
    monkeypatch.setattr(datasets, "INGEST_STALL", 30.0)
    write_upload(upload, archive, 0, data_dir=tmp_path)
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files


def test_a_failed_ingest_resets_the_upload(db, users, tmp_path, monkeypatch):
    """Not the archive's fault (a full disk): no refusal, the upload starts again."""
    alice = users[0]
    archive, files = big_tar(count=2)
    upload = datasets.create_upload(
        db, alice, {"filename": "f.tar", "size": len(archive), "name": "f"}, data_dir=tmp_path
    )
    from ytung_service import archives

    real_writev = os.writev

    def full(fd, buffers):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archives.os, "writev", full)
    ingest = write_upload(upload, archive, 0, data_dir=tmp_path)
    wait_for(ingest.interrupted, "the failure did not end the ingest")
    assert ingest.refusal() is None
    assert datasets.received(upload, data_dir=tmp_path) == 0
    monkeypatch.setattr(archives.os, "writev", real_writev)
    write_upload(upload, archive, 0, data_dir=tmp_path)
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files


def test_a_zip_upload_is_stored_and_resumes_after_a_restart(db, users, tmp_path):
    alice = users[0]
    files = {f"z/{i}.bin": os.urandom(6 << 20) for i in range(3)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    archive = buf.getvalue()
    upload = datasets.create_upload(
        db, alice, {"filename": "z.zip", "size": len(archive), "name": "z"}, data_dir=tmp_path
    )
    head = 4 << 20
    assert write_upload(upload, archive[:head], 0, data_dir=tmp_path) is None
    service_restart()
    assert datasets.received(upload, data_dir=tmp_path) == head
    assert write_upload(upload, archive[head:], head, data_dir=tmp_path) is None
    path = datasets.upload_file(tmp_path, upload.id)
    assert path.read_bytes() == archive
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files


@pytest.mark.parametrize(
    "header, error",
    [
        (None, "Content-Range"),
        ("bytes 0-9/11", "Invalid"),
        ("bytes 5-4/10", "Invalid"),
        ("bytes 0-10/10", "Invalid"),
        ("items 0-1/10", "Invalid"),
        ("bytes a-b/10", "Invalid"),
    ],
)
def test_parse_content_range_refusals(header, error):
    with pytest.raises(DomainError) as e:
        datasets.parse_content_range(header, 10)
    assert error in str(e.value)


def test_parse_content_range():
    assert datasets.parse_content_range("bytes 0-9/10", 10) == (0, 9)
    assert datasets.parse_content_range("bytes 4-5/*", 10) == (4, 5)


# -- the REST API on the real platform ----------------------------------------------------------
class Api:
    """A user's calls to ``/services/ytung/api/v1/datasets`` through the proxy."""

    def __init__(self, platform, token):
        self.platform, self.token = platform, token

    def __call__(self, method, path, headers=None, **kw):
        return requests.request(
            method,
            f"{self.platform.url}/services/ytung/api/v1/{path}",
            headers={"Authorization": f"token {self.token}", **(headers or {})},
            timeout=60,
            **kw,
        )

    def start(self, filename, size, **fields):
        return self("POST", "datasets/uploads", json={"filename": filename, "size": size, **fields})

    def put(self, upload_id, data: bytes, start: int, total: int):
        end = start + len(data) - 1
        return self(
            "PUT",
            f"datasets/uploads/{upload_id}",
            data=data,
            headers={"Content-Range": f"bytes {start}-{end}/{total}"},
        )

    def upload(self, filename, data: bytes, chunk: int = 64 * 1024, **fields):
        """Start, send every chunk, complete; answers the completion, or the refusal of a chunk
        (a tar found unsafe while it arrives is refused before its last byte)."""
        r = self.start(filename, len(data), **fields)
        assert r.status_code == 201, r.text
        uid = self.last_upload = r.json()["id"]
        for start in range(0, len(data), chunk):
            r = self.put(uid, data[start : start + chunk], start, len(data))
            if r.status_code == 400 and filename.endswith((".tar", ".tar.gz", ".tgz")):
                return r
            assert r.status_code == 200, r.text
            assert r.json()["offset"] == min(start + chunk, len(data))
        return self("POST", f"datasets/uploads/{uid}/complete")


def _user(platform, admin_token, name, roles=None):
    platform.signup(name, name.title(), PASSWORD)
    if roles is not None:
        r = platform.api("PUT", f"users/{name}/roles", admin_token, json={"roles": roles})
        assert r.status_code == 200, r.text
    return Api(platform, platform.token(name, PASSWORD))


@pytest.fixture(scope="module")
def people(platform, admin_token):
    return {
        "owner": _user(platform, admin_token, "dsowner"),
        "other": _user(platform, admin_token, "dsother"),
        "labeler": _user(platform, admin_token, "dslabeler", ["Annotation person"]),
        "admin": Api(platform, admin_token),
    }


def dataset_files(platform, dataset) -> set[str]:
    root = Path(dataset["path"])
    assert platform.data_dir.resolve() in root.resolve().parents
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def leftovers(platform, upload_id: str | None = None) -> list[str]:
    """Half-extracted directories in staging, and the upload's file if it is still there."""
    base = platform.data_dir / "datasets"
    found = sorted(p.name for p in (base / ".staging").glob("*"))
    if upload_id and (base / ".uploads" / upload_id).exists():
        found.append(upload_id)
    return found


@pytest.mark.slow
def test_upload_in_chunks_list_detail_download(platform, people):
    owner = people["owner"]
    archive = make_zip({"train/1.jpg": b"\xff\xd8" + b"x" * 100_000, "labels.json": b"[]"})
    r = owner.upload(
        "pets.zip", archive, chunk=40_000, name="pets", description="Cats and dogs", labeled=True
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    assert (ds["name"], ds["version"], ds["creator"], ds["labeled"]) == ("pets", 1, "dsowner", True)
    assert ds["permission"] == "private" and ds["can_change"] is True
    assert dataset_files(platform, ds) == {"train/1.jpg", "labels.json"}
    assert ds["versions"][0]["origin"] == "pets.zip"

    listed = owner("GET", "datasets").json()
    assert [d["name"] for d in listed if d["id"] == ds["id"]] == ["pets"]
    assert owner("GET", "datasets", params={"q": "dgos"}).json()[0]["id"] == ds["id"]
    detail = owner("GET", f"datasets/{ds['id']}").json()
    for key in ("name", "version", "creator", "created", "description", "path", "updated"):
        assert detail[key] is not None

    r = owner("GET", f"datasets/{ds['id']}/download")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["labels.json", "train/1.jpg"]
        assert zf.read("train/1.jpg") == b"\xff\xd8" + b"x" * 100_000

    # a new upload to the same dataset is version 2; version 1 stays readable
    r = owner.upload("pets-v2.tar.gz", make_tar_gz({"v2.txt": b"two"}), dataset_id=ds["id"])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and [v["version"] for v in r.json()["versions"]] == [1, 2]
    r = owner("GET", f"datasets/{ds['id']}/download", params={"version": 1})
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert "labels.json" in zf.namelist()
    assert leftovers(platform, owner.last_upload) == []


@pytest.mark.slow
def test_private_datasets_are_invisible_to_others(platform, people):
    owner, other, admin = people["owner"], people["other"], people["admin"]
    r = owner.upload("secret.zip", make_zip({"s.txt": b"secret"}), name="secret-ds")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["id"] not in [d["id"] for d in other("GET", "datasets").json()]
    assert ds["id"] not in [
        d["id"] for d in other("GET", "datasets", params={"q": "secret"}).json()
    ]
    for method, path in [
        ("GET", f"datasets/{ds['id']}"),
        ("GET", f"datasets/{ds['id']}/download"),
        ("PATCH", f"datasets/{ds['id']}"),
        ("DELETE", f"datasets/{ds['id']}"),
    ]:
        r = other(method, path, json={"name": "mine"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
        assert "No such dataset" in r.json()["message"]
    # a new version of someone else's private dataset: 404 as well
    assert other.start("x.zip", 10, dataset_id=ds["id"]).status_code == 404
    # admins see all
    assert ds["id"] in [d["id"] for d in admin("GET", "datasets").json()]
    assert admin("GET", f"datasets/{ds['id']}").status_code == 200

    # public: others read and download it, but may not change it
    r = owner("PATCH", f"datasets/{ds['id']}", json={"permission": "public"})
    assert r.status_code == 200 and r.json()["public"] is True
    seen = [d for d in other("GET", "datasets").json() if d["id"] == ds["id"]]
    assert seen and seen[0]["can_change"] is False
    assert other("GET", f"datasets/{ds['id']}/download").status_code == 200
    r = other("PATCH", f"datasets/{ds['id']}", json={"name": "mine"})
    assert r.status_code == 403
    assert other("DELETE", f"datasets/{ds['id']}").status_code == 403


@pytest.mark.slow
def test_another_users_upload_cannot_be_written_read_or_completed(platform, people):
    """Upload ids are secrets, but even knowing one, user B cannot touch A's upload."""
    owner, other = people["owner"], people["other"]
    archive = make_zip({"mine.txt": b"owner's bytes"})
    r = owner.start("mine.zip", len(archive), name="hijack-target")
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = owner.put(uid, archive[:10], 0, len(archive))
    assert r.status_code == 200 and r.json()["offset"] == 10
    evil = make_zip({"evil.txt": b"x"}).ljust(len(archive), b"\0")[: len(archive) - 10]
    r = other.put(uid, evil, 10, len(archive))
    assert r.status_code == 404 and "No such upload" in r.json()["message"], r.text
    for method, path in [
        ("GET", f"datasets/uploads/{uid}"),
        ("DELETE", f"datasets/uploads/{uid}"),
        ("POST", f"datasets/uploads/{uid}/complete"),
    ]:
        assert other(method, path).status_code == 404, (method, path)
    # nothing of B's arrived; A goes on where A stopped
    assert owner("GET", f"datasets/uploads/{uid}").json()["offset"] == 10
    assert owner.put(uid, archive[10:], 10, len(archive)).status_code == 200
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert dataset_files(platform, ds) == {"mine.txt"}
    # nor can B add a version to A's private dataset from a server path
    r = other("POST", f"datasets/{ds['id']}/versions", json={"path": "/tmp"})
    assert r.status_code == 404, r.text
    assert other("GET", "datasets", params={"labeled": "true"}).status_code == 200
    assert ds["id"] not in [
        d["id"] for d in other("GET", "datasets", params={"labeled": "true"}).json()
    ]


@pytest.mark.slow
def test_annotation_person_reads_but_does_not_create(platform, people):
    owner, labeler = people["owner"], people["labeler"]
    r = owner.upload(
        "pub.zip",
        make_zip({"img.png": b"png"}),
        name="to-label",
        permission="public",
        labeled=False,
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["id"] in [d["id"] for d in labeler("GET", "datasets").json()]
    assert labeler("GET", f"datasets/{ds['id']}").status_code == 200
    assert labeler("GET", f"datasets/{ds['id']}/download").status_code == 200
    r = labeler.start("mine.zip", 10, name="mine")
    assert r.status_code == 403 and "platform:use" in r.json()["message"]
    assert labeler("DELETE", f"datasets/{ds['id']}").status_code == 403
    # the labeled filter (what training offers) leaves it out
    assert ds["id"] not in [
        d["id"] for d in owner("GET", "datasets", params={"labeled": "true"}).json()
    ]


@pytest.mark.slow
def test_interrupted_upload_resumes_from_the_received_offset(platform, people):
    owner = people["owner"]
    archive = make_zip({f"f{i}.bin": os.urandom(50_000) for i in range(8)})
    r = owner.start("resume.zip", len(archive), name="resumed")
    uid = r.json()["id"]
    assert owner.put(uid, archive[:100_000], 0, len(archive)).json()["offset"] == 100_000
    # a chunk at the wrong offset is refused with the offset to use
    r = owner.put(uid, archive[200_000:300_000], 200_000, len(archive))
    assert r.status_code == 409 and r.json()["offset"] == 100_000
    # completing early is refused and changes nothing
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 409 and r.json()["offset"] == 100_000
    # a dropped connection: half a chunk arrives, then the socket closes
    import socket
    from urllib.parse import urlparse

    url = urlparse(platform.url)
    with socket.create_connection((url.hostname, url.port)) as s:
        chunk = archive[100_000:300_000]
        head = (
            f"PUT /services/ytung/api/v1/datasets/uploads/{uid} HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: token {owner.token}\r\n"
            f"Content-Range: bytes 100000-299999/{len(archive)}\r\n"
            f"Content-Length: {len(chunk)}\r\n\r\n"
        ).encode()
        s.sendall(head + chunk[:70_000])
        time.sleep(0.5)
    # as a client does: ask where to go on from, send the rest (the proxy may still be passing
    # the dropped request on: the newer request takes over, the older one is refused)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        offset = owner("GET", f"datasets/uploads/{uid}").json()["offset"]
        assert 100_000 <= offset <= 170_000
        r = owner.put(uid, archive[offset:], offset, len(archive))
        if r.status_code == 200:
            break
        assert r.status_code == 409, r.text
        time.sleep(0.2)
    assert r.status_code == 200 and r.json()["offset"] == len(archive)
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 201, r.text
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert dataset_files(platform, r.json()) == set(zf.namelist())


@pytest.mark.slow
def test_a_stalled_chunk_request_does_not_block_the_upload(platform, people):
    """A connection that stops sending but stays open: a new request takes the upload over."""
    import socket
    from urllib.parse import urlparse

    owner = people["owner"]
    # more than one batch of the socket's reads arrives before the stall (bytes of a batch
    # not yet full wait in the socket: the client sends them again)
    sent = RECEIVE_BATCH + 50_000
    archive = make_zip({"a.bin": os.urandom(sent + 70_000)})
    uid = owner.start("stall.zip", len(archive), name="stalled").json()["id"]
    url = urlparse(platform.url)
    with socket.create_connection((url.hostname, url.port)) as stalled:
        stalled.sendall(
            (
                f"PUT /services/ytung/api/v1/datasets/uploads/{uid} HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nAuthorization: token {owner.token}\r\n"
                f"Content-Range: bytes 0-{len(archive) - 1}/{len(archive)}\r\n"
                f"Content-Length: {len(archive)}\r\n\r\n"
            ).encode()
            + archive[:sent]
        )
        deadline = time.monotonic() + 10
        while owner("GET", f"datasets/uploads/{uid}").json()["offset"] == 0:
            assert time.monotonic() < deadline, "the first bytes never arrived"
            time.sleep(0.1)
        offset = owner("GET", f"datasets/uploads/{uid}").json()["offset"]
        r = owner.put(uid, archive[offset:], offset, len(archive))
        assert r.status_code == 200, r.text
        # the stalled request wakes up: its bytes are not written, it is told it lost
        stalled.sendall(archive[sent:])
        answer = stalled.recv(4096).decode(errors="replace")
        assert " 409 " in answer.split("\r\n", 1)[0], answer
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 201, r.text
    assert r.json()["file_count"] == 1


def test_the_receive_mark_fits_the_receive_buffer():
    """A receive buffer whose size is fixed (SO_RCVBUF) is not grown to hold the mark, and
    before Linux 5.8 a mark above what it holds left the socket never readable:
    receive_mark() takes half the buffer then."""
    import select
    import socket

    from ytung_service.apihandlers.datasets import receive_mark

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        with client, conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            mark = receive_mark(conn, RECEIVE_BATCH)
            assert 1 <= mark <= conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
            assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT) == mark
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:  # until the receiver's window is full
                    client.send(b"x" * 65536)
            poller = select.poll()
            poller.register(conn, select.POLLIN)
            assert poller.poll(3000), "the socket never became readable"
        with socket.socket() as fresh:  # a buffer that holds it: as asked
            assert receive_mark(fresh, 1000) == 1000


def test_chunks_read_in_batches_end_and_leave_the_connection_usable(platform, people):
    """The socket wakes the service once a batch of a chunk waits (RECEIVE_BATCH), or the rest
    of the chunk: a chunk that arrives in small pieces still completes, and the next request
    on the same connection (straight to the service, no proxy in between) is answered."""
    import http.client

    owner = people["owner"]
    files = {f"f{i}.bin": os.urandom(300_000) for i in range(5)}
    archive = make_tar(files)
    uid = owner.start("batches.tar", len(archive), name="batches").json()["id"]
    port = int(platform.env["YTUNG_SERVICE_PORT"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    path = f"/services/ytung/api/v1/datasets/uploads/{uid}"
    auth = {"Authorization": f"token {owner.token}"}
    first = RECEIVE_BATCH + 100_000
    for start, end in ((0, first), (first, len(archive))):
        conn.putrequest("PUT", path)
        for name, value in {
            **auth,
            "Content-Range": f"bytes {start}-{end - 1}/{len(archive)}",
            "Content-Length": str(end - start),
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        for piece in range(start, end, 100_000):  # less than a batch at a time
            conn.sock.sendall(archive[piece : min(end, piece + 100_000)])
            time.sleep(0.05)
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
        assert json.loads(answer.read())["offset"] == end
        conn.request("GET", path, headers=auth)  # the same connection: its headers are small
        answer = conn.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["offset"] == end
    conn.close()
    completes_with(platform, owner, uid, files)


def _raw_put(port: int, token: str, uid: str, total: int, length: str, body: bytes, pause=0.0):
    """A PUT of the whole upload straight to the service, its Content-Length header as given,
    ``body`` sent ``pause`` seconds after the headers; answers the open socket (the rest of
    the body is the caller's to send)."""
    import socket

    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(
        (
            f"PUT /services/ytung/api/v1/datasets/uploads/{uid} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: token {token}\r\n"
            f"Content-Range: bytes 0-{total - 1}/{total}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
    )
    time.sleep(pause)
    s.sendall(body)
    return s


def test_a_slow_client_s_bytes_count_within_seconds(platform, people):
    """Less than a batch, then a pause with the connection open: after a second without new
    bytes they are read as they come (the offset shows them; a kernel that cannot queue a
    batch cannot leave the request waiting either)."""
    owner = people["owner"]
    files = {"slow.bin": os.urandom(1 << 20)}
    archive = make_tar(files)
    uid = owner.start("slow.tar", len(archive), name="slow").json()["id"]
    port = int(platform.env["YTUNG_SERVICE_PORT"])
    # the bytes come after the headers were read (not in tornado's first read with them)
    first = archive[:100_000]
    with _raw_put(port, owner.token, uid, len(archive), str(len(archive)), first, 0.5) as s:
        wait_for(
            lambda: owner("GET", f"datasets/uploads/{uid}").json()["offset"] == 100_000,
            "bytes under a batch were never read while the client paused",
            timeout=10,
        )
        s.sendall(archive[100_000:])
        assert s.recv(4096).split(b"\r\n", 1)[0] == b"HTTP/1.1 200 OK"
    completes_with(platform, owner, uid, files)


@pytest.mark.parametrize(
    "length, status",
    [("{n}, {n}", 200), ("{n}, 7", 400), ("\u00b2", 400), ("-{n}", 400)],
    ids=["repeated-by-a-proxy", "two-sizes", "not-ascii", "negative"],
)
def test_content_length_is_checked(platform, people, length, status):
    owner = people["owner"]
    archive = make_zip({"a.bin": os.urandom(1000)})
    uid = owner.start("length.zip", len(archive), name=f"length-{uuid.uuid4().hex}").json()["id"]
    port = int(platform.env["YTUNG_SERVICE_PORT"])
    header = length.format(n=len(archive))
    with _raw_put(port, owner.token, uid, len(archive), header, archive) as s:
        answer = s.recv(4096).decode("utf-8", "replace")
    assert answer.split("\r\n", 1)[0].split(" ")[1] == str(status), answer
    if status == 400:
        assert "Invalid Content-Length" in answer, answer
    assert owner("DELETE", f"datasets/uploads/{uid}").status_code == 204  # uploads are limited


@pytest.mark.slow
@pytest.mark.parametrize(
    "filename, data, message",
    [
        ("slip.zip", make_zip({"../../evil.txt": b"x"}), "'..'"),
        ("broken.tar.gz", make_tar_gz({"a": b"x" * 10_000})[:60], "damaged"),
        ("notzip.zip", b"plain text, not an archive" * 10, "damaged"),
    ],
    ids=["zip-slip", "truncated", "not-an-archive"],
)
def test_refused_archives_leave_no_dataset_and_no_files(platform, people, filename, data, message):
    owner = people["owner"]
    before = {d["id"] for d in owner("GET", "datasets").json()}
    stored_before = sorted(p.name for p in (platform.data_dir / "datasets").glob("[0-9]*"))
    r = owner.upload(filename, data, name=f"bad-{filename}")
    assert r.status_code == 400 and message in r.json()["message"], r.text
    assert {d["id"] for d in owner("GET", "datasets").json()} == before
    assert sorted(p.name for p in (platform.data_dir / "datasets").glob("[0-9]*")) == stored_before
    assert leftovers(platform, owner.last_upload) == []
    assert owner("GET", f"datasets/uploads/{owner.last_upload}").status_code == 404


def make_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def staged_for(platform, upload_id: str) -> list[Path]:
    """The staging directories an upload is being unpacked into."""
    return sorted((platform.data_dir / "datasets" / ".staging").glob(f"{upload_id}-*"))


def wait_for(predicate, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def completes_with(platform, owner, uid: str, files: dict[str, bytes]) -> None:
    """Completing the upload makes a dataset of exactly ``files`` and leaves nothing behind."""
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 201, r.text
    root = Path(r.json()["path"])
    assert {n: (root / n).read_bytes() for n in files} == files
    assert leftovers(platform, uid) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_a_tar_is_unpacked_while_its_chunks_arrive(platform, people, kind):
    owner = people["owner"]
    files = {f"img/{i}.bin": os.urandom(150_000) for i in range(6)}
    archive = make_tar(files) if kind == "tar" else make_tar_gz(files)
    uid = owner.start(f"live.{kind}", len(archive), name=f"live-{kind}").json()["id"]
    half = len(archive) // 2
    assert owner.put(uid, archive[:half], 0, len(archive)).status_code == 200
    # the first members are on disk before the rest of the archive was sent
    wait_for(
        lambda: any((d / "img/0.bin").is_file() for d in staged_for(platform, uid)),
        "the first member was not unpacked while the upload went on",
    )
    assert owner.put(uid, archive[half:], half, len(archive)).status_code == 200
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 201, r.text
    assert dataset_files(platform, r.json()) == set(files)
    root = Path(r.json()["path"])
    assert all((root / name).read_bytes() == data for name, data in files.items())
    assert leftovers(platform, uid) == []


@pytest.mark.slow
def test_a_tar_upload_is_unpacked_from_memory_and_resumes_after_a_dropped_connection(
    platform, people
):
    """Through the API: the upload's file stays empty (the bytes are written once, unpacked);
    a connection dropped mid-chunk resumes from the bytes the unpacking took."""
    import socket
    from urllib.parse import urlparse

    owner = people["owner"]
    archive, files = big_tar(count=6, size=1 << 20)
    uid = owner.start("mem.tar", len(archive), name="mem").json()["id"]
    path = platform.data_dir / "datasets" / ".uploads" / uid
    first = 2 << 20
    assert owner.put(uid, archive[:first], 0, len(archive)).json()["offset"] == first
    assert path.stat().st_size == 0
    url = urlparse(platform.url)
    with socket.create_connection((url.hostname, url.port)) as s:
        end = first + (2 << 20)
        head = (
            f"PUT /services/ytung/api/v1/datasets/uploads/{uid} HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: token {owner.token}\r\n"
            f"Content-Range: bytes {first}-{end - 1}/{len(archive)}\r\n"
            f"Content-Length: {end - first}\r\n\r\n"
        ).encode()
        s.sendall(head + archive[first : first + 700_000])
        wait_for(
            lambda: owner("GET", f"datasets/uploads/{uid}").json()["offset"] > first,
            "the dropped chunk's first bytes never arrived",
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        offset = owner("GET", f"datasets/uploads/{uid}").json()["offset"]
        assert first < offset <= first + 700_000
        r = owner.put(uid, archive[offset:], offset, len(archive))
        if r.status_code == 200:
            break
        assert r.status_code == 409, r.text  # the dropped request was still being passed on
        time.sleep(0.2)
    assert r.status_code == 200 and r.json()["offset"] == len(archive)
    assert path.stat().st_size == 0
    completes_with(platform, owner, uid, files)


@pytest.mark.slow
def test_an_unsafe_tar_fails_mid_upload_and_leaves_nothing(platform, people):
    owner = people["owner"]
    archive = make_tar(
        {"ok.bin": os.urandom(50_000), "../../evil.txt": b"x", "rest.bin": os.urandom(400_000)}
    )
    before = {d["id"] for d in owner("GET", "datasets").json()}
    uid = owner.start("slip.tar", len(archive), name="slip-live").json()["id"]
    assert owner.put(uid, archive[:100_000], 0, len(archive)).status_code in (200, 400)
    # the next chunk (or the one just sent) is refused with the reason; the upload is gone
    r = None

    def refused():
        nonlocal r
        offset = owner("GET", f"datasets/uploads/{uid}")
        if offset.status_code == 404:
            return True
        r = owner.put(uid, archive[100_000:150_000], 100_000, len(archive))
        return r.status_code == 400

    wait_for(refused, "the unsafe member was not refused before the last chunk")
    if r is not None:
        assert "'..'" in r.json()["message"], r.text
    assert owner("GET", f"datasets/uploads/{uid}").status_code == 404
    assert {d["id"] for d in owner("GET", "datasets").json()} == before
    assert leftovers(platform, uid) == []
    assert not (platform.data_dir / "evil.txt").exists()


@pytest.mark.slow
def test_a_tar_cancelled_mid_upload_leaves_nothing(platform, people):
    owner = people["owner"]
    archive = make_tar({f"f{i}.bin": os.urandom(100_000) for i in range(8)})
    uid = owner.start("cancel.tar", len(archive), name="cancelled-live").json()["id"]
    assert owner.put(uid, archive[:400_000], 0, len(archive)).status_code == 200
    wait_for(lambda: staged_for(platform, uid), "nothing was unpacked while the upload went on")
    assert owner("DELETE", f"datasets/uploads/{uid}").status_code == 204
    wait_for(lambda: leftovers(platform, uid) == [], "the cancelled upload left files behind")
    assert owner("GET", f"datasets/uploads/{uid}").status_code == 404


@pytest.mark.slow
def test_a_short_chunk_mid_tar_starts_the_upload_again(platform, people):
    """A chunk shorter than announced: the unpacking had read its bytes, so it stops and the
    upload starts again from byte 0 (never a dataset of what was sent wrongly)."""
    owner = people["owner"]
    files = {f"f{i}.bin": os.urandom(100_000) for i in range(4)}
    archive = make_tar(files)
    uid = owner.start("retry.tar", len(archive), name="retried-live").json()["id"]
    assert owner.put(uid, archive[:150_000], 0, len(archive)).status_code == 200
    garbage = os.urandom(100_000)  # sent chunked: no Content-Length to stop it early
    r = owner(
        "PUT",
        f"datasets/uploads/{uid}",
        data=iter([garbage[:50_000], garbage[50_000:]]),
        headers={"Content-Range": f"bytes 150000-349999/{len(archive)}"},
    )
    assert r.status_code == 400 and "Content-Range announced" in r.json()["message"], r.text
    assert owner("GET", f"datasets/uploads/{uid}").json()["offset"] == 0
    r = owner.put(uid, archive[150_000:], 150_000, len(archive))
    assert r.status_code == 409 and r.json()["offset"] == 0, r.text
    r = owner("POST", f"datasets/uploads/{uid}/complete")
    assert r.status_code == 409 and r.json()["offset"] == 0, r.text
    wait_for(lambda: staged_for(platform, uid) == [], "the stopped unpacking left files")
    assert owner.put(uid, archive, 0, len(archive)).status_code == 200
    completes_with(platform, owner, uid, files)


@pytest.mark.slow
def test_bad_requests_are_refused_with_clear_messages(platform, people):
    owner = people["owner"]
    r = owner.start("data.rar", 100, name="x")
    assert r.status_code == 400 and ".zip, .tar or .tar.gz" in r.json()["message"]
    r = owner.start("huge.zip", 3 * 1024**3, name="x")
    assert r.status_code == 400 and "at most" in r.json()["message"]
    r = owner.start("ok.zip", 100)
    assert r.status_code == 400 and "name is required" in r.json()["message"]
    r = owner("POST", "datasets", json={"name": "p", "path": "/srv/data"})
    assert r.status_code == 400 and "dataset_path_roots" in r.json()["message"]
    uid = owner.start("ok.zip", 100, name="ok").json()["id"]
    r = owner("PUT", f"datasets/uploads/{uid}", data=b"x" * 10)
    assert r.status_code == 400 and "Content-Range" in r.json()["message"]
    # in Chinese too
    r = owner(
        "POST",
        "datasets/uploads",
        json={"filename": "a.7z", "size": 1, "name": "x"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert "不支持的文件类型" in r.json()["message"]
    assert owner("DELETE", f"datasets/uploads/{uid}").status_code == 204
    assert owner("GET", f"datasets/uploads/{uid}").status_code == 404
    assert leftovers(platform, uid) == []  # a cancelled upload leaves no bytes behind


@pytest.mark.slow
def test_api_delete_refused_while_a_live_workload_uses_it(platform, people):
    owner = people["owner"]
    r = owner.upload("used.zip", make_zip({"a.txt": b"a"}), name="in-use")
    ds = r.json()
    db = sqlite3.connect(platform.data_dir / "ytung.sqlite", timeout=30)
    with db:
        cur = db.execute(
            "INSERT INTO workloads (kind, name, owner, vc, nodes, devices_per_node, priority, "
            "preemptible, status, origin, server_name, user_options, requeue, start_attempts, "
            "submit_time) VALUES ('training', 'train-ds', 'dsowner', 'default', 1, 0, 0, 0, "
            "'stopping', 'service', '', ?, 0, 0, ?)",
            (f'{{"dataset": {{"id": {ds["id"]}, "version": 1}}}}', time.time()),
        )
        wid = cur.lastrowid
    try:
        r = owner("DELETE", f"datasets/{ds['id']}")
        assert r.status_code == 409, r.text
        assert "train-ds" in r.json()["message"] and r.json()["workloads"] == [wid]
        assert owner("GET", f"datasets/{ds['id']}").status_code == 200
    finally:
        with db:
            db.execute("UPDATE workloads SET status='closed' WHERE id=?", (wid,))
        db.close()
    assert owner("DELETE", f"datasets/{ds['id']}").status_code == 204
    assert owner("GET", f"datasets/{ds['id']}").status_code == 404
    assert not Path(ds["path"]).exists()


@pytest.mark.slow
def test_register_server_paths_when_the_admin_allows_a_root(tmp_path_factory):
    """A platform of its own, started with ``YTUNG_DATASET_PATH_ROOTS`` (the trait's default)."""
    from tests.harness import RunningPlatform

    base = tmp_path_factory.mktemp("roots")
    root = base / "nfs"
    (root / "coco" / "images").mkdir(parents=True)
    (root / "coco" / "images" / "1.jpg").write_bytes(b"jpg")
    (root / "coco-v2").mkdir()
    (root / "coco-v2" / "2.jpg").write_bytes(b"jpg2")
    (base / "private").mkdir()
    (base / "private" / "key").write_bytes(b"private")
    # the service's config file (its working directory is the data dir): limits honoured
    (base / "platform").mkdir()
    (base / "platform" / "ytung_service_config.py").write_text(
        "c.YtungService.dataset_max_files = 2\n"
    )
    with RunningPlatform.running(base / "platform", YTUNG_DATASET_PATH_ROOTS=str(root)) as p:
        p.signup("pathuser", "Path", PASSWORD)
        user = Api(p, p.token("pathuser", PASSWORD))
        r = user("POST", "datasets", json={"name": "coco", "path": str(root / "coco")})
        assert r.status_code == 201, r.text
        ds = r.json()
        assert ds["path"] == str((root / "coco").resolve()) and ds["file_count"] == 1
        assert ds["versions"][0]["source"] == "path"
        r = user("POST", f"datasets/{ds['id']}/versions", json={"path": str(root / "coco-v2")})
        assert r.status_code == 201 and r.json()["version"] == 2
        r = user("GET", f"datasets/{ds['id']}/download", params={"version": 1})
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert zf.namelist() == ["images/1.jpg"]
        for bad in [str(base / "private"), str(root / ".." / "private"), "nfs/coco"]:
            r = user("POST", "datasets", json={"name": "x", "path": bad})
            assert r.status_code == 400, (bad, r.text)
        # c.YtungService.dataset_max_files = 2: three files are refused, two pass
        r = user.upload("three.zip", make_zip({"a": b"1", "b": b"2", "c": b"3"}), name="three")
        assert r.status_code == 400 and "more than 2 files" in r.json()["message"], r.text
        r = user.upload("two.zip", make_zip({"a": b"1", "b": b"2"}), name="two")
        assert r.status_code == 201, r.text

        # the registered directory is later swapped for a link to files nobody registered
        (root / "coco").rename(root / "coco-real")
        (root / "coco").symlink_to(base / "private")
        r = user("GET", f"datasets/{ds['id']}/download", params={"version": 1})
        assert r.status_code == 409 and b"private" not in r.content, r.text
        (root / "coco").unlink()
        (root / "coco-real").rename(root / "coco")

        assert user("DELETE", f"datasets/{ds['id']}").status_code == 204
        assert (root / "coco" / "images" / "1.jpg").exists()  # the admin's files stay


def test_bytes_after_the_end_of_a_tar_upload_do_not_stall_it(db, users, tmp_path):
    """The ingest is done at the tar's end-of-archive blocks; more bytes than its pipe holds
    after them (a second tar appended, padding) are taken, the offset reaches the size and the
    upload completes (before, the chunk request waited for room forever)."""
    alice = users[0]
    archive, files = big_tar(count=1, size=1 << 20)
    from ytung_service.archives import PIPE_BUDGET

    data = archive + bytes(PIPE_BUDGET + (8 << 20))
    upload = datasets.create_upload(
        db, alice, {"filename": "t.tar", "size": len(data), "name": "tail"}, data_dir=tmp_path
    )
    ingest = write_upload(upload, data, 0, data_dir=tmp_path)  # asserts that room comes
    assert datasets.received(upload, data_dir=tmp_path) == len(data)
    assert ingest.pipe._held == 0
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files


def test_a_name_too_long_in_a_tar_upload_is_a_refusal_not_a_restart(db, users, tmp_path):
    """An error of the file system caused by the archive is its refusal: as an interruption,
    the upload would start over, and fail the same way, forever."""
    alice = users[0]
    data = make_tar({"ok.txt": b"1", "a" * 300: b"2"})
    upload = datasets.create_upload(
        db, alice, {"filename": "n.tar", "size": len(data), "name": "long"}, data_dir=tmp_path
    )
    ingest = write_upload(upload, data, 0, data_dir=tmp_path)
    wait_for(ingest.future.done, "the ingest did not end")
    assert not ingest.interrupted()
    assert ingest.refusal() is not None and ingest.refusal().status == 400
    assert "Unsafe path" in str(ingest.refusal())
    assert datasets.received(upload, data_dir=tmp_path) == len(data)  # not 0: no re-send


def test_a_tar_still_receiving_bytes_does_not_expire(db, users, tmp_path):
    """One long request (no chunk answered for a day) keeps feeding its unpacking: neither the
    upload nor its staging directory (old by mtime) is taken for stale."""
    alice = users[0]
    archive, files = big_tar(count=2)
    upload = datasets.create_upload(
        db, alice, {"filename": "slow.tar", "size": len(archive), "name": "slow"}, data_dir=tmp_path
    )
    ingest = write_upload(upload, archive[: len(archive) // 2], 0, data_dir=tmp_path)
    wait_for(ingest.staged.exists, "nothing was unpacked")
    old = (orm.utcnow() - datasets.UPLOAD_TTL * 2).replace(tzinfo=UTC).timestamp()
    os.utime(ingest.staged, (old, old))
    upload.touched = orm.utcnow() - datasets.UPLOAD_TTL * 2
    db.commit()
    assert datasets.expire_uploads(db, data_dir=tmp_path) == 0
    assert ingest.staged.exists() and not ingest.interrupted()
    write_upload(upload, archive[len(archive) // 2 :], len(archive) // 2, data_dir=tmp_path)
    assert stored_files(complete(db, alice, upload, data_dir=tmp_path)) == files
    # idle for real: the upload and what it unpacked go
    other = datasets.create_upload(
        db, alice, {"filename": "gone.tar", "size": len(archive), "name": "gone"}, data_dir=tmp_path
    )
    ingest = write_upload(other, archive[:1000], 0, data_dir=tmp_path)
    ingest.last_fed = old
    os.utime(datasets.upload_file(tmp_path, other.id), (old, old))  # made a day ago
    other.touched = orm.utcnow() - datasets.UPLOAD_TTL * 2
    db.commit()
    assert datasets.expire_uploads(db, data_dir=tmp_path) == 1
    wait_for(lambda: not ingest.staged.exists(), "the expired upload's unpacking stayed")
