"""``/api/v1/openapi.json``: the REST API's OpenAPI document (``ytung_service/openapi.yaml``).

The document is written by hand, next to the code; ``tests/service/test_openapi.py`` checks that
every route is documented and every documented path is routed.
"""

import functools
import json
from pathlib import Path

import yaml
from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

SPEC_PATH = Path(__file__).parent.parent / "openapi.yaml"


@functools.cache
def openapi_document() -> dict:
    with open(SPEC_PATH, encoding="utf8") as f:
        return yaml.safe_load(f)


class OpenAPIHandler(web.RequestHandler):
    """Public: the API description reveals no data."""

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(openapi_document(), ensure_ascii=False))


class XsrfHandler(HubOAuthenticated, web.RequestHandler):
    """The service's XSRF token for scripts on hub pages (the spawn form's preview).

    The hub only accepts a cookie-authenticated ``fetch`` that carries this token, and a page
    outside ``/services/ytung/`` cannot read the service's ``_xsrf`` cookie; cross-origin
    pages cannot read this answer either.
    """

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"xsrf": self.xsrf_token.decode("ascii")}))


default_handlers = [
    (r"/api/v1/openapi.json", OpenAPIHandler),
    (r"/api/v1/xsrf", XsrfHandler),
]
