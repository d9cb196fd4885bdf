"""Base of the service's HTML pages: templates with ``_()``, translated error pages."""

from __future__ import annotations

from http.client import responses

from jupyterhub.utils import url_path_join
from tornado import web

from ..apihandlers.base import BaseHandler
from ..i18n import COOKIE, LANGUAGES, normalize
from ..permissions import ADMIN


class PageHandler(BaseHandler):
    async def prepare(self):
        await super().prepare()
        lang = self.get_argument("lang", None)
        if lang:
            self.set_cookie(COOKIE, normalize(lang), path="/", expires_days=365)
        if self._not_allowed:
            raise web.HTTPError(403, self.t("You have no access to this page"))

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.platform_permissions

    def hub_url(self, *parts: str) -> str:
        return url_path_join(self.ytung.hub_base_url, "hub", *parts)

    def page_url(self, *parts: str) -> str:
        return url_path_join(self.ytung.prefix, *parts)

    def render_page(self, template: str, status: int = 200, **ns) -> None:
        namespace = dict(
            _=self.t,
            lang=self.lang,
            languages=LANGUAGES,
            user=self.platform_user,
            is_admin=self.is_admin,
            hub_url=self.hub_url,
            page_url=self.page_url,
            hub_static=self.hub_url("static"),
            xsrf_form_html=self.xsrf_form_html,
            request_path=self.request.path,
        )
        namespace.update(ns)
        html = self.ytung.jinja.get_template(template).render(**namespace)
        self.set_status(status)
        self.finish(html)

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = ""
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        t = getattr(self, "t", None) or (lambda s, **k: s)
        if not hasattr(self, "t"):
            self.t = t
            self.lang = "en"
        self.render_page(
            "error.html",
            status=status_code,
            status_code=status_code,
            status_message=responses.get(status_code, ""),
            message=message,
        )
