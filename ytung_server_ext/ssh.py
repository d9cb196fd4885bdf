"""D5: a real SSH login into a dev environment (``ssh -p PORT user@host``), and scp/sftp for
large uploads (D4).

The server extension of a dev environment starts one :func:`start_ssh_server` on a free port:
an ``asyncssh`` server that runs the login shell or the command of each session as a
process of the environment (its environment variables — the platform's D9 set — its home as
the working directory). It accepts the owner's name with the environment's generated password
(new at every start) or any key of the owner's ``~/.ssh/authorized_keys``. The host key stays
in ``~/.ytung/ssh/`` so that ``known_hosts`` keeps matching across restarts.

The port and password go to the platform service (``PUT /api/v1/devenvs/<id>/ssh``), which
shows the ``ssh -p PORT user@host`` line and the password in the environment list.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import pty
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

import asyncssh

log = logging.getLogger("ytung.ssh")

#: process groups of the running sessions: ended with the environment's server (atexit)
_SESSIONS: set[int] = set()


def _end_sessions() -> None:
    for pgid in list(_SESSIONS):
        try:
            os.killpg(pgid, signal.SIGHUP)
        except OSError:
            pass


atexit.register(_end_sessions)


@dataclass
class SSHLogin:
    """Where the SSH server of this environment listens and how to log in."""

    port: int
    username: str
    password: str
    server: asyncssh.SSHAcceptor

    def close(self) -> None:
        self.server.close()


def host_key(home: Path) -> asyncssh.SSHKey:
    """The environment's host key, created once (0600) under ``~/.ytung/ssh/``."""
    path = home / ".ytung" / "ssh" / "ssh_host_ed25519_key"
    if path.exists():
        return asyncssh.read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(path)
    os.chmod(path, 0o600)
    return key


class _Server(asyncssh.SSHServer):
    """One connection: the owner only, by password or by an authorized key."""

    def __init__(self, username: str, password: str, authorized_keys: Path):
        self.username = username
        self.password = password
        self.authorized_keys = authorized_keys
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        if username == self.username and self.authorized_keys.exists() and self.conn:
            try:
                self.conn.set_authorized_keys(str(self.authorized_keys))
            except (OSError, ValueError) as e:
                log.warning("ignoring %s: %s", self.authorized_keys, e)
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.username and secrets.compare_digest(
            password.encode(), self.password.encode()
        )

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return False  # only keys from authorized_keys (set in begin_auth) are accepted


async def _pump_pty(process: asyncssh.SSHServerProcess, master: int, proc) -> int:
    """Copy between the SSH channel and the pseudo-terminal until the shell exits."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process of the terminal has closed it
            data = b""
        if not data:
            loop.remove_reader(master)
            done.set()
            return
        process.stdout.write(data)

    async def copy_input() -> None:
        while not process.stdin.at_eof():
            data = await process.stdin.read(65536)
            if not data:
                break
            os.write(master, data)

    loop.add_reader(master, readable)
    feeding = asyncio.ensure_future(copy_input())
    try:
        status = await proc.wait()
        await asyncio.wait_for(done.wait(), 5)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(master)
        feeding.cancel()
        os.close(master)
    await process.stdout.drain()
    return status


async def _run_session(process: asyncssh.SSHServerProcess, home: Path, shell: str) -> None:
    """Run the session's command (or a login shell) as a process of this environment."""
    env = dict(os.environ)
    env.update(process.env or {})
    env.setdefault("TERM", process.term_type or "dumb")
    env["HOME"] = str(home)
    argv = [shell, "-lc", process.command] if process.command else [shell, "-l"]
    if process.term_type:
        # an interactive login: a pseudo-terminal, so that the shell prompts and edits lines
        master, slave = pty.openpty()
        cols, rows, *_ = process.term_size
        if cols and rows:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=home,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        _SESSIONS.add(proc.pid)
        try:
            status = await _pump_pty(process, master, proc)
        finally:
            _SESSIONS.discard(proc.pid)
    else:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=home,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        _SESSIONS.add(proc.pid)
        try:
            await process.redirect(stdin=proc.stdin, stdout=proc.stdout, stderr=proc.stderr)
            status = await proc.wait()
        finally:
            _SESSIONS.discard(proc.pid)
        # what the process wrote last is still on its way to the client
        await process.stdout.drain()
        await process.stderr.drain()
    process.exit(status if status >= 0 else 128 - status)


async def start_ssh_server(
    username: str,
    home: Path,
    password: str | None = None,
    host: str = "0.0.0.0",
    port: int = 0,
    shell: str = "/bin/bash",
) -> SSHLogin:
    """Listen for SSH logins into this environment; ``port=0`` picks a free port."""
    home = Path(home)
    password = password or secrets.token_urlsafe(18)
    key = host_key(home)
    authorized = home / ".ssh" / "authorized_keys"

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        try:
            await _run_session(process, home, shell)
        except Exception as e:  # the session ends with a reason instead of hanging
            log.exception("ssh session failed")
            process.stderr.write(f"ytung ssh: {e}\n".encode())
            process.exit(1)

    server = await asyncssh.create_server(
        lambda: _Server(username, password, authorized),
        host,
        port,
        server_host_keys=[key],
        process_factory=handle,
        encoding=None,
        # D4: large files through scp / sftp (paths as on this machine, relative to the home)
        sftp_factory=True,
        allow_scp=True,
        keepalive_interval=30,
        line_editor=False,  # the shell edits its own lines on the pseudo-terminal
    )
    bound = server.sockets[0].getsockname()[1]
    return SSHLogin(port=bound, username=username, password=password, server=server)
