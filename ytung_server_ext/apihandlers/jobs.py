"""``/ytung/api/jobs…``, ``/ytung/api/paramsets…``, ``/ytung/api/jobtemplates…``,
``/ytung/api/presets…``: the Training section of the Lab (SPEC T1–T7).

Each route forwards to the platform service with this server's token through
:class:`ytung_service.client.AsyncPlatformClient`; the service's answer (or its error, with its
status and message) comes back unchanged.
"""

from __future__ import annotations

from tornado import web

from .base import YtungAPIHandler


def _int(handler, name: str, default: int) -> int:
    value = handler.get_query_argument(name, str(default))
    if not value.isdigit():
        raise web.HTTPError(400, "%s must be a whole number", name)
    return int(value)


class JobsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("jobs", self.get_query_argument("search", "")))

    @web.authenticated
    async def post(self):
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected the job form as a JSON object")
        self.write_json(await self.call_platform("submit_job", **body), status=201)


class JobHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self, job_id):
        self.write_json(await self.call_platform("job", int(job_id)))

    @web.authenticated
    async def delete(self, job_id):
        self.write_json(await self.call_platform("stop_job", int(job_id)))


class JobActionHandler(YtungAPIHandler):
    """``POST .../pause`` and ``.../resume``."""

    @web.authenticated
    async def post(self, job_id, action):
        self.write_json(await self.call_platform(f"{action}_job", int(job_id)))


class JobLogsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self, job_id):
        rank = self.get_query_argument("rank", "")
        if rank and not rank.isdigit():
            raise web.HTTPError(400, "rank must be a whole number")
        self.write_json(
            await self.call_platform(
                "job_logs",
                int(job_id),
                offset=_int(self, "offset", 0),
                limit=_int(self, "limit", 200),
                rank=int(rank) if rank else None,
            )
        )


class JobMetricsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self, job_id):
        self.write_json(await self.call_platform("job_metrics", int(job_id)))


class ParamSetsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        search = self.get_query_argument("search", "")
        self.write_json(await self.call_platform("paramsets", search))

    @web.authenticated
    async def post(self):
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a parameter set as a JSON object")
        self.write_json(await self.call_platform("save_paramset", **body), status=201)


class ParamSetHandler(YtungAPIHandler):
    @web.authenticated
    async def put(self, set_id):
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a parameter set as a JSON object")
        self.write_json(await self.call_platform("update_paramset", set_id, **body))

    @web.authenticated
    async def delete(self, set_id):
        await self.call_platform("delete_paramset", int(set_id))
        self.set_status(204)
        self.finish()


class TemplatesHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("job_templates"))

    @web.authenticated
    async def post(self):
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Expected a job template as a JSON object")
        self.write_json(await self.call_platform("save_job_template", **body), status=201)


class TemplateHandler(YtungAPIHandler):
    @web.authenticated
    async def delete(self, template_id):
        await self.call_platform("delete_job_template", int(template_id))
        self.set_status(204)
        self.finish()


class PresetsHandler(YtungAPIHandler):
    @web.authenticated
    async def get(self):
        self.write_json(await self.call_platform("presets", self.get_query_argument("search", "")))


class PresetPrepareHandler(YtungAPIHandler):
    @web.authenticated
    async def post(self, name):
        self.write_json(await self.call_platform("prepare_preset", name))


default_handlers = [
    (r"/jobs", JobsHandler),
    (r"/jobs/(?P<job_id>[0-9]+)", JobHandler),
    (r"/jobs/(?P<job_id>[0-9]+)/(?P<action>pause|resume)", JobActionHandler),
    (r"/jobs/(?P<job_id>[0-9]+)/logs", JobLogsHandler),
    (r"/jobs/(?P<job_id>[0-9]+)/metrics", JobMetricsHandler),
    (r"/paramsets", ParamSetsHandler),
    (r"/paramsets/(?P<set_id>[A-Za-z0-9_:]+)", ParamSetHandler),
    (r"/jobtemplates", TemplatesHandler),
    (r"/jobtemplates/(?P<template_id>[0-9]+)", TemplateHandler),
    (r"/presets", PresetsHandler),
    (r"/presets/(?P<name>[A-Za-z0-9_]+)/prepare", PresetPrepareHandler),
]
