"""``/ytung/api/datasets*``: the Lab's Datasets panel, forwarded to the service (SPEC S1–S3).

Every route forwards to the same path under the service's ``/api/v1/`` through
:mod:`ytung_service.client` with this server's token; the service decides who sees what.
Bytes are never held whole: an upload chunk is streamed on to the service as it arrives (with
back-pressure), and a download is streamed back chunk by chunk.
"""

from __future__ import annotations

import asyncio
import json

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ytung_service.client import AsyncPlatformClient, PlatformError, ServiceUnreachable

from .base import YtungAPIHandler

_UPLOAD_ID = r"(?P<upload_id>[0-9a-f]{32})"
_DATASET_ID = r"(?P<dataset_id>[0-9]+)"

#: unpacking a 2 GB archive takes a while; downloads take as long as they take
_COMPLETE_TIMEOUT = 3600
_STREAM_TIMEOUT = 6 * 3600
_STREAM_MAX_BYTES = 1 << 42


class _Forward(YtungAPIHandler):
    def json_object(self, *reserved: str) -> dict:
        """The JSON object of the request; a key that would collide with a client method's own
        parameters (``self``, ``reserved``) is a 400, not a ``TypeError`` (500) later."""
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a JSON object")
        bad = sorted(k for k in body if k in ("self", *reserved))
        if bad:
            raise web.HTTPError(400, "Unknown field: %s", ", ".join(bad))
        return body

    def answer(self, data, status: int = 200) -> None:
        if data is None:
            self.set_status(204)
            self.finish()
        else:
            self.write_json(data, status)

    def _relay_error(self, status: int, body: bytes) -> None:
        if status == 599 or not 400 <= status < 600:
            raise web.HTTPError(503, "The Ytung service did not answer")
        try:
            message = json.loads(body).get("message") or f"HTTP {status}"
        except (ValueError, AttributeError):
            message = body.decode("utf8", "replace")[:500] or f"HTTP {status}"
        raise web.HTTPError(status, "%s", message)


class DatasetsHandler(_Forward):
    @web.authenticated
    async def get(self):
        labeled = self.get_query_argument("labeled", None)
        self.write_json(
            await self.call_platform(
                "datasets",
                q=self.get_query_argument("q", ""),
                labeled=None if labeled in (None, "") else labeled.lower() in ("1", "true"),
            )
        )

    @web.authenticated
    async def post(self):
        """Register a server path as a dataset."""
        self.write_json(await self.call_platform("register_dataset", **self.json_object()), 201)


class DatasetHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        self.write_json(await self.call_platform("dataset", int(dataset_id)))

    @web.authenticated
    async def patch(self, dataset_id):
        body = self.json_object("dataset_id")
        self.write_json(await self.call_platform("update_dataset", int(dataset_id), **body))

    @web.authenticated
    async def delete(self, dataset_id):
        self.answer(await self.call_platform("delete_dataset", int(dataset_id)))


class DatasetVersionsHandler(_Forward):
    @web.authenticated
    async def post(self, dataset_id):
        path = self.json_object().get("path")
        self.write_json(
            await self.call_platform("add_dataset_version_from_path", int(dataset_id), path), 201
        )


class DownloadHandler(_Forward):
    """The service's zip, streamed through (``?version=``; default the latest)."""

    @web.authenticated
    async def get(self, dataset_id):
        version = self.get_query_argument("version", None)
        if version is not None and not version.isdigit():
            raise web.HTTPError(400, "version must be a version number")
        url, headers = self.platform().dataset_download_request(
            int(dataset_id), int(version) if version else None
        )
        status = {"code": 0}
        passed: dict[str, str] = {}
        error = bytearray()
        started = False

        def on_header(line: str) -> None:
            if line.startswith("HTTP/"):
                status["code"] = int(line.split()[1])
                passed.clear()
            elif ":" in line:
                name, _, value = line.partition(":")
                if name.strip().lower() in ("content-type", "content-disposition"):
                    passed[name.strip()] = value.strip()

        async def on_chunk(chunk: bytes) -> None:
            nonlocal started
            if status["code"] >= 400:
                error.extend(chunk[: 65536 - len(error)])
                return
            if not started:
                started = True
                for name, value in passed.items():
                    self.set_header(name, value)
            self.write(chunk)
            await self.flush()

        client = AsyncHTTPClient(force_instance=True, max_body_size=_STREAM_MAX_BYTES)
        try:
            resp = await client.fetch(
                HTTPRequest(
                    url,
                    headers=headers,
                    header_callback=on_header,
                    streaming_callback=on_chunk,
                    request_timeout=_STREAM_TIMEOUT,
                ),
                raise_error=False,
            )
        finally:
            client.close()
        if resp.code >= 400 or status["code"] >= 400:
            if started:  # too late for an error answer: cut the download short
                self.request.connection.close()
                return
            self._relay_error(status["code"] or resp.code, bytes(error))
        if not started:
            for name, value in passed.items():
                self.set_header(name, value)
        self.finish()


