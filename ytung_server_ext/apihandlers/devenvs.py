"""``/ytung/api/devenvs`` and ``/ytung/api/images``: the Lab's "Dev environments" section
(SPEC D1–D9, I1), forwarded to the platform service with this server's token; and the
D6 port guard for jupyter-server-proxy.

Routes (under ``{base_url}ytung/api``)::

    GET/POST  /devenvs                       list / create (the D1 fields)
    GET       /devenvs/options               what the create form offers
    DELETE    /devenvs/<id>                  delete a stopped one
    POST      /devenvs/<id>/(start|stop|pause)
    POST      /devenvs/<id>/images           save as an engine (D8)
    GET       /images                        saved engines (I1); DELETE /images/<id>
    GET/PUT   /settings/privilege            the Privilege Job toggle (U1)
"""

from __future__ import annotations

import json

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .base import YtungAPIHandler

#: D6: the ports of an environment a browser may open through ``/proxy/<port>/``
PORT_LOW, PORT_HIGH = 40000, 49999


def _body(handler) -> dict:
    try:
        body = json.loads(handler.request.body or b"{}")
    except ValueError:
        raise web.HTTPError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPError(400, "The request body must be a JSON object")
    return body


class DevEnvsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("devenvs"))

    @web.authenticated
    async def post(self):
        self.write_json(await self.call_platform("create_devenv", **_body(self)), status=201)


class DevEnvOptionsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("devenv_options"))


class DevEnvHandler(YtungAPIHandler):
    @web.authenticated
    async def delete(self, devenv_id):
        await self.call_platform("delete_devenv", int(devenv_id))
        self.set_status(204)
        self.finish()


class DevEnvActionHandler(YtungAPIHandler):
    @web.authenticated
    async def post(self, devenv_id, action):
        self.write_json(await self.call_platform(f"{action}_devenv", int(devenv_id)))


class DevEnvImageHandler(YtungAPIHandler):
    @web.authenticated
    async def post(self, devenv_id):
        body = _body(self)
        image = await self.call_platform(
            "save_devenv_image",
            int(devenv_id),
            str(body.get("name") or ""),
            str(body.get("version") or "1"),
            str(body.get("description") or ""),
        )
        self.write_json(image, status=201)


class ImagesHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("images"))


class ImageHandler(YtungAPIHandler):
    @web.authenticated
    async def delete(self, image_id):
        await self.call_platform("delete_image", int(image_id))
        self.set_status(204)
        self.finish()


class PrivilegeHandler(YtungAPIHandler):
    """U1: ``GET`` the settings, ``PUT {"privilege_enabled": bool}``."""

    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("settings"))

    @web.authenticated
    async def put(self):
        enabled = _body(self).get("privilege_enabled")
        if not isinstance(enabled, bool):
            raise web.HTTPError(400, "privilege_enabled must be true or false")
        self.write_json(await self.call_platform("set_privilege_enabled", enabled))


default_handlers = [
    (r"/devenvs", DevEnvsHandler),
    (r"/devenvs/options", DevEnvOptionsHandler),
    (r"/devenvs/(?P<devenv_id>[0-9]+)", DevEnvHandler),
    (r"/devenvs/(?P<devenv_id>[0-9]+)/(?P<action>start|stop|pause)", DevEnvActionHandler),
    (r"/devenvs/(?P<devenv_id>[0-9]+)/images", DevEnvImageHandler),
    (r"/images", ImagesHandler),
    (r"/images/(?P<image_id>[0-9]+)", ImageHandler),
    (r"/settings/privilege", PrivilegeHandler),
]


# -- D6: only ports 40000-49999 through jupyter-server-proxy ----------------------------------
class PortRefusedHandler(JupyterHandler):
    """Answers 403 for ``/proxy/<port>/`` outside 40000–49999 and for other hosts, before
    jupyter-server-proxy sees the request (the server's own port, the hub, anything else on
    the machine stay out of reach)."""

    def _refuse(self, *args, **kwargs):
        self.set_status(403)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(
            json.dumps(
                {
                    "status": 403,
                    "message": f"Only ports {PORT_LOW}-{PORT_HIGH} of this environment "
                    "can be opened in the browser",
                }
            )
        )

    get = post = put = delete = patch = head = options = _refuse


#: a port in range is ``4`` and four digits (40000–49999)
_IN_RANGE = r"4[0-9]{4}(?:/|$)"
GUARDED = (
    rf"/proxy/(?:absolute/)?(?!{_IN_RANGE})[0-9]+(?:/.*|)",
    rf"/proxy/(?:absolute/)?(?!(?:localhost|127\.0\.0\.1):{_IN_RANGE})[^/:@]+:[0-9]+(?:/.*|)",
)


def install_port_guard(web_app) -> None:
    """Put the guard in front of every other route (extensions may load in any order)."""
    base_url = web_app.settings["base_url"]
    routes = [(url_path_join(base_url, pattern), PortRefusedHandler) for pattern in GUARDED]
    web_app.add_handlers(".*$", routes)
    rules = web_app.default_router.rules
    guard = rules.pop(-2)  # add_handlers inserts before the last (the server's own) rule
    rules.insert(0, guard)
