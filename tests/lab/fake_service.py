"""``FakeService``: a real tornado HTTP server that plays the Ytung platform service.

It imitates only what the lab side calls, with the service's JSON errors
(``{"status": int, "message": str}``):

- ``GET {url}api/v1/me``: the user
- ``GET {url}api/v1/me/vcs``: the user's VCs, device use and queued workloads; like the service,
  it answers the queue reasons in the language of ``Accept-Language`` (zh or English)
- ``PUT {url}api/v1/me/settings`` ``{"current_vc": name}``: 404 for a VC not in the user's list

It runs on its own thread and event loop so that both the async server extension and the
blocking ``PlatformClient`` of the widgets can call it from any test.

- ``users``: token → the ``/me`` document answered for that token
- ``my_vcs``: token → the ``/me/vcs`` document (a :func:`vcs_document` unless set)
- ``fail_with``: ``(status, message)`` to answer every request with an error instead
- ``requests``: a :class:`Received` (method, path, authorization, accept_language, body) per request
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from typing import NamedTuple

from tornado import httpserver, web


class Received(NamedTuple):
    """One request as the fake saw it."""

    method: str
    path: str
    authorization: str
    accept_language: str | None = None
    body: object = None


def me_document(name="alice", nickname="Alice", vcs=None, roles=None, admin=False) -> dict:
    """A ``/api/v1/me`` document as the service answers it."""
    return {
        "name": name,
        "nickname": nickname,
        "admin": admin,
        "roles": [{"name": "User", "description": "Uses the platform"}] if roles is None else roles,
        "permissions": ["workloads"],
        "vcs": [{"name": "vc-a", "description": "Team A GPUs"}] if vcs is None else vcs,
    }


# the queue reason of vcs_document() as the service words it per language
QUEUE_REASON = {
    "en": "VC 'vision' has 0 of 8 nvidia_gpu_amd64 free, this workload needs 2; 0 workloads ahead",
    "zh": "虚拟集群 'vision' 的 8 个 nvidia_gpu_amd64 中空闲 0 个，该任务需要 2 个；前面有 0 个任务",
}


def vcs_document(current_vc="vision", queued=True) -> dict:
    """A ``/api/v1/me/vcs`` document: VCs ``vision`` (GPU, 24 h) and ``speech`` (NPU, unlimited)."""
    return {
        "current_vc": current_vc,
        "vcs": [
            {
                "name": "vision",
                "description": "Computer vision team",
                "max_hours": 24,
                "devices": [
                    {
                        "device_type": "nvidia_gpu_amd64",
                        "quota": 8,
                        "user_max": 2,
                        "used": 8,
                        "my_used": 1,
                        "queued": 2,
                    }
                ],
            },
            {
                "name": "speech",
                "description": "",
                "max_hours": None,
                "devices": [
                    {
                        "device_type": "huawei_npu_arm64",
                        "quota": 16,
                        "user_max": None,
                        "used": 4,
                        "my_used": 0,
                        "queued": 0,
                    }
                ],
            },
        ],
        "queued": [
            {
                "id": 12,
                "name": "devenv-12",
                "kind": "devenv",
                "vc": "vision",
                "device_type": "nvidia_gpu_amd64",
                "nodes": 1,
                "devices_per_node": 2,
                "position": 1,
                "ahead": 0,
                "reason": QUEUE_REASON["en"],
                "submitted": "2026-11-28T10:00:00Z",
            }
        ]
        if queued
        else [],
    }


class _FakeHandler(web.RequestHandler):
    """Records the request, answers ``fail_with`` or a 403 for unknown tokens, else ``answer``."""

    def initialize(self, fake: FakeService):
        self.fake = fake

    def _prepare_answer(self) -> str | None:
        """The caller's token, or ``None`` when an error was already answered."""
        auth = self.request.headers.get("Authorization", "")
        try:
            body = json.loads(self.request.body) if self.request.body else None
        except ValueError:
            body = self.request.body
        self.fake.requests.append(
            Received(
                self.request.method,
                self.request.path,
                auth,
                self.request.headers.get("Accept-Language"),
                body,
            )
        )
        self.set_header("Content-Type", "application/json")
        if self.fake.fail_with:
            self.fail(*self.fake.fail_with)
            return None
        token = auth.removeprefix("token ").strip() if auth.startswith("token ") else ""
        if token not in self.fake.users:
            self.fail(403, "Invalid or missing token")
            return None
        return token

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"status": status, "message": message}))

    @property
    def language(self) -> str:
        accept = self.request.headers.get("Accept-Language", "")
        return "zh" if accept.lower().startswith("zh") else "en"


class _MeHandler(_FakeHandler):
    def get(self):
        token = self._prepare_answer()
        if token is not None:
            self.finish(json.dumps(self.fake.users[token]))


class _MyVCsHandler(_FakeHandler):
    def get(self):
        token = self._prepare_answer()
        if token is None:
            return
        doc = copy.deepcopy(self.fake.my_vcs.setdefault(token, vcs_document()))
        for item in doc["queued"]:
            if item["reason"] == QUEUE_REASON["en"]:
                item["reason"] = QUEUE_REASON[self.language]
        self.finish(json.dumps(doc))


class _MySettingsHandler(_FakeHandler):
    def put(self):
        token = self._prepare_answer()
        if token is None:
            return
        body = self.fake.requests[-1].body
        vc = body.get("current_vc") if isinstance(body, dict) else None
        if not isinstance(vc, str):
            self.fail(400, "current_vc must be a string")
            return
        doc = self.fake.my_vcs.setdefault(token, vcs_document())
        if vc not in {v["name"] for v in doc["vcs"]}:
            self.fail(404, f"No such virtual cluster: {vc}")
            return
        doc["current_vc"] = vc
        self.finish(json.dumps({"current_vc": vc}))


class FakeService:
    """The platform service's ``/api/v1/me*`` on ``127.0.0.1:<free port>/services/ytung/``."""

    prefix = "/services/ytung/"

    def __init__(self):
        self.users: dict[str, dict] = {}
        self.my_vcs: dict[str, dict] = {}
        self.fail_with: tuple[int, str] | None = None
        self.requests: list[Received] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: httpserver.HTTPServer | None = None
        self._thread: threading.Thread | None = None
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def start(self) -> FakeService:
        started = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(
                [
                    (self.prefix + r"api/v1/me", _MeHandler, {"fake": self}),
                    (self.prefix + r"api/v1/me/vcs", _MyVCsHandler, {"fake": self}),
                    (self.prefix + r"api/v1/me/settings", _MySettingsHandler, {"fake": self}),
                ],
                log_function=lambda handler: None,
            )
            self._server = httpserver.HTTPServer(app)
            self._socket.listen(16)
            self._socket.setblocking(False)
            self._server.add_socket(self._socket)
            self._loop.call_soon(started.set)
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="FakeService", daemon=True)
        self._thread.start()
        started.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown():
            self._server.stop()
            await self._server.close_all_connections()
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)
        self._loop = None