class UploadsHandler(_Forward):
    @web.authenticated
    async def post(self):
        """Start an upload: ``{"filename", "size", "name", ...}`` → ``{"id", "offset"}``."""
        body = self.json_object()
        filename, size = body.pop("filename", None), body.pop("size", None)
        self.write_json(
            await self.call_platform("start_dataset_upload", filename, size, **body), 201
        )


@web.stream_request_body
class UploadHandler(_Forward):
    """``GET`` the offset, ``PUT`` a chunk (streamed on as it comes), ``DELETE`` to cancel."""

    _queue: asyncio.Queue | None = None
    _upstream: asyncio.Future | None = None
    _producer_done = False
    _client: AsyncHTTPClient | None = None

    async def prepare(self):
        await super().prepare()
        if self.request.method != "PUT":
            return
        if not self.current_user:
            raise web.HTTPError(403)
        content_range = self.request.headers.get("Content-Range")
        length = self.request.headers.get("Content-Length")
        if not content_range:
            raise web.HTTPError(400, "A chunk needs a Content-Range header: bytes START-END/TOTAL")
        if length is None or not length.isdigit():
            raise web.HTTPError(411, "A chunk needs a Content-Length")
        url, headers = self.platform().dataset_chunk_request(
            self.path_kwargs["upload_id"], content_range
        )
        headers["Content-Length"] = length
        self.request.connection.set_max_body_size(int(length))
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._queue = queue

        async def produce(write):
            try:
                while (chunk := await queue.get()) is not None:
                    await write(chunk)
            finally:
                self._producer_done = True
                while not queue.empty():
                    queue.get_nowait()

        self._client = AsyncHTTPClient(force_instance=True)
        self._upstream = asyncio.ensure_future(
            self._client.fetch(
                HTTPRequest(
                    url,
                    method="PUT",
                    headers=headers,
                    body_producer=produce,
                    request_timeout=_STREAM_TIMEOUT,
                ),
                raise_error=False,
            )
        )

    async def data_received(self, chunk: bytes) -> None:
        if self._queue is not None and not self._producer_done:
            await self._queue.put(chunk)

    def on_connection_close(self):
        # the browser went away: stop feeding the service; it keeps the bytes that came
        if self._queue is not None and not self._producer_done:
            self._producer_done = True
            if self._upstream is not None:
                self._upstream.cancel()
        self._close_client()
        super().on_connection_close()

    def on_finish(self):
        self._close_client()
        super().on_finish()

    def _close_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    @web.authenticated
    async def put(self, upload_id):
        if not self._producer_done:
            await self._queue.put(None)
        resp = await self._upstream
        if resp.code >= 400:
            self._relay_error(resp.code, resp.body or b"")
        self.write_json(json.loads(resp.body))

    @web.authenticated
    async def get(self, upload_id):
        self.write_json(await self.call_platform("dataset_upload", upload_id))

    @web.authenticated
    async def delete(self, upload_id):
        self.answer(await self.call_platform("cancel_dataset_upload", upload_id))


class UploadCompleteHandler(_Forward):
    @web.authenticated
    async def post(self, upload_id):
        """Unpack: may take minutes for a 2 GB archive."""
        client = AsyncPlatformClient(lang=self.ui_language(), timeout=_COMPLETE_TIMEOUT)
        try:
            self.write_json(await client.complete_dataset_upload(upload_id), 201)
        except ServiceUnreachable as e:
            raise web.HTTPError(503, "The Ytung service did not answer: %s", e.message) from None
        except PlatformError as e:
            if not 400 <= e.status < 600:
                raise web.HTTPError(
                    503, "The Ytung service did not answer: %s", e.message
                ) from None
            raise web.HTTPError(e.status, "%s", e.message) from None


default_handlers = [
    (r"/datasets", DatasetsHandler),
    (r"/datasets/uploads", UploadsHandler),
    (rf"/datasets/uploads/{_UPLOAD_ID}", UploadHandler),
    (rf"/datasets/uploads/{_UPLOAD_ID}/complete", UploadCompleteHandler),
    (rf"/datasets/{_DATASET_ID}", DatasetHandler),
    (rf"/datasets/{_DATASET_ID}/versions", DatasetVersionsHandler),
    (rf"/datasets/{_DATASET_ID}/download", DownloadHandler),
]
