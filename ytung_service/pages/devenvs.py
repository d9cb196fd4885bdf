"""``/services/ytung/devenvs``: dev environments without a Lab (SPEC D1–D8, I1, U1).

The front door of a user who has no environment yet: the create form with every D1 field,
the list with every D2 column and its actions (open, upload code, SSH line, interactive
port, stop, pause, start again, save image, delete) and the saved images. Plain HTML forms
that call the same domain (:mod:`ytung_service.devenvs`) as ``/api/v1/devenvs``; a refusal
re-renders the form as typed with the reason.

Routes (under the service prefix)::

    GET/POST  devenvs                              list + create
    POST      devenvs/<id>/(start|stop|pause|delete)
    POST      devenvs/<id>/image                   save image (D8)
    POST      devenvs/<id>/upload                  upload code into the code dir (D4)
    GET       devenvs/<id>/port?port=N             open port N (D6): redirect to the proxy
    POST      devenvs/privilege                    the Privilege Job setting (U1)
    POST      images/<id>/delete                   delete a saved image (I1)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from tornado import web

from .. import devenvs, orm, storage
from ..errors import DomainError
from ..permissions import USE, requires
from ..scheduling import DEVICE_TYPES
from .base import PageHandler

#: what the form fields are called, for re-rendering a refused form as typed
FIELDS = (
    "name",
    "description",
    "code_dir",
    "engine_source",
    "engine",
    "custom_image",
    "saved_image",
    "engine_type",
    "job_type",
    "nodes",
    "devices_per_node",
    "device_type",
    "vc",
)


def form_body(values: dict[str, str], privileged: bool) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/devenvs`` from the form's fields (pure)."""
    source = values.get("engine_source") or "preset"
    engine = {
        "preset": values.get("engine", ""),
        "saved": values.get("saved_image", ""),
        "custom": values.get("custom_image", ""),
    }.get(source, "")
    body: dict[str, Any] = {
        "name": values.get("name", ""),
        "description": values.get("description", ""),
        "code_dir": values.get("code_dir", ""),
        "engine_source": source,
        "engine": engine,
        "engine_type": values.get("engine_type", ""),
        "job_type": values.get("job_type") or "regular",
        "device_type": values.get("device_type") or None,
        "devices_per_node": values.get("devices_per_node", "0") or "0",
        "nodes": values.get("nodes", "1") or "1",
        "privileged": privileged,
        "vc": values.get("vc") or None,
    }
    return body


class DevEnvPage(PageHandler):
    def page(self, **query) -> str:
        url = self.page_url("devenvs")
        query = {k: v for k, v in query.items() if v}
        return url + ("?" + urlencode(query) if query else "")

    def user(self) -> orm.User:
        if self.platform_user is None:
            raise web.HTTPError(403, self.t("You have no access to this page"))
        return self.platform_user

    def find(self, devenv_id: str) -> orm.DevEnv:
        try:
            return devenvs.find_devenv(self.db, self.user(), int(devenv_id))
        except DomainError as e:
            raise web.HTTPError(e.status, self.t(e.message, **e.params)) from None

    def render_list(self, status: int = 200, form: dict | None = None, error: str = "") -> None:
        user = self.user()
        clock = self.ytung.admission.clock()
        envs = []
        for env in devenvs.list_devenvs(self.db, user.name):
            run = devenvs.current_run(self.db, env)
            vc = orm.Vc.find(self.db, run.vc if run is not None else env.vc)
            envs.append(
                devenvs.devenv_model(
                    env,
                    run,
                    self.t,
                    vc,
                    clock,
                    self.ytung.hub_base_url,
                    self.ytung.ssh_host or self.request.host_name,
                )
            )
        images = self.db.scalars(
            select(orm.SavedImage)
            .where(orm.SavedImage.owner == user.name)
            .order_by(orm.SavedImage.id.desc())
        )
        self.render_page(
            "devenvs.html",
            status=status,
            envs=envs,
            images=[devenvs.image_model(i) for i in images],
            engines=self.ytung.devenv_engines,
            engine_types=devenvs.ENGINE_TYPES,
            device_types=DEVICE_TYPES,
            vcs=[vc.name for vc in user.vcs],
            current_vc=user.current_vc,
            privilege_enabled=bool(user.privilege_enabled),
            port_range=devenvs.PORT_RANGE,
            form=form or {"code_dir": f"/home/{user.name}", "job_type": "regular"},
            message=self.get_argument("message", ""),
            error=error or self.get_argument("error", ""),
        )

    def error_text(self, e: DomainError) -> str:
        return self.t(e.message, **e.params)


