"""``/ytung/api/vcs``: the user's virtual clusters, their device use and the user's queue.

SPEC V3 (queueing, with position and reason), V5 (the user's VC view) and X1 (explainable queue).
"""

from __future__ import annotations

from tornado import web

from .base import YtungAPIHandler


class VCsHandler(YtungAPIHandler):
    """``GET``: the service's ``/api/v1/me/vcs`` unchanged.

    ``{"current_vc", "vcs": [{name, description, max_hours, devices: [...]}], "queued": [...]}``;
    the queue reasons come in the language named by ``?lang=``.
    """

    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("my_vcs"))


default_handlers = [
    (r"/vcs", VCsHandler),
]
