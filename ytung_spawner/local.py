"""``YtungLocalSpawner``: workloads as local processes under the data root (runtime ``local``).

Each user's home is ``<data dir>/home/<user>``; every server runs ``jupyterhub-singleuser``
from the hub's own Python environment (so the Ytung server extension is there), as the hub's
Unix user. This is the embedded, one-machine runtime: it isolates by directory and device
binding, not by Unix account — use the Kubernetes runtime for untrusted users.
"""

from __future__ import annotations

import os
import sys

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode, default

from ytung_service.config import data_dir

from .mixin import YtungSpawnerMixin


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
        return await super().start()
