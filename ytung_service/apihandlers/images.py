"""``/api/v1/images``: saved engines (SPEC I1, from D8): list, show, delete.

A user sees their own; an administrator sees everybody's (``?owner=*``) and may delete any.
"""

from __future__ import annotations

from sqlalchemy import select
from tornado import web

from .. import devenvs, orm
from ..permissions import ADMIN, USE, requires
from .base import APIHandler


class ImageMixin:
    def find_image(self, image_id: str) -> orm.SavedImage:
        image = self.db.get(orm.SavedImage, int(image_id))
        mine = self.platform_user is not None and image is not None
        mine = mine and image.owner == self.platform_user.name
        if image is None or not (mine or ADMIN in self.platform_permissions):
            raise web.HTTPError(404, self.t("No such saved image: {name}", name=image_id))
        return image


class ImageListHandler(ImageMixin, APIHandler):
    @requires(USE)
    async def get(self):
        query = select(orm.SavedImage).order_by(orm.SavedImage.id.desc())
        owner = self.get_argument("owner", None)
        if not (owner and ADMIN in self.platform_permissions):
            if self.platform_user is None:
                raise web.HTTPError(
                    400, self.t("Only users have a profile; this is a service token")
                )
            owner = self.platform_user.name
        if owner != "*":
            query = query.where(orm.SavedImage.owner == owner)
        self.write_json([devenvs.image_model(i) for i in self.db.scalars(query)])


class ImageHandler(ImageMixin, APIHandler):
    @requires(USE)
    async def get(self, image_id):
        self.write_json(devenvs.image_model(self.find_image(image_id)))

    @requires(USE)
    async def delete(self, image_id):
        devenvs.delete_image(self.db, self.find_image(image_id))
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/api/v1/images", ImageListHandler),
    (r"/api/v1/images/(?P<image_id>[0-9]+)", ImageHandler),
]
