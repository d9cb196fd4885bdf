"""What every ``/ytung/api`` handler shares: JSON errors and the platform client.

The Lab names its UI language in a ``lang`` query parameter of every call (``zh_CN``, ``en``:
the Lab translator's language, which the browser's own ``Accept-Language`` need not match);
the client sends it on to the service as ``Accept-Language`` so that the service's messages
(queue reasons, errors) come back in that language. This extension's own error messages are
translated in :meth:`YtungAPIHandler.write_error` (catalog ``ytung_server_ext.po`` next to the
service's; the message of ``web.HTTPError(status, "…%s…", args)`` is the msgid).
"""

from __future__ import annotations

import json
import re

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ytung_service.client import AsyncPlatformClient, PlatformError, ServiceUnreachable
from ytung_service.i18n import negotiate, normalize, translator

#: the catalog of this extension's own messages (relayed ones are translated by the service)
DOMAIN = "ytung_server_ext"

# status 0: no YTUNG_SERVICE_URL, so no service to ask
_NO_SERVICE = 0

# a language tag as the Lab writes it: "en", "zh_CN", "zh-CN", "pt_BR"
_LANG = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?")


class YtungAPIHandler(APIHandler):
    """Base of the Ytung handlers: errors are ``{"status": int, "message": str}``, like the service's."""

    def ui_language(self) -> str | None:
        """The Lab's UI language from the ``lang`` query parameter (``None``: the service's default).

        A malformed value is a 400, so that a broken caller is noticed instead of silently
        getting English.
        """
        lang = self.get_query_argument("lang", None)
        if not lang:
            return None
        if not _LANG.fullmatch(lang):
            raise web.HTTPError(
                400, "Bad lang parameter %r: expected a language like zh_CN or en", lang
            )
        return lang

    def platform(self) -> AsyncPlatformClient:
        """A client of the platform service acting with this server's own hub token.

        Created per request: ``YTUNG_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN`` come from the
        environment the spawner gave this server; the language from :meth:`ui_language`.
        """
        lang = self.ui_language()
        try:
            return AsyncPlatformClient(lang=lang)
        except PlatformError as e:
            raise web.HTTPError(503, "%s", e.message) from None

    async def call_platform(self, operation: str, *args, **kwargs):
        """Run ``AsyncPlatformClient.<operation>`` and turn its errors into HTTP errors.

        An error answer of the service keeps its status and message; no answer at all is a 503.
        """
        client = self.platform()
        try:
            return await getattr(client, operation)(*args, **kwargs)
        except PlatformError as e:
            unanswered = isinstance(e, ServiceUnreachable) or e.status == _NO_SERVICE
            if unanswered or not 400 <= e.status < 600:
                raise web.HTTPError(
                    503, "The Ytung service did not answer: %s", e.message
                ) from None
            raise web.HTTPError(e.status, "%s", e.message or f"HTTP {e.status}") from None

    def write_json(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def message_language(self) -> str:
        """The language of this extension's own messages: the Lab's ``lang`` when it is well
        formed, else the browser's (``ytung-lang`` cookie, ``Accept-Language``)."""
        lang = self.get_query_argument("lang", None)
        if lang and _LANG.fullmatch(lang):
            return normalize(lang)
        return negotiate(self.get_cookie("ytung-lang"), self.request.headers.get("Accept-Language"))

    def write_error(self, status_code: int, **kwargs) -> None:
        _ = translator(self.message_language(), DOMAIN)
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info:
            exc = exc_info[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                text = _(exc.log_message)
                message = text % exc.args if exc.args else text
            elif not isinstance(exc, web.HTTPError):
                message = _("Internal error in the Ytung server extension: {error}", error=exc)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"status": status_code, "message": message}))
