"""The data root's layout, and the one place that turns a user-supplied path into a real one.

Layout (DESIGN.md, "Storage")::

    <data_dir>/home/<user>/            code and notebooks (shown to the user as /home/<user>/...)
    <data_dir>/datasets/<id>/<version>/
    <data_dir>/annotations/<id>/
    <data_dir>/jobs/<id>/{logs,output}/
    <data_dir>/models/<id>/
    <data_dir>/images/

Every path a user types goes through :func:`confine` (or :func:`home_path`): it is resolved
(symlinks included) and must stay inside the root it belongs to, else a :class:`DomainError`
(400) says so. Nothing here creates or deletes files except :func:`ensure_dir`. What a workload
wrote (a job's logs) is read through :func:`open_untrusted`, which follows no symlink.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from .errors import DomainError

#: the home directory of a user as the user sees it (inside a workload and in forms)
VIRTUAL_HOME = "/home/{user}"


def confine(root: Path | str, user_path: str, *, what: str = "path") -> Path:
    """``user_path`` (relative to ``root``, or absolute and inside it) resolved inside ``root``.

    Refused (400): empty or NUL-containing input, ``..`` or symlinks that leave the root.
    The result need not exist.
    """
    if not isinstance(user_path, str) or "\x00" in user_path:
        raise DomainError(400, "Invalid {what}: {path}", what=what, path=repr(user_path)[:200])
    root = Path(root).resolve()
    candidate = Path(user_path)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise DomainError(
            400, "{what} must stay inside {root}: {path}", what=what, root=str(root), path=user_path
        )
    return resolved


def home_dir(data_dir: Path | str, user: str) -> Path:
    """The real directory behind ``/home/<user>/`` on the local runtime."""
    return Path(data_dir) / "home" / user


def home_path(data_dir: Path | str, user: str, user_path: str, *, what: str = "path") -> Path:
    """A path the user wrote as ``/home/<user>/...`` (or relative to their home), made real.

    ``/home/<someone else>/...`` and anything that escapes the home are refused (400).
    """
    if not isinstance(user_path, str) or "\x00" in user_path:
        raise DomainError(400, "Invalid {what}: {path}", what=what, path=repr(user_path)[:200])
    virtual = VIRTUAL_HOME.format(user=user)
    posix = PurePosixPath(user_path)
    if posix.is_absolute():
        if posix != PurePosixPath(virtual) and PurePosixPath(virtual) not in posix.parents:
            raise DomainError(
                400,
                "{what} must stay inside {root}: {path}",
                what=what,
                root=virtual,
                path=user_path,
            )
        user_path = str(posix.relative_to(virtual))
    home = home_dir(data_dir, user)
    ensure_dir(home)
    return confine(home, user_path, what=what)


def virtual_home_path(data_dir: Path | str, user: str, real: Path | str) -> str:
    """The ``/home/<user>/...`` form of a real path inside the user's home."""
    rel = Path(real).resolve().relative_to(home_dir(data_dir, user).resolve())
    virtual = PurePosixPath(VIRTUAL_HOME.format(user=user))
    return str(virtual / rel) if str(rel) != "." else str(virtual)


def ensure_dir(path: Path | str, mode: int = 0o755) -> Path:
    path = Path(path)
    os.makedirs(path, mode, exist_ok=True)
    return path


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _name(part: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\x00" in part:
        raise ValueError(f"not a plain file name: {part!r}")
    return part


def _open_dir(root: Path | str, parts: tuple[str, ...]) -> int | None:
    """A descriptor of the directory ``root/parts…`` reached without following a symlink at
    ``root``'s last component or below it; ``None`` when any step is absent or a link."""
    parts = tuple(_name(part) for part in parts)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError:
        return None
    for part in parts:
        try:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = inner
    return fd


def open_untrusted(root: Path | str, *parts: str):
    """``root/parts…`` opened for reading (binary) when it is a regular file reached without
    any symlink from ``root`` on (``root`` itself included); else ``None``, as if absent.

    For directories that a workload writes to (a job's ``jobs/<id>/``): its code could put a
    link to any file the service can read (the database, another user's home) where the
    service expects its log; it reads nothing but the workload's own files. Every step is
    opened relative to the last one (``dir_fd``, ``O_NOFOLLOW``), so swapping a directory
    for a link meanwhile does not help; ``O_NONBLOCK`` keeps a FIFO from blocking the reader.
    """
    *dirs, name = parts
    name = _name(name)
    dir_fd = _open_dir(root, tuple(dirs))
    if dir_fd is None:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
    except OSError:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def list_untrusted(root: Path | str, *parts: str) -> list[str]:
    """The names in the directory ``root/parts…`` reached as :func:`open_untrusted` reaches a
    file (no symlink on the way); ``[]`` when it is absent or a link."""
    fd = _open_dir(root, parts)
    if fd is None:
        return []
    try:
        return os.listdir(fd)
    except OSError:
        return []
    finally:
        os.close(fd)
