"""What the server extension does inside a dev environment when it starts (SPEC D5, D9).

- D9: writes the platform's environment (``YTUNG_*``, the device binding, the workload id,
  the code dir, the VC) to ``$YTUNG_POD_ENV`` — the manual's ``/pod.env``; by default
  ``~/.ytung/<server>/pod.env`` — and keeps ``YTUNG_POD_ENV`` in this server's environment, so
  that every terminal and kernel has the variables and can ``source`` the file;
- D5: starts the SSH server (:mod:`ytung_server_ext.ssh`) and reports its port and password
  to the platform service, which shows them in the environment list.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from pathlib import Path

from ytung_service.client import AsyncPlatformClient, PlatformError

from .ssh import SSHLogin, start_ssh_server

log = logging.getLogger("ytung.devenv")

#: besides every YTUNG_* variable, what the environment file holds
POD_ENV_EXTRA = (
    "CUDA_VISIBLE_DEVICES",
    "ASCEND_RT_VISIBLE_DEVICES",
    "JUPYTERHUB_USER",
    "JUPYTERHUB_SERVER_NAME",
    "MASTER_ADDR",
    "MASTER_PORT",
    "RANK",
    "WORLD_SIZE",
)


def pod_env(environ: dict[str, str]) -> dict[str, str]:
    """The platform's variables of this environment (never its tokens)."""
    return {
        k: v
        for k, v in sorted(environ.items())
        if (k.startswith("YTUNG_") or k in POD_ENV_EXTRA) and "TOKEN" not in k
    }


def render_pod_env(variables: dict[str, str]) -> str:
    """``export NAME='value'`` lines a shell can ``source``."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in variables.items())


def pod_env_path(environ: dict[str, str]) -> Path:
    if environ.get("YTUNG_POD_ENV"):
        return Path(environ["YTUNG_POD_ENV"])
    server = environ.get("JUPYTERHUB_SERVER_NAME") or "default"
    return Path(environ.get("HOME") or Path.home()) / ".ytung" / server / "pod.env"


def write_pod_env(environ=os.environ) -> Path:
    """Write the environment file and point ``YTUNG_POD_ENV`` at it (in ``environ``)."""
    path = pod_env_path(environ)
    environ["YTUNG_POD_ENV"] = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_pod_env(pod_env(dict(environ))))
    return path


async def report_ssh(login: SSHLogin, devenv_id: int, workload_id: int, attempts: int = 10):
    """Tell the service where the SSH server listens (retried while the service is away)."""
    for attempt in range(attempts):
        try:
            await AsyncPlatformClient().report_devenv_ssh(
                devenv_id, workload_id, login.port, login.password
            )
            return
        except PlatformError as e:
            if 400 <= e.status < 500:
                log.warning("the service refused the SSH report: %s", e)
                return
            log.info("SSH report not delivered (%s); retrying", e)
            await asyncio.sleep(min(2**attempt, 30))


async def start(serverapp) -> SSHLogin | None:
    """D5: start the SSH server of a dev environment and report it (the file of D9 is written
    synchronously at load, before any kernel starts)."""
    devenv_id, workload_id = os.environ.get("YTUNG_DEVENV_ID"), os.environ.get("YTUNG_WORKLOAD_ID")
    if not (devenv_id and devenv_id.isdigit() and workload_id and workload_id.isdigit()):
        return None
    user = os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER") or "jovyan"
    home = Path(os.environ.get("HOME") or Path.home())
    try:
        login = await start_ssh_server(user, home, host=os.environ.get("YTUNG_SSH_BIND", "0.0.0.0"))
    except OSError as e:
        serverapp.log.error("Ytung: the SSH server did not start: %s", e)
        return None
    serverapp.log.info("Ytung: SSH into this environment on port %s", login.port)
    serverapp.web_app.settings["ytung_ssh"] = login
    await report_ssh(login, int(devenv_id), int(workload_id))
    return login
