"""Path confinement: every user-supplied path stays inside its root."""

import os

import pytest

from ytung_service import storage
from ytung_service.errors import DomainError


def test_relative_and_absolute_inside(tmp_path):
    assert storage.confine(tmp_path, "a/b") == (tmp_path / "a/b").resolve()
    assert storage.confine(tmp_path, str(tmp_path / "x")) == (tmp_path / "x").resolve()
    assert storage.confine(tmp_path, ".") == tmp_path.resolve()


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", "a\x00b", ""])
def test_escapes_refused(tmp_path, bad):
    if bad == "":
        # empty means the root itself: allowed
        assert storage.confine(tmp_path, bad) == tmp_path.resolve()
        return
    with pytest.raises(DomainError) as e:
        storage.confine(tmp_path, bad)
    assert e.value.status == 400


def test_symlink_out_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/etc", root / "link")
    with pytest.raises(DomainError):
        storage.confine(root, "link/passwd")


def test_home_path(tmp_path):
    real = storage.home_path(tmp_path, "alice", "/home/alice/code/train.py")
    assert real == (tmp_path / "home/alice/code/train.py").resolve()
    assert storage.home_path(tmp_path, "alice", "code") == (tmp_path / "home/alice/code").resolve()
    assert storage.virtual_home_path(tmp_path, "alice", real) == "/home/alice/code/train.py"
    for bad in ["/home/bob/x", "/home/alice/../bob", "/etc", "../bob"]:
        with pytest.raises(DomainError):
            storage.home_path(tmp_path, "alice", bad)
