"""``/ytung/api/settings``: the user's platform settings (SPEC U1); for now the current VC (V5)."""

from __future__ import annotations

from tornado import web

from .base import YtungAPIHandler

# what PUT accepts; each key is forwarded to the client method that sets it
_SETTABLE = {"current_vc"}


class SettingsHandler(YtungAPIHandler):
    """``PUT {"current_vc": "<vc>"}``: switch the current VC; answers the service's document.

    A body that is not such an object is a 400 here; a VC the user is not a member of, or that
    does not exist, is the service's 400 or 404, passed on with its message.
    """

    @web.authenticated
    async def put(self):
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, 'Expected a JSON object like {"current_vc": "<name>"}')
        unknown = sorted(set(body) - _SETTABLE)
        if unknown:
            raise web.HTTPError(
                400,
                "Unknown setting: %s (settable: %s)",
                ", ".join(unknown),
                ", ".join(sorted(_SETTABLE)),
            )
        vc = body.get("current_vc")
        if not isinstance(vc, str) or not vc.strip():
            raise web.HTTPError(400, "current_vc must be the name of one of your virtual clusters")
        self.write_json(await self.call_platform("set_current_vc", vc.strip()))


default_handlers = [
    (r"/settings", SettingsHandler),
]
