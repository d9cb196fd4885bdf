"""The SSH server of a dev environment (D5) with a real asyncssh client, and the D9 file."""

from __future__ import annotations

import asyncssh
import pytest

from ytung_server_ext.devenv import pod_env, pod_env_path, render_pod_env, write_pod_env
from ytung_server_ext.ssh import start_ssh_server


@pytest.fixture
async def login(tmp_path, monkeypatch):
    monkeypatch.setenv("YTUNG_DEVENV_NAME", "demo")
    server = await start_ssh_server("ann", tmp_path, host="127.0.0.1")
    yield server
    server.close()


def connect(login, **kw):
    return asyncssh.connect(
        "127.0.0.1",
        login.port,
        username="ann",
        known_hosts=None,
        **{"password": login.password, **kw},
    )


async def test_password_login_runs_in_the_home(login, tmp_path):
    async with connect(login) as conn:
        r = await conn.run("pwd; echo $YTUNG_DEVENV_NAME; exit 3", check=False)
    assert r.stdout.split() == [str(tmp_path), "demo"] and r.exit_status == 3
    assert len(login.password) >= 24


async def test_interactive_session_gets_a_terminal(login):
    async with connect(login) as conn:
        r = await conn.run("tty", term_type="xterm", check=False)
    assert r.stdout.strip().startswith("/dev/pts/")


@pytest.mark.parametrize("user, password", [("ann", "wrong"), ("bob", None)])
async def test_refused(login, user, password):
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1",
            login.port,
            username=user,
            password=password or login.password,
            known_hosts=None,
        )


async def test_authorized_key_login(login, tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "authorized_keys").write_bytes(key.export_public_key())
    async with asyncssh.connect(
        "127.0.0.1", login.port, username="ann", client_keys=[key], known_hosts=None
    ) as conn:
        assert (await conn.run("echo key", check=True)).stdout == "key\n"
    other = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1", login.port, username="ann", client_keys=[other], known_hosts=None
        )


async def test_host_key_is_kept_across_restarts(login, tmp_path):
    again = await start_ssh_server("ann", tmp_path, host="127.0.0.1")
    try:
        first = (tmp_path / ".ytung" / "ssh" / "ssh_host_ed25519_key").read_bytes()
        assert again.password != login.password
        assert (tmp_path / ".ytung" / "ssh" / "ssh_host_ed25519_key").read_bytes() == first
    finally:
        again.close()


def test_pod_env(tmp_path):
    environ = {
        "HOME": str(tmp_path),
        "JUPYTERHUB_SERVER_NAME": "devenv-3",
        "JUPYTERHUB_API_TOKEN": "secret",
        "YTUNG_SERVICE_TOKEN": "secret",
        "YTUNG_VC": "default",
        "YTUNG_CODE_DIR": "/home/ann/it's",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "PATH": "/usr/bin",
    }
    assert pod_env(environ) == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "JUPYTERHUB_SERVER_NAME": "devenv-3",
        "YTUNG_CODE_DIR": "/home/ann/it's",
        "YTUNG_VC": "default",
    }
    assert render_pod_env({"A": "x y", "B": "it's"}) == "export A='x y'\nexport B='it'\"'\"'s'\n"
    assert pod_env_path(environ) == tmp_path / ".ytung" / "devenv-3" / "pod.env"
    path = write_pod_env(environ)
    assert environ["YTUNG_POD_ENV"] == str(path)
    text = path.read_text()
    assert "secret" not in text and f"export YTUNG_POD_ENV={path}" in text
