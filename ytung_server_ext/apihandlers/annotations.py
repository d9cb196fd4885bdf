"""``/ytung/api/annotations/*``: annotation projects, datasets, labeling and COCO (SPEC S4–S7).

Each route forwards to the same path of the service (``/api/v1/annotations/*``) through
:class:`ytung_service.client.AsyncPlatformClient`, with this server's token, so that the
service decides who may see and change what. Image files are streamed from the service chunk
by chunk (the service serves only files of the dataset, confined to its directory); nothing is
read from this server's disk.
"""

from __future__ import annotations

import json

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .base import YtungAPIHandler

#: query parameters of the task list passed on to the service
_LIST_PARAMS = ("state", "offset", "limit")


class _Forward(YtungAPIHandler):
    """Helpers: a JSON object body, an answer that may be empty (204)."""

    def json_object(self) -> dict:
        body = self.get_json_body() if self.request.body else {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a JSON object")
        return body

    def answer(self, data, status: int = 200) -> None:
        if data is None and status == 204:
            self.set_status(204)
            self.finish()
        else:
            self.write_json(data, status)


class ProjectsHandler(_Forward):
    @web.authenticated
    async def get(self):
        self.answer(await self.call_platform("annotation_projects"))

    @web.authenticated
    async def post(self):
        body = self.json_object()
        self.answer(
            await self.call_platform(
                "create_annotation_project", body.get("name"), body.get("description") or ""
            ),
            201,
        )


class ProjectHandler(_Forward):
    @web.authenticated
    async def get(self, project_id):
        self.answer(await self.call_platform("annotation_project", int(project_id)))

    @web.authenticated
    async def patch(self, project_id):
        body = self.json_object()
        self.answer(await self.call_platform("update_annotation_project", int(project_id), **body))

    @web.authenticated
    async def delete(self, project_id):
        await self.call_platform("delete_annotation_project", int(project_id))
        self.answer(None, 204)


class ProjectDatasetsHandler(_Forward):
    @web.authenticated
    async def get(self, project_id):
        self.answer(await self.call_platform("annotation_datasets", int(project_id)))

    @web.authenticated
    async def post(self, project_id):
        body = self.json_object()
        self.answer(
            await self.call_platform("create_annotation_dataset", int(project_id), **body), 201
        )


class SourcesHandler(_Forward):
    """The unlabeled datasets the user can see (the choices of an annotation dataset's source)."""

    @web.authenticated
    async def get(self):
        self.answer(await self.call_platform("annotation_sources"))


class DatasetHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        self.answer(await self.call_platform("annotation_dataset", int(dataset_id)))

    @web.authenticated
    async def patch(self, dataset_id):
        body = self.json_object()
        self.answer(await self.call_platform("update_annotation_dataset", int(dataset_id), **body))

    @web.authenticated
    async def delete(self, dataset_id):
        await self.call_platform("delete_annotation_dataset", int(dataset_id))
        self.answer(None, 204)


class ImagesHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        kwargs = {}
        for name in _LIST_PARAMS:
            value = self.get_query_argument(name, None)
            if value is None:
                continue
            if name != "state" and not value.isdigit():
                raise web.HTTPError(400, "%s must be a whole number", name)
            kwargs[name] = value if name == "state" else int(value)
        self.answer(await self.call_platform("annotation_images", int(dataset_id), **kwargs))


class ImageHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id, image_id):
        self.answer(await self.call_platform("annotation_image", int(dataset_id), int(image_id)))

    @web.authenticated
    async def put(self, dataset_id, image_id):
        """Submit: ``{"shapes": [...]}``; the service checks every shape."""
        body = self.json_object()
        if not isinstance(body.get("shapes"), list):
            raise web.HTTPError(400, 'Expected {"shapes": [...]}')
        self.answer(
            await self.call_platform(
                "submit_annotation", int(dataset_id), int(image_id), body["shapes"]
            )
        )


class ImageFileHandler(_Forward):
    """The image bytes, streamed from the service as they arrive."""

    _status = 0
    _error = b""

    def _on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            self._status = int(line.split(" ", 2)[1])
            self._error = b""
            return
        if not line.strip() or ":" not in line:
            return
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if self._status == 200 and name.lower() in ("content-type", "content-length"):
            self.set_header(name, value)

    def _on_chunk(self, chunk: bytes) -> None:
        if self._status == 200:
            self.write(chunk)
            self.flush()
        else:
            self._error += chunk[: 65536 - len(self._error)]

    @web.authenticated
    async def get(self, dataset_id, image_id):
        client = self.platform()
        url, headers = client.annotation_image_request(int(dataset_id), int(image_id))
        request = HTTPRequest(
            url,
            headers=headers,
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
            request_timeout=600,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (HTTPClientError, OSError) as e:
            raise web.HTTPError(503, "The Ytung service did not answer: %s", e) from None
        if response.code == 599:
            raise web.HTTPError(503, "The Ytung service did not answer: %s", response.error)
        if response.code != 200:
            try:
                message = json.loads(self._error).get("message")
            except ValueError:
                message = None
            raise web.HTTPError(response.code, "%s", message or f"HTTP {response.code}")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.finish()


class NextImageHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        after = self.get_query_argument("after", "0")
        if not after.isdigit():
            raise web.HTTPError(400, "after must be a whole number")
        self.answer(await self.call_platform("next_annotation_image", int(dataset_id), int(after)))


class CocoHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        self.answer(await self.call_platform("coco_document", int(dataset_id)))

    @web.authenticated
    async def post(self, dataset_id):
        """Import a COCO document (the body)."""
        self.answer(await self.call_platform("import_coco", int(dataset_id), self.json_object()))


class ExportsHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id):
        self.answer(await self.call_platform("annotation_exports", int(dataset_id)))

    @web.authenticated
    async def post(self, dataset_id):
        name = self.json_object().get("name")
        self.answer(await self.call_platform("export_coco", int(dataset_id), name), 202)


class ExportHandler(_Forward):
    @web.authenticated
    async def get(self, dataset_id, export_id):
        self.answer(await self.call_platform("annotation_export", int(dataset_id), int(export_id)))


_DS = r"/annotations/datasets/(?P<dataset_id>[0-9]+)"

default_handlers = [
    (r"/annotations/projects", ProjectsHandler),
    (r"/annotations/projects/(?P<project_id>[0-9]+)", ProjectHandler),
    (r"/annotations/projects/(?P<project_id>[0-9]+)/datasets", ProjectDatasetsHandler),
    (r"/annotations/sources", SourcesHandler),
    (_DS, DatasetHandler),
    (_DS + r"/images", ImagesHandler),
    (_DS + r"/images/(?P<image_id>[0-9]+)", ImageHandler),
    (_DS + r"/images/(?P<image_id>[0-9]+)/file", ImageFileHandler),
    (_DS + r"/next", NextImageHandler),
    (_DS + r"/coco", CocoHandler),
    (_DS + r"/exports", ExportsHandler),
    (_DS + r"/exports/(?P<export_id>[0-9]+)", ExportHandler),
]