class DevEnvListPage(DevEnvPage):
    @web.authenticated
    @requires(USE)
    async def get(self):
        self.render_list()

    @web.authenticated
    @requires(USE)
    async def post(self):
        values = {key: self.get_body_argument(key, "").strip() for key in FIELDS}
        privileged = self.get_body_argument("privileged", "") in ("on", "1", "true")
        try:
            env = await devenvs.create(
                self.ytung, self.db, self.user(), form_body(values, privileged)
            )
        except DomainError as e:
            self.db.rollback()
            return self.render_list(
                e.status, form={**values, "privileged": privileged}, error=self.error_text(e)
            )
        self.redirect(self.page(message=self.t("Created {name}", name=env.name)))


class DevEnvActionPage(DevEnvPage):
    @web.authenticated
    @requires(USE)
    async def post(self, devenv_id, action):
        env = self.find(devenv_id)
        name = env.name
        try:
            if action == "start":
                await devenvs.start(self.ytung, self.db, env, self.user())
                message = self.t("Starting {name}", name=name)
            elif action in ("stop", "pause"):
                await devenvs.stop(self.ytung, self.db, env, pause=action == "pause")
                message = self.t("Stopping {name}", name=name)
            elif action == "delete":
                await devenvs.remove(self.ytung, self.db, env)
                message = self.t(
                    "Deleted {name}; its files stay in {path}", name=name, path=env.code_dir
                )
            else:  # image
                body = {
                    k: self.get_body_argument(k, "") for k in ("name", "version", "description")
                }
                image = await devenvs.save_image(self.ytung, self.db, env, body)
                message = self.t(
                    "Saved image {name}:{version}", name=image.name, version=image.version
                )
        except DomainError as e:
            self.db.rollback()
            return self.redirect(self.page(error=self.error_text(e)))
        self.redirect(self.page(message=message))


class DevEnvUploadPage(DevEnvPage):
    """D4: files dropped on the form go into the environment's code dir (names only, no paths)."""

    @web.authenticated
    @requires(USE)
    async def post(self, devenv_id):
        env = self.find(devenv_id)
        files = self.request.files.get("files") or []
        if not files:
            return self.redirect(self.page(error=self.t("Choose at least one file")))
        data_dir = self.ytung.data_dir
        try:
            code_dir = storage.home_path(data_dir, env.owner, env.code_dir, what="code_dir")
            for f in files:
                name = f["filename"].replace("\\", "/").rsplit("/", 1)[-1]
                target = storage.confine(code_dir, name, what="file name")
                if target == code_dir or name in ("", ".", ".."):
                    raise DomainError(400, "Invalid {what}: {path}", what="file name", path=name)
                storage.ensure_dir(code_dir)
                target.write_bytes(f["body"])
        except DomainError as e:
            return self.redirect(self.page(error=self.error_text(e)))
        message = self.t("Uploaded {count} files to {path}", count=len(files), path=env.code_dir)
        self.redirect(self.page(message=message))


class DevEnvPortPage(DevEnvPage):
    """D6: open a port 40000–49999 of a running environment in the browser."""

    @web.authenticated
    @requires(USE)
    async def get(self, devenv_id):
        env = self.find(devenv_id)
        try:
            port = devenvs.check_port(self.get_argument("port", ""))
        except DomainError as e:
            return self.redirect(self.page(error=self.error_text(e)))
        run = devenvs.current_run(self.db, env)
        if run is None or run.status != orm.RUNNING:
            return self.redirect(self.page(error=self.t("{name} is not running", name=env.name)))
        base = self.ytung.hub_base_url.rstrip("/")
        self.redirect(f"{base}/user/{env.owner}/{run.server_name}/proxy/{port}/")


class PrivilegePage(DevEnvPage):
    """U1: the Privilege Job setting."""

    @web.authenticated
    @requires(USE)
    async def post(self):
        user = self.user()
        user.privilege_enabled = self.get_body_argument("privilege_enabled", "") in ("on", "1")
        self.db.commit()
        self.redirect(self.page(message=self.t("Settings saved")))


class ImageDeletePage(DevEnvPage):
    @web.authenticated
    @requires(USE)
    async def post(self, image_id):
        image = self.db.get(orm.SavedImage, int(image_id))
        if image is None or image.owner != self.user().name:
            raise web.HTTPError(404, self.t("No such saved image: {name}", name=image_id))
        try:
            devenvs.delete_image(self.db, image)
        except DomainError as e:
            return self.redirect(self.page(error=self.error_text(e)))
        self.redirect(self.page(message=self.t("Deleted image {name}", name=image.name)))


default_handlers = [
    (r"/devenvs/?", DevEnvListPage),
    (r"/devenvs/privilege", PrivilegePage),
    (
        r"/devenvs/(?P<devenv_id>[0-9]+)/(?P<action>start|stop|pause|delete|image)",
        DevEnvActionPage,
    ),
    (r"/devenvs/(?P<devenv_id>[0-9]+)/upload", DevEnvUploadPage),
    (r"/devenvs/(?P<devenv_id>[0-9]+)/port", DevEnvPortPage),
    (r"/images/(?P<image_id>[0-9]+)/delete", ImageDeletePage),
]
