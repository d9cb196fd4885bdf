"""``YtungAuthenticator``: username + password login and sign-up for the hub (SPEC A1, A2).

Passwords are bcrypt hashes in the platform database (the service's ``users`` table), so the
hub and the service agree on who exists. Adds hub pages ``/hub/signup`` and
``/hub/change-password`` and makes ``_()`` available in the hub's templates.

Why not NativeAuthenticator: its sign-up has no nickname, its pages are English only, and its
"authorize new users" step would duplicate what VC membership already decides here.
"""

from __future__ import annotations

import asyncio

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LoginHandler
from sqlalchemy.orm import Session, sessionmaker
from tornado import web
from traitlets import Bool, Unicode, default

from . import accounts, orm
from .config import default_db_url
from .db import make_engine
from .errors import DomainError
from .i18n import install_hub_jinja, request_language, translator
from .passwords import verify_password
from .permissions import ADMIN


class YtungAuthenticator(Authenticator):
    db_url = Unicode(
        help="""SQLAlchemy URL of the platform database (the service's).

        Example: ``c.YtungAuthenticator.db_url = "postgresql://ytung:secret@db/ytung"``
        Default: ``$YTUNG_DB_URL`` or ``sqlite:///<data dir>/ytung.sqlite``.
        """,
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self):
        return default_db_url()

    enable_signup = Bool(
        True,
        help="""Whether people may create their own accounts at ``/hub/signup``.

        New accounts have no access until an administrator adds them to a VC.
        Example: ``c.YtungAuthenticator.enable_signup = False``
        """,
    ).tag(config=True)

    _sessions: sessionmaker | None = None

    def session(self) -> Session:
        if self._sessions is None:
            self._sessions = sessionmaker(bind=make_engine(self.db_url), expire_on_commit=False)
        return self._sessions()

    def _check(self, username: str, password: str) -> dict | None:
        with self.session() as session:
            user = orm.User.find(session, username)
            if user is None or not verify_password(password, user.password_hash):
                return None
            return {"name": user.name, "admin": ADMIN in user.permissions}

    async def authenticate(self, handler, data):
        username = self.normalize_username((data or {}).get("username", "").strip())
        password = (data or {}).get("password", "")
        if not username or not password:
            return None
        # bcrypt takes ~0.2 s on purpose: keep the hub's event loop free meanwhile
        model = await asyncio.to_thread(self._check, username, password)
        if model is None:
            self.log.warning("Failed login for %s", username)
        return model

    def get_handlers(self, app):
        settings = app.tornado_settings
        install_hub_jinja(settings["jinja2_env"], settings["jinja2_env_sync"])
        handlers = [("/login", YtungLoginHandler), ("/change-password", ChangePasswordHandler)]
        if self.enable_signup:
            handlers.append(("/signup", SignUpHandler))
        return handlers


class _TranslatedMixin:
    def t(self, message: str, **params) -> str:
        return translator(request_language(self))(message, **params)

    def get_content_type(self):
        # the hub answers plain "text/html"; say the charset so that non-browsers decode 中文
        return "text/html; charset=UTF-8"


class YtungLoginHandler(_TranslatedMixin, LoginHandler):
    """The hub's login page, plus the sign-up link and the "account created" notice."""

    def _render(self, login_error=None, username=None, **kwargs):
        kwargs.setdefault("signed_up", self.get_argument("signed_up", ""))
        kwargs.setdefault("enable_signup", self.authenticator.enable_signup)
        if login_error == "Invalid username or password":
            login_error = self.t("Invalid username or password")
        return super()._render(login_error=login_error, username=username, **kwargs)


class SignUpHandler(_TranslatedMixin, BaseHandler):
    """``/hub/signup``: username, nickname, password (twice)."""

    async def get(self):
        html = await self.render_template("signup.html", username="", nickname="", error="")
        self.finish(html)

    def _create(self, name: str, nickname: str, password: str) -> None:
        with self.authenticator.session() as session, session.begin():
            accounts.create_account(session, name, nickname, password)

    async def post(self):
        name = self.get_body_argument("username", "").strip()
        nickname = self.get_body_argument("nickname", "").strip()
        password = self.get_body_argument("password", "")
        confirm = self.get_body_argument("password_confirm", "")
        error, status = "", 400
        if password != confirm:
            error = self.t("The two passwords do not match")
        elif self.find_user(name) is not None:
            # a hub user created through the API, without a password here
            error, status = self.t("The username {name} is already taken", name=name), 409
        else:
            try:
                await asyncio.to_thread(self._create, name, nickname, password)
            except DomainError as e:
                error, status = self.t(e.message, **e.params), e.status
        if error:
            self.set_status(status)
            html = await self.render_template(
                "signup.html", username=name, nickname=nickname, error=error
            )
            self.finish(html)
            return
        self.log.info("New account signed up: %s", name)
        self.redirect(self.settings["login_url"] + "?signed_up=1")


class ChangePasswordHandler(_TranslatedMixin, BaseHandler):
    """``/hub/change-password``: any signed-in user, ``admin`` included (SPEC A2)."""

    @web.authenticated
    async def get(self):
        self.finish(await self.render_template("change-password.html", error="", done=False))

    def _change(self, name: str, old: str, new: str) -> None:
        with self.authenticator.session() as session, session.begin():
            user = orm.User.find(session, name)
            if user is None or user.password_hash is None:
                raise DomainError(400, "This account has no password here")
            accounts.change_password(session, user, old, new)

    @web.authenticated
    async def post(self):
        old = self.get_body_argument("current_password", "")
        new = self.get_body_argument("new_password", "")
        confirm = self.get_body_argument("new_password_confirm", "")
        error = ""
        if new != confirm:
            error = self.t("The two passwords do not match")
        else:
            try:
                await asyncio.to_thread(self._change, self.current_user.name, old, new)
            except DomainError as e:
                error = self.t(e.message, **e.params)
        if error:
            self.set_status(400)
        html = await self.render_template("change-password.html", error=error, done=not error)
        self.finish(html)
