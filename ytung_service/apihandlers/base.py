"""Base handlers: hub authentication, the platform user, translation, JSON errors."""

from __future__ import annotations

import json
from http.client import responses
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed
from tornado import web

from .. import accounts, orm
from ..errors import DomainError
from ..i18n import request_language, translator
from ..permissions import ALL_PERMISSIONS

#: the service's own identity: the hub-side spawners call the service with its token
TRUSTED_SERVICE = "ytung"


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Identifies the caller once per request (asynchronously) and opens a DB session."""

    platform_user: orm.User | None = None
    platform_permissions: frozenset[str] = frozenset()
    hub_model: dict[str, Any] | None = None
    _not_allowed = False

    @property
    def ytung(self):
        return self.settings["ytung"]

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    @property
    def db(self):
        if not hasattr(self, "_db"):
            self._db = self.ytung.session()
        return self._db

    def on_finish(self):
        if hasattr(self, "_db"):
            self._db.close()

    async def prepare(self):
        self.lang = request_language(self)
        self.t = translator(self.lang)
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                model = self.check_hub_user(model)
            except UserNotAllowed:
                self._not_allowed = True
                model = None
        self._hub_auth_user_cache = model
        self.hub_model = model
        if model is None:
            return
        if model.get("kind") == "service":
            if model["name"] == TRUSTED_SERVICE:
                self.platform_permissions = frozenset(ALL_PERMISSIONS)
            return
        self.platform_user = accounts.ensure_user(self.db, model["name"], model.get("admin", False))
        self.db.commit()
        await self.ytung.sync_groups(self.db, self.platform_user)
        self.platform_permissions = frozenset(
            accounts.permissions_of(self.platform_user, model.get("admin", False))
        )

    @property
    def is_trusted_service(self) -> bool:
        return bool(
            self.hub_model
            and self.hub_model.get("kind") == "service"
            and self.hub_model["name"] == TRUSTED_SERVICE
        )

    def _handle_request_exception(self, e: BaseException) -> None:
        # a domain refusal: undo the request's writes, answer its status in the user's language
        if isinstance(e, DomainError):
            if hasattr(self, "_db"):
                self._db.rollback()
            self._error_extra = e.extra
            try:
                raise web.HTTPError(e.status, self.t(e.message, **e.params)) from e
            except web.HTTPError as http_error:
                return super()._handle_request_exception(http_error)
        return super()._handle_request_exception(e)


class APIHandler(BaseHandler):
    """JSON in, JSON out; unauthenticated → 401, not allowed → 403, never a redirect."""

    async def prepare(self):
        await super().prepare()
        if self._not_allowed:
            raise web.HTTPError(403, self.t("This token may not use the Ytung service"))
        if self.hub_model is None:
            raise web.HTTPError(
                401, self.t("Authentication required: send 'Authorization: token <token>'")
            )

    def check_xsrf_cookie(self):
        # token-authenticated API calls carry no cookie; HubOAuth checks cookie-authenticated ones
        if self.request.headers.get("Authorization"):
            return
        return super().check_xsrf_cookie()

    def get_json_body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError:
            raise web.HTTPError(400, self.t("The request body is not valid JSON")) from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, self.t("The request body must be a JSON object"))
        return body

    def write_json(self, model: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(model, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs) -> None:
        message = responses.get(status_code, "Unknown error")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        body = {"status": status_code, "message": message, **getattr(self, "_error_extra", {})}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, ensure_ascii=False))
