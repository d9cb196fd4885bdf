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
(400) says so. Nothing here creates or deletes files except :func:`ensure_dir`.
"""

from __future__ import annotations

import os
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
