"""``/api/v1/annotations``: annotation projects, annotation datasets, labeling and COCO
(SPEC S4–S7). The rules live in :mod:`ytung_service.annotations`; these handlers parse the
request, check the permission and answer JSON.

Creating, editing and deleting projects and datasets needs ``platform:use``; seeing, labeling,
importing and exporting needs ``annotation:use`` (the ``Annotation person`` role has only that).
"""

from __future__ import annotations

import asyncio
import mimetypes

from tornado import web

from .. import annotations, orm
from ..errors import DomainError
from ..permissions import ADMIN, ANNOTATE, USE, requires
from .base import APIHandler

#: bytes per chunk when an image is streamed
CHUNK = 256 * 1024
#: background exports in flight (kept so that their futures are not collected early)
_exports: set[asyncio.Future] = set()


class AnnotationHandler(APIHandler):
    """The caller as the annotation domain needs it: a user name and whether they are admin."""

    @property
    def who(self) -> tuple[str, bool]:
        if self.platform_user is None:
            raise web.HTTPError(403, self.t("Annotation needs a platform user"))
        return self.platform_user.name, ADMIN in self.platform_permissions

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        value = self.get_argument(name, str(default))
        if not value.isdigit() or not low <= int(value) <= high:
            raise web.HTTPError(
                400,
                self.t(
                    "'{name}' must be a whole number from {low} to {high}",
                    name=name,
                    low=low,
                    high=high,
                ),
            )
        return int(value)

    def dataset(self, dataset_id) -> orm.AnnotationDataset:
        return annotations.get_dataset(self.db, int(dataset_id), *self.who)

    def dataset_model(self, d: orm.AnnotationDataset) -> dict:
        return annotations.dataset_model(self.db, d, *self.who)


class ProjectListHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self):
        """The projects the caller created or holding an annotation dataset they can see."""
        user, admin = self.who
        self.write_json(
            [
                annotations.project_model(p, user, admin)
                for p in annotations.visible_projects(self.db, user, admin)
            ]
        )

    @requires(USE)
    async def post(self):
        user, admin = self.who
        p = annotations.create_project(self.db, user, self.get_json_body())
        self.write_json(annotations.project_model(p, user, admin), status=201)


class ProjectHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, project_id):
        user, admin = self.who
        p = annotations.get_project(self.db, int(project_id), user, admin)
        self.write_json(annotations.project_model(p, user, admin))

    @requires(USE)
    async def patch(self, project_id):
        user, admin = self.who
        p = annotations.update_project(self.db, int(project_id), user, admin, self.get_json_body())
        self.write_json(annotations.project_model(p, user, admin))

    @requires(USE)
    async def delete(self, project_id):
        user, admin = self.who
        annotations.delete_project(self.db, int(project_id), user, admin, self.ytung.data_dir)
        self.set_status(204)
        self.finish()


class ProjectDatasetsHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, project_id):
        """The project's annotation datasets the caller can see."""
        user, admin = self.who
        p = annotations.get_project(self.db, int(project_id), user, admin)
        self.write_json(
            [self.dataset_model(d) for d in p.datasets if annotations.can_see(d, user, admin)]
        )

    @requires(USE)
    async def post(self, project_id):
        """A new annotation dataset from an unlabeled source dataset (images copied in)."""
        _user, admin = self.who
        body = self.get_json_body()
        d, skipped = await asyncio.to_thread(self._create, int(project_id), admin, body)
        model = self.dataset_model(self.db.get(orm.AnnotationDataset, d.id))
        model["skipped"] = skipped
        self.write_json(model, status=201)

    def _create(self, project_id, admin, body):
        # its own session: the copy runs in a thread
        with self.ytung.session() as db:
            user = db.get(orm.User, self.platform_user.id)
            return annotations.create_dataset(
                db, project_id, user, admin, body, self.ytung.data_dir
            )


class DatasetHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id):
        self.write_json(self.dataset_model(self.dataset(dataset_id)))

    @requires(USE)
    async def patch(self, dataset_id):
        d = annotations.update_dataset(self.db, int(dataset_id), *self.who, self.get_json_body())
        self.write_json(self.dataset_model(d))

    @requires(USE)
    async def delete(self, dataset_id):
        annotations.delete_dataset(self.db, int(dataset_id), *self.who, self.ytung.data_dir)
        self.set_status(204)
        self.finish()


class ImageListHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id):
        """The task list: ``?state=unlabeled|labeled&offset=&limit=``."""
        d = self.dataset(dataset_id)
        state = self.get_argument("state", None) or None
        offset = self.int_argument("offset", 0, 0, 10**9)
        limit = self.int_argument("limit", 100, 1, 1000)
        self.write_json(annotations.list_images(self.db, d, state, offset, limit))


class ImageHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id, image_id):
        """One image with its submitted shapes."""
        d = self.dataset(dataset_id)
        self.write_json(annotations.image_model(annotations.get_image(self.db, d, image_id), True))

    @requires(ANNOTATE)
    async def put(self, dataset_id, image_id):
        """Submit: ``{"shapes": [...]}`` replaces the image's shapes (all checked, or none
        saved); answers the image and the next unlabeled one (``null`` when all are done)."""
        d = self.dataset(dataset_id)
        body = self.get_json_body()
        if "shapes" not in body:
            raise DomainError(400, "'shapes' must be a list")
        image, following = annotations.submit(self.db, d, image_id, self.who[0], body["shapes"])
        self.write_json(
            {
                "image": annotations.image_model(image, True),
                "next": annotations.image_model(following) if following else None,
            }
        )


class ImageFileHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id, image_id):
        """The image file, streamed."""
        d = self.dataset(dataset_id)
        image = annotations.get_image(self.db, d, image_id)
        path = annotations.image_path(self.ytung.data_dir, image)
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed below, across awaits)
        except OSError:
            raise DomainError(
                404, "The file of image {name} is missing", name=image.file_name
            ) from None
        self.db.close()  # the stream may take long; no session is held while it runs
        with f:
            size = f.seek(0, 2)
            f.seek(0)
            content_type = mimetypes.guess_type(image.file_name)[0] or "application/octet-stream"
            self.set_header("Content-Type", content_type)
            self.set_header("Content-Length", str(size))
            self.set_header("Cache-Control", "private, max-age=3600")
            while chunk := f.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()


class NextImageHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id):
        """The next unlabeled image after ``?after=<image id>`` (``null``: all labeled)."""
        d = self.dataset(dataset_id)
        after = self.int_argument("after", 0, 0, 2**62)
        following = annotations.next_image(self.db, d, after)
        self.write_json(annotations.image_model(following) if following else None)


class CocoHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id):
        """The COCO document of the labeled images (nothing stored)."""
        self.write_json(annotations.coco_document(self.db, self.dataset(dataset_id)))

    @requires(ANNOTATE)
    async def post(self, dataset_id):
        """Import a COCO document (the body): label the images it names."""
        d = self.dataset(dataset_id)
        result = annotations.import_coco(self.db, d, self.who[0], self.get_json_body())
        self.write_json(result)


class ExportListHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id):
        d = self.dataset(dataset_id)
        self.write_json([annotations.export_model(e) for e in annotations.list_exports(self.db, d)])

    @requires(ANNOTATE)
    async def post(self, dataset_id):
        """Start a COCO export in the background (202); poll its row for progress. The result
        is a new private labeled dataset of the caller (``{"name"}`` names it)."""
        d = self.dataset(dataset_id)
        body = self.get_json_body()
        name = body.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise DomainError(400, "The dataset name is required")
            name = name.strip()
        e = annotations.start_export(self.db, d, self.who[0], name)
        future = asyncio.get_running_loop().run_in_executor(
            None,
            lambda: annotations.run_export(
                self.ytung.session, e.id, self.ytung.data_dir, name=name
            ),
        )
        _exports.add(future)
        future.add_done_callback(_exports.discard)
        self.write_json(annotations.export_model(e), status=202)


class ExportHandler(AnnotationHandler):
    @requires(ANNOTATE)
    async def get(self, dataset_id, export_id):
        d = self.dataset(dataset_id)
        self.write_json(annotations.export_model(annotations.get_export(self.db, d, export_id)))


_DS = r"/api/v1/annotations/datasets/(?P<dataset_id>[0-9]+)"

default_handlers = [
    (r"/api/v1/annotations/projects", ProjectListHandler),
    (r"/api/v1/annotations/projects/(?P<project_id>[0-9]+)", ProjectHandler),
    (r"/api/v1/annotations/projects/(?P<project_id>[0-9]+)/datasets", ProjectDatasetsHandler),
    (_DS, DatasetHandler),
    (_DS + r"/images", ImageListHandler),
    (_DS + r"/images/(?P<image_id>[0-9]+)", ImageHandler),
    (_DS + r"/images/(?P<image_id>[0-9]+)/file", ImageFileHandler),
    (_DS + r"/next", NextImageHandler),
    (_DS + r"/coco", CocoHandler),
    (_DS + r"/exports", ExportListHandler),
    (_DS + r"/exports/(?P<export_id>[0-9]+)", ExportHandler),
]
