"""``YtungLocalSpawner``: workloads as local processes under the data root (runtime ``local``).

Each user's home is ``<data dir>/home/<user>``; every server runs ``jupyterhub-singleuser``
from the hub's own Python environment (so the Ytung server extension is there), as the hub's
Unix user. This is the embedded, one-machine runtime: it isolates by directory and device
binding, not by Unix account — use the Kubernetes runtime for untrusted users.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Float, Unicode, default

from ytung_service.config import data_dir

from .mixin import YtungSpawnerMixin


# -- V6 on the local runtime: the memory ceiling of a server's process tree -----------------
def tree_rss(pid: int) -> int | None:
    """Resident memory of ``pid`` and all its descendants in bytes; None when it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        if root.status() == psutil.STATUS_ZOMBIE:
            return None  # exited, not reaped yet
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # exited between listing and reading: it holds nothing any more
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (children first found, so none is re-parented away)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def mebibytes(n: int) -> str:
    return f"{n / 2**20:.0f}Mi"


async def watch_memory(
    pid: int,
    limit: int,
    interval: float,
    on_exceeded: Callable[[str], Awaitable[None]],
) -> None:
    """Every ``interval`` seconds sum the tree's RSS; above ``limit`` kill the tree and call
    ``on_exceeded("memory limit exceeded (X > Y)")``. Returns when the process is gone.

    psutil reads ``/proc`` once per process of the tree: that runs in a worker thread, so that
    many watched servers never hold up the hub's event loop."""
    while True:
        used = await asyncio.to_thread(tree_rss, pid)
        if used is None:
            return
        if used > limit:
            await asyncio.to_thread(kill_tree, pid)
            await on_exceeded(f"memory limit exceeded ({mebibytes(used)} > {mebibytes(limit)})")
            return
        await asyncio.sleep(interval)


class YtungLocalSpawner(YtungSpawnerMixin, LocalProcessSpawner):
    home_dir_template = Unicode(
        help="""Where a user's home lives; ``{data_dir}`` and ``{username}`` are expanded.

        Example: ``c.YtungLocalSpawner.home_dir_template = "/srv/ytung/home/{username}"``
        Default: ``{data_dir}/home/{username}``.
        """,
    ).tag(config=True)

    @default("home_dir_template")
    def _home_dir_template_default(self):
        return "{data_dir}/home/{username}"

    @property
    def home_dir(self) -> str:
        return self.home_dir_template.format(data_dir=data_dir(), username=self.user.name)

    memory_poll_interval = Float(
        1.0,
        help="""V6: seconds between two looks at the memory of a server's process tree; a tree
        above the ceiling (``resource_limits`` ``mem_limit``) is killed and the workload fails
        with the reason.

        Example: ``c.YtungLocalSpawner.memory_poll_interval = 0.5``
        """,
    ).tag(config=True)

    _ytung_watchdog: asyncio.Task | None = None

    def ytung_code_dir(self, virtual: str) -> str:
        home = PurePosixPath(f"/home/{self.user.name}")
        path = PurePosixPath(virtual or str(home))
        if path != home and home not in path.parents:
            return self.home_dir
        rel = path.relative_to(home)
        return self.home_dir if str(rel) == "." else os.path.join(self.home_dir, str(rel))

    def _ytung_watch(self) -> None:
        """Start the memory watchdog of the running server (once)."""
        if not self.pid or (self._ytung_watchdog and not self._ytung_watchdog.done()):
            return
        device_type = self._ytung_env.get("YTUNG_DEVICE_TYPE") or None
        limit = self.ytung_limits(device_type).mem_limit_bytes
        self._ytung_watchdog = asyncio.ensure_future(
            watch_memory(self.pid, limit, self.memory_poll_interval, self._ytung_memory_exceeded)
        )

    async def _ytung_memory_exceeded(self, message: str) -> None:
        self.log.warning("server %s of %s killed: %s", self.name, self.user.name, message)
        await self.ytung_event("failed", message)
        # the exit the hub's poll sees next is this one: report it only once
        self._ytung_admitted = False

    def _ytung_unwatch(self) -> None:
        if self._ytung_watchdog is not None:
            self._ytung_watchdog.cancel()
            self._ytung_watchdog = None

    @default("cmd")
    def _cmd_default(self):
        # the singleuser server of the hub's own environment, not whatever is first on PATH
        return [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]

    @default("notebook_dir")
    def _notebook_dir_default(self):
        return self.home_dir

    def make_preexec_fn(self, name):
        home = self.home_dir

        def preexec():
            os.makedirs(home, 0o755, exist_ok=True)
            os.chdir(home)

        return preexec

    def user_env(self, env):
        env["USER"] = self.user.name
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0 and "--allow-root" not in args:
            args.append("--allow-root")
        return args

    def move_certs(self, paths):
        return paths

    async def start(self):
        os.makedirs(self.home_dir, 0o755, exist_ok=True)
        url = await super().start()
        self._ytung_watch()
        return url

    async def poll(self):
        status = await super().poll()
        if status is None and self._ytung_admitted:
            self._ytung_watch()  # a server adopted after a hub restart is watched too
        return status

    async def stop(self, now=False):
        self._ytung_unwatch()
        await super().stop(now=now)
