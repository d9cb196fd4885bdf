"""``/api/v1/devenvs``: development environments (SPEC D1–D9).

``POST`` creates one (every D1 field, see :func:`ytung_service.devenvs.parse_spec`) and submits
its first run; ``GET`` lists the caller's with the status of their latest run, the remaining run
time, the Lab and SSH lines. Actions: ``start`` (again, same spec), ``stop``, ``pause``,
``images`` (save as an engine, D8), ``ssh`` (the environment reports its SSH server, D5),
``DELETE`` (a stopped one). ``/api/v1/devenvs/options`` is what a create form offers.
"""

from __future__ import annotations

from tornado import web

from .. import devenvs, orm
from ..permissions import ADMIN, USE, requires
from ..scheduling import DEVICE_TYPES
from .base import APIHandler


class DevEnvMixin:
    def ssh_host(self) -> str:
        # the proxy passes the browser's Host header on: the name the user reaches us by
        return self.ytung.ssh_host or self.request.host_name

    def env_model(self, env: orm.DevEnv) -> dict:
        run = devenvs.current_run(self.db, env)
        vc = orm.Vc.find(self.db, run.vc if run is not None else env.vc)
        model = devenvs.devenv_model(
            env,
            run,
            self.t,
            vc,
            self.ytung.admission.clock(),
            self.ytung.hub_base_url,
            self.ssh_host(),
        )
        if model["ssh"] and (self.platform_user is None or self.platform_user.name != env.owner):
            model["ssh"] = {**model["ssh"], "password": None}  # the owner's credential only
        return model

    def find_env(self, devenv_id: str) -> orm.DevEnv:
        return devenvs.find_devenv(
            self.db, self.platform_user, int(devenv_id), ADMIN in self.platform_permissions
        )

    def owner(self, env: orm.DevEnv) -> orm.User:
        """The owner as admission sees them (an admin acting on another's env acts as them)."""
        user = orm.User.find(self.db, env.owner)
        if user is None:
            raise web.HTTPError(404, self.t("No such user: {name}", name=env.owner))
        return user

    def me(self) -> orm.User:
        if self.platform_user is None:
            raise web.HTTPError(400, self.t("Only users have a profile; this is a service token"))
        return self.platform_user


class DevEnvListHandler(DevEnvMixin, APIHandler):
    @requires(USE)
    async def get(self):
        """Mine (admins: ``?owner=<name>`` or ``?owner=*`` for everybody's)."""
        owner = self.get_argument("owner", None)
        if owner and ADMIN in self.platform_permissions:
            found = devenvs.list_devenvs(self.db, None if owner == "*" else owner)
        else:
            found = devenvs.list_devenvs(self.db, self.me().name)
        self.write_json([self.env_model(env) for env in found])

    @requires(USE)
    async def post(self):
        env = await devenvs.create(self.ytung, self.db, self.me(), self.get_json_body())
        self.db.expire_all()
        self.write_json(self.env_model(self.db.get(orm.DevEnv, env.id)), status=201)


class DevEnvOptionsHandler(DevEnvMixin, APIHandler):
    """What a create form offers: preset engines, my saved images, engine and job types, device
    types, my VCs, whether I may ask for a Privilege Job, the default code dir, the port range."""

    @requires(USE)
    async def get(self):
        user = self.me()
        images = self.db.query(orm.SavedImage).filter(orm.SavedImage.owner == user.name)
        self.write_json(
            {
                "engines": self.ytung.devenv_engines,
                "saved_images": [devenvs.image_model(i) for i in images],
                "engine_sources": list(devenvs.ENGINE_SOURCES),
                "engine_types": list(devenvs.ENGINE_TYPES),
                "job_types": list(devenvs.JOB_TYPES),
                "device_types": list(DEVICE_TYPES),
                "vcs": [vc.name for vc in user.vcs],
                "current_vc": user.current_vc,
                "privilege_enabled": bool(user.privilege_enabled),
                "code_dir": f"/home/{user.name}",
                "port_range": list(devenvs.PORT_RANGE),
            }
        )


class DevEnvHandler(DevEnvMixin, APIHandler):
    @requires(USE)
    async def get(self, devenv_id):
        self.write_json(self.env_model(self.find_env(devenv_id)))

    @requires(USE)
    async def delete(self, devenv_id):
        await devenvs.remove(self.ytung, self.db, self.find_env(devenv_id))
        self.set_status(204)
        self.finish()


class DevEnvActionHandler(DevEnvMixin, APIHandler):
    """``POST .../start|stop|pause``."""

    @requires(USE)
    async def post(self, devenv_id, action):
        env = self.find_env(devenv_id)
        if action == "start":
            await devenvs.start(self.ytung, self.db, env, self.owner(env))
        else:
            await devenvs.stop(self.ytung, self.db, env, pause=action == "pause")
        self.db.expire_all()
        self.write_json(self.env_model(self.db.get(orm.DevEnv, env.id)))


class DevEnvImageHandler(DevEnvMixin, APIHandler):
    """D8: ``POST {"name", "version", "description"}`` saves the running environment."""

    @requires(USE)
    async def post(self, devenv_id):
        env = self.find_env(devenv_id)
        image = await devenvs.save_image(self.ytung, self.db, env, self.get_json_body())
        self.write_json(devenvs.image_model(image), status=201)


class DevEnvSshHandler(DevEnvMixin, APIHandler):
    """D5: the environment's server extension reports its SSH server
    (``PUT {"workload_id", "port", "password"}``, with the environment's own token)."""

    @requires(USE)
    async def put(self, devenv_id):
        env = self.find_env(devenv_id)
        if env.owner != self.me().name:
            raise web.HTTPError(403, self.t("Only the environment itself reports its SSH server"))
        devenvs.report_ssh(self.db, env, self.get_json_body())
        self.write_json(self.env_model(env))


class DevEnvPortHandler(DevEnvMixin, APIHandler):
    """D6: the browser address of port ``<port>`` (40000–49999) of a running environment."""

    @requires(USE)
    async def get(self, devenv_id, port):
        env = self.find_env(devenv_id)
        port = devenvs.check_port(port)
        model = self.env_model(env)
        if not model["proxy_url"]:
            raise web.HTTPError(409, self.t("{name} is not running", name=env.name))
        self.write_json({"port": port, "url": f"{model['proxy_url']}{port}/"})


default_handlers = [
    (r"/api/v1/devenvs", DevEnvListHandler),
    (r"/api/v1/devenvs/options", DevEnvOptionsHandler),
    (r"/api/v1/devenvs/(?P<devenv_id>[0-9]+)", DevEnvHandler),
    (r"/api/v1/devenvs/(?P<devenv_id>[0-9]+)/(?P<action>start|stop|pause)", DevEnvActionHandler),
    (r"/api/v1/devenvs/(?P<devenv_id>[0-9]+)/images", DevEnvImageHandler),
    (r"/api/v1/devenvs/(?P<devenv_id>[0-9]+)/ssh", DevEnvSshHandler),
    (r"/api/v1/devenvs/(?P<devenv_id>[0-9]+)/ports/(?P<port>[^/]+)", DevEnvPortHandler),
]
