"""``RunningPlatform``: the real Ytung (hub + configurable-http-proxy + service) as processes.

Started from ``hub_config/jupyterhub_config.py`` exactly as ``make run`` does, on free ports in
a temporary data dir, with a known admin password. Helpers log in through the real login
form and get hub tokens the way a user would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).parent.parent
ADMIN_PASSWORD = "Admin-pass-2026"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (JupyterHub starts services and servers in new sessions,
    so a process group does not reach them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cmdline_env(pid: int) -> str:
    """A process's command line and environment (a server's data dir shows in its env)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        env = ""
    return _cmdline(pid) + " " + env + " "


def _signal(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningPlatform:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "YTUNG_DATA_DIR": str(self.data_dir),
            "YTUNG_PORT": str(self.port),
            "YTUNG_HUB_PORT": str(free_port()),
            "YTUNG_PROXY_API_PORT": str(free_port()),
            "YTUNG_SERVICE_PORT": str(free_port()),
            "YTUNG_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.env.pop("YTUNG_DB_URL", None)
        self.env.pop("YTUNG_SERVICE_URL", None)
        self.log_path = self.data_dir / "hub.log"
        self.proc: subprocess.Popen | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> RunningPlatform:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "jupyterhub"),
                "-f",
                str(ROOT / "hub_config" / "jupyterhub_config.py"),
            ],
            cwd=self.data_dir,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                hub = requests.get(self.url + "/hub/api/", timeout=2)
                svc = requests.get(self.url + "/services/ytung/api/v1/openapi.json", timeout=2)
                if hub.status_code == 200 and svc.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"platform did not come up:\n{self.log_tail()}")

    @classmethod
    @contextlib.contextmanager
    def running(cls, data_dir: Path, **extra_env: str):
        """A started platform for a ``with`` block (or a fixture), stopped afterwards."""
        platform = cls(data_dir, extra_env=extra_env).start()
        try:
            yield platform
        finally:
            platform.stop()

    def kill9(self) -> None:
        """``kill -9`` the hub and the platform service at once. The proxy and the
        single-user servers live on, as they would after a real crash of the hub's host
        process; the restarted hub adopts them."""
        service = [p for p in descendants(self.proc.pid) if "-m ytung_service" in _cmdline(p)]
        assert service, "no service process found under the hub"
        _signal([self.proc.pid, *service], signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self._stop_all_servers()
        except Exception:
            pass
        # servers adopted after a restart are not the new hub's children: find them by path
        leftovers = set(descendants(self.proc.pid)) | {
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit() and f"YTUNG_DATA_DIR={self.data_dir} " in _cmdline_env(int(p))
        }
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        proxy_pid = self.data_dir / "proxy.pid"
        if proxy_pid.exists():
            try:
                leftovers.add(int(proxy_pid.read_text()))
            except ValueError:
                pass
        _signal(leftovers - {os.getpid()}, signal.SIGTERM)
        self._log.close()
        self.proc = None

    def _stop_all_servers(self) -> None:
        token = self.token("admin", ADMIN_PASSWORD)
        users = self.hub_api("GET", "users", token).json()
        for user in users:
            for name in user.get("servers", {}):
                path = (
                    f"users/{user['name']}/servers/{name}"
                    if name
                    else f"users/{user['name']}/server"
                )
                self.hub_api("DELETE", path, token)

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # -- clients ----------------------------------------------------------------------------
    def browser_session(self) -> requests.Session:
        s = requests.Session()
        s.get(self.url + "/hub/login")
        return s

    def xsrf(self, session: requests.Session, path: str = "/hub/login") -> str:
        html = session.get(self.url + path).text
        m = re.search(r'name="_xsrf" value="([^"]+)"', html)
        return m.group(1) if m else session.cookies.get("_xsrf", "")

    def login(self, username: str, password: str) -> requests.Session:
        s = self.browser_session()
        r = s.post(
            self.url + "/hub/login",
            data={"username": username, "password": password, "_xsrf": self.xsrf(s)},
            allow_redirects=False,
        )
        if r.status_code != 302:
            raise AssertionError(f"login of {username} failed: {r.status_code}")
        return s

    def signup(self, username: str, nickname: str, password: str, confirm: str | None = None):
        s = self.browser_session()
        return s.post(
            self.url + "/hub/signup",
            data={
                "username": username,
                "nickname": nickname,
                "password": password,
                "password_confirm": password if confirm is None else confirm,
                "_xsrf": self.xsrf(s, "/hub/signup"),
            },
            allow_redirects=False,
        )

    def token(self, username: str, password: str, **body) -> str:
        """A hub API token of ``username``, requested through a logged-in browser session."""
        s = self.login(username, password)
        r = s.post(
            self.url + f"/hub/api/users/{username}/tokens",
            json={"note": "tests", **body},
            headers={"X-XSRFToken": s.cookies.get("_xsrf", path="/hub/")},
        )
        r.raise_for_status()
        return r.json()["token"]

    def hub_api(self, method: str, path: str, token: str, **kw) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/hub/api/{path}",
            headers={"Authorization": f"token {token}"},
            timeout=30,
            **kw,
        )

    def spawn_progress(
        self, user: str, token: str, until: str, server: str = "", timeout: float = 30
    ) -> list[str]:
        """Messages of the hub's spawn progress event stream of ``user``'s server, read until
        one contains ``until`` (or ``timeout`` seconds pass)."""
        import json

        messages: list[str] = []
        path = (
            f"users/{user}/servers/{server}/progress" if server else f"users/{user}/server/progress"
        )
        with requests.get(
            f"{self.url}/hub/api/{path}",
            headers={"Authorization": f"token {token}"},
            stream=True,
            timeout=timeout,
        ) as r:
            deadline = time.monotonic() + timeout
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    messages.append(json.loads(line[5:]).get("message", ""))
                    if until in messages[-1]:
                        break
                if time.monotonic() > deadline:
                    break
        return messages

    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.request(
            method,
            f"{self.url}/services/ytung/api/v1/{path}",
            headers=headers,
            timeout=30,
            **kw,
        )

    def wait_for_server(self, username: str, token: str, name: str = "", timeout=90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.hub_api("GET", f"users/{username}", token).json()
            server = model.get("servers", {}).get(name)
            if server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise TimeoutError(f"server of {username} not ready:\n{self.log_tail()}")


async def execute_in_kernel(server_url: str, token: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` in a new kernel of a running Jupyter server; return its stdout.

    Speaks the Jupyter messaging protocol over the server's kernel websocket, as JupyterLab
    does, so the kernel runs inside the workload with the workload's environment.
    """
    import asyncio
    import json
    import uuid

    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    http = AsyncHTTPClient()
    resp = await http.fetch(
        HTTPRequest(f"{server_url}api/kernels", method="POST", headers=headers, body="{}")
    )
    kernel_id = json.loads(resp.body)["id"]
    ws_url = server_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers=headers))
    msg_id = uuid.uuid4().hex
    conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False},
                "channel": "shell",
            }
        )
    )
    out: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await conn.read_message()
                if raw is None:
                    raise RuntimeError("kernel websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    raise RuntimeError("\n".join(msg["content"]["traceback"]))
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
    finally:
        conn.close()
        await http.fetch(
            HTTPRequest(f"{server_url}api/kernels/{kernel_id}", method="DELETE", headers=headers),
            raise_error=False,
        )
    return "".join(out)
