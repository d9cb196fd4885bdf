"""``FakeService``: a real tornado HTTP server that plays the Ytung platform service.

It imitates only what the lab side calls: ``GET {url}api/v1/me``, with the service's JSON
errors (``{"status": int, "message": str}``). It runs on its own thread and event loop so that
both the async server extension and the blocking ``PlatformClient`` of the widgets can call it
from any test.

- ``users``: token → the ``/me`` document answered for that token
- ``fail_with``: ``(status, message)`` to answer every request with an error instead
- ``requests``: ``(method, path, authorization header)`` of every request received
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

from tornado import httpserver, web


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


class _MeHandler(web.RequestHandler):
    def initialize(self, fake: FakeService):
        self.fake = fake

    def get(self):
        auth = self.request.headers.get("Authorization", "")
        self.fake.requests.append((self.request.method, self.request.path, auth))
        self.set_header("Content-Type", "application/json")
        if self.fake.fail_with:
            status, message = self.fake.fail_with
            self.set_status(status)
            self.finish(json.dumps({"status": status, "message": message}))
            return
        token = auth.removeprefix("token ").strip() if auth.startswith("token ") else ""
        if token not in self.fake.users:
            self.set_status(403)
            self.finish(json.dumps({"status": 403, "message": "Invalid or missing token"}))
            return
        self.finish(json.dumps(self.fake.users[token]))


class FakeService:
    """The platform service's ``/api/v1/me`` on ``127.0.0.1:<free port>/services/ytung/``."""

    prefix = "/services/ytung/"

    def __init__(self):
        self.users: dict[str, dict] = {}
        self.fail_with: tuple[int, str] | None = None
        self.requests: list[tuple[str, str, str]] = []
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
                [(self.prefix + r"api/v1/me", _MeHandler, {"fake": self})],
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
