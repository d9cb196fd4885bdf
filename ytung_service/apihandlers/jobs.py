"""``/api/v1/jobs``, ``/api/v1/paramsets``, ``/api/v1/jobtemplates``, ``/api/v1/presets``:
training jobs (SPEC T1–T7).

A job's run is a workload of kind ``training`` (admission, queue and devices as for every
workload); the job runner inside its server reports the command's end to ``.../events``, and the
service then frees the devices and stops the server (unless the job keeps it alive). Another
user's job does not exist for you (404).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from tornado import web

from .. import jobs, orm
from ..errors import DomainError
from ..permissions import ADMIN, USE, requires
from ..search import rank
from ..storage import ensure_dir
from .base import APIHandler

REPORTS = ("completed", "failed")
#: seconds a resume waits for the paused run's server to stop
RESUME_WAIT = 20


class JobMixin:
    @property
    def data_dir(self) -> Path:
        return Path(self.ytung.data_dir)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.platform_permissions

    def me(self) -> orm.User:
        if self.platform_user is None:
            raise web.HTTPError(403, self.t("Only a platform user can have training jobs"))
        return self.platform_user

    def find_job(self, job_id: str) -> orm.TrainingJob:
        return jobs.find_job(self.db, self.platform_user, job_id, self.is_admin)

    def job_json(self, job: orm.TrainingJob) -> dict:
        self.db.refresh(job)
        w = self.db.get(orm.Workload, job.workload_id) if job.workload_id else None
        model = jobs.job_model(job, w, self.t, self.ytung.hub_base_url)
        runtime = jobs.read_runtime(jobs.job_dir(self.data_dir, job.id))
        if model["ports"] is not None:
            port = (runtime.get("tensorboard") or {}).get("port")
            model["ports"]["tensorboard"] = (
                f"{model['ports']['server']}proxy/{port}/" if port else None
            )
            model["ports"]["tensorboard_available"] = bool(runtime.get("tensorboard_available"))
        return model

    async def submit_run(self, job: orm.TrainingJob, spec: dict, real: dict, checkpoint=None):
        """Submit a new run of ``job``; it becomes the job's current run."""
        run = jobs.run_spec(job.id, len(job.runs or []) + 1, spec, real, self.data_dir, checkpoint)
        # made here, by the service: on Kubernetes the pod mounts jobs/<id> as a subPath, which
        # the kubelet would otherwise create owned by root
        ensure_dir(run["log_dir"])
        # the job's owner runs it, also when an administrator resumes it
        owner = orm.User.find(self.db, job.owner)
        wid, effects = await self.ytung.admission.submit(
            jobs.workload_body(spec, run), owner, admin=False
        )
        job.workload_id = wid
        job.runs = [*(job.runs or []), wid]
        job.paused, job.exit_code, job.message = False, None, None
        self.db.commit()
        await self.ytung.reconciler.apply(effects)


def _search(handler) -> str:
    return handler.get_argument("search", "")[:200]


class JobListHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self):
        """T1: my jobs (status, name, engine, created), newest first (best match first with a fuzzy ``search``)."""
        owner = None if self.is_admin and self.get_argument("all", "") == "1" else self.me().name
        self.write_json([self.job_json(j) for j in jobs.list_jobs(self.db, owner, _search(self))])

    @requires(USE)
    async def post(self):
        """T2/T3: create a job; 201 with the job (queued, or admitted and starting)."""
        user = self.me()
        spec, real = jobs.validate_form(self.db, user.name, self.get_json_body(), self.data_dir)
        job = jobs.new_job(self.db, user.name, spec)
        self.db.commit()
        try:
            await self.submit_run(job, spec, real)
        except DomainError:
            self.db.rollback()
            self.db.delete(self.db.get(orm.TrainingJob, job.id))
            self.db.commit()
            raise
        self.write_json(self.job_json(job), status=201)


class JobHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self, job_id):
        """T6: the job's summary (status, reason, exit code, stderr tail, ports)."""
        self.write_json(self.job_json(self.find_job(job_id)))

    @requires(USE)
    async def delete(self, job_id):
        """T1: stop (queued → closed; running → the server is stopped)."""
        job = self.find_job(job_id)
        if job.paused:
            job.paused = False
            self.db.commit()
        if job.workload_id is not None:
            await self.ytung.reconciler.stop_workload(job.workload_id)
        self.db.expire_all()
        self.write_json(self.job_json(job))


class JobPauseHandler(JobMixin, APIHandler):
    @requires(USE)
    async def post(self, job_id):
        """T7: stop the run and keep its outputs; resume starts from the latest checkpoint."""
        job = self.find_job(job_id)
        w = self.db.get(orm.Workload, job.workload_id) if job.workload_id else None
        if job.paused or w is None or w.status not in orm.LIVE_STATUSES:
            raise web.HTTPError(409, self.t("Only a queued or running job can be paused"))
        job.paused = True
        self.db.commit()
        await self.ytung.reconciler.stop_workload(w.id)
        self.db.expire_all()
        self.write_json(self.job_json(job))


class JobResumeHandler(JobMixin, APIHandler):
    @requires(USE)
    async def post(self, job_id):
        """T7: a new run with ``--checkpoint_path`` the newest checkpoint in the output path."""
        job = self.find_job(job_id)
        if not job.paused:
            raise web.HTTPError(409, self.t("Only a paused job can be resumed"))
        # a resume right after the pause: give the paused run's server a moment to go
        for _ in range(RESUME_WAIT * 2):
            w = self.db.get(orm.Workload, job.workload_id) if job.workload_id else None
            if w is None or w.status not in orm.LIVE_STATUSES:
                break
            await asyncio.sleep(0.5)
            self.db.expire_all()
        else:
            raise web.HTTPError(
                409, self.t("The paused run is still stopping; try again in a moment")
            )
        spec, real = jobs.validate_form(self.db, job.owner, dict(job.spec), self.data_dir)
        checkpoint = jobs.latest_checkpoint(real["output_path"])
        await self.submit_run(job, spec, real, str(checkpoint) if checkpoint else None)
        self.write_json(self.job_json(job))


class JobLogHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self, job_id):
        """T6: the console log, paginated (``offset``, ``limit``), tagged per rank."""
        job = self.find_job(job_id)
        offset = self.get_argument("offset", "0")
        limit = self.get_argument("limit", "200")
        rank = self.get_argument("rank", "")
        if not offset.isdigit() or not limit.isdigit() or not 1 <= int(limit) <= 5000:
            raise web.HTTPError(
                400, self.t("'offset' must be a whole number and 'limit' one from 1 to 5000")
            )
        if rank and not rank.isdigit():
            raise web.HTTPError(400, self.t("'rank' must be a whole number"))
        path = jobs.job_dir(self.data_dir, job.id)
        page = jobs.read_log(path, int(rank) if rank else None, int(offset), int(limit))
        page["device_log"] = jobs.read_device_log(path)
        self.write_json(page)


class JobMetricsHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self, job_id):
        """T6: CPU and memory samples of the process tree (device use where known)."""
        job = self.find_job(job_id)
        path = jobs.job_dir(self.data_dir, job.id)
        runtime = jobs.read_runtime(path)
        self.write_json(
            {
                "samples": jobs.read_metrics(path),
                "ranks": runtime.get("ranks", []),
                "placement": runtime.get("placement", {}),
                "tensorboard_available": bool(runtime.get("tensorboard_available")),
            }
        )


class JobEventHandler(JobMixin, APIHandler):
    """The job runner's report (the server's token, i.e. the owner): the command ended."""

    @requires(USE)
    async def post(self, job_id):
        job = self.find_job(job_id)
        body = self.get_json_body()
        event, code = body.get("event"), body.get("exit_code")
        if event not in REPORTS or isinstance(code, bool) or not isinstance(code, int):
            raise web.HTTPError(
                400,
                self.t(
                    "Report 'event' ({allowed}) and a whole 'exit_code'", allowed=", ".join(REPORTS)
                ),
            )
        why = jobs.runner_reason(body.get("reason"))  # checked before anything counts
        if body.get("workload") != job.workload_id:
            raise web.HTTPError(409, self.t("This report is about an earlier run of the job"))
        w = self.db.get(orm.Workload, job.workload_id)
        if w is None or w.status not in (orm.SCHEDULING, orm.RUNNING):
            # stopped, paused or over its time: the stop decides how it ends
            return self.write_json(self.job_json(job))
        tail = str(body.get("message") or "")[-4000:]
        job.exit_code, job.message = code, tail or None
        self.db.commit()
        if not (job.spec or {}).get("keep_alive"):
            status, reason = jobs.outcome(code, tail, why)
            effects = await self.ytung.admission.release(
                w.id, status, reason, expect=(orm.SCHEDULING, orm.RUNNING)
            )
            await self.ytung.reconciler.apply(effects)
            # the server of a finished workload is stopped by the next reconciliation: now
            self.ytung.reconciler.wake()
        self.db.expire_all()
        self.write_json(self.job_json(job))


# -- parameter sets (T4) --------------------------------------------------------------------
class ParamSetListHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self):
        """Preset sets (from the preset models) and mine; ``search`` is fuzzy."""
        rows = self.db.scalars(
            select(orm.TrainingParamSet)
            .where(orm.TrainingParamSet.owner == self.me().name)
            .order_by(orm.TrainingParamSet.id)
        )
        sets = jobs.preset_paramsets() + [jobs.paramset_model(r) for r in rows]
        query = _search(self)
        self.write_json(rank(sets, query, lambda s: (s["name"], s["description"])))

    @requires(USE)
    async def post(self):
        row = jobs.save_paramset(self.db, self.me().name, self.get_json_body())
        self.db.commit()
        self.write_json(jobs.paramset_model(row), status=201)


class ParamSetHandler(JobMixin, APIHandler):
    def _mine(self, set_id: str) -> orm.TrainingParamSet:
        row = self.db.get(orm.TrainingParamSet, int(set_id)) if set_id.isdigit() else None
        if row is None or row.owner != self.me().name:
            raise web.HTTPError(404, self.t("No such parameter set: {id}", id=set_id))
        return row

    @requires(USE)
    async def put(self, set_id):
        """Edit: my set is updated; a preset set is saved as a new set of mine."""
        body = self.get_json_body()
        if set_id.startswith("preset:"):
            if not any(s["id"] == set_id for s in jobs.preset_paramsets()):
                raise web.HTTPError(404, self.t("No such parameter set: {id}", id=set_id))
            row = jobs.save_paramset(self.db, self.me().name, body)
            status = 201
        else:
            row = jobs.save_paramset(self.db, self.me().name, body, self._mine(set_id))
            status = 200
        self.db.commit()
        self.write_json(jobs.paramset_model(row), status=status)

    @requires(USE)
    async def delete(self, set_id):
        self.db.delete(self._mine(set_id))
        self.db.commit()
        self.set_status(204)
        self.finish()


# -- templates (T7) -------------------------------------------------------------------------
class TemplateListHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self):
        rows = self.db.scalars(
            select(orm.TrainingTemplate)
            .where(orm.TrainingTemplate.owner == self.me().name)
            .order_by(orm.TrainingTemplate.id)
        )
        self.write_json([jobs.template_model(r) for r in rows])

    @requires(USE)
    async def post(self):
        """Save a job form as a template: ``{"name", "description", "spec": {...form}}``."""
        row = jobs.save_template(self.db, self.me().name, self.get_json_body())
        self.db.commit()
        self.write_json(jobs.template_model(row), status=201)


class TemplateHandler(JobMixin, APIHandler):
    @requires(USE)
    async def delete(self, template_id):
        row = self.db.get(orm.TrainingTemplate, int(template_id))
        if row is None or row.owner != self.me().name:
            raise web.HTTPError(404, self.t("No such job template: {id}", id=template_id))
        self.db.delete(row)
        self.db.commit()
        self.set_status(204)
        self.finish()


# -- preset models (T5) ---------------------------------------------------------------------
class PresetListHandler(JobMixin, APIHandler):
    @requires(USE)
    async def get(self):
        """Name, use, accuracy, size, created; ``search`` is fuzzy on name, title and use."""
        query = _search(self)
        self.write_json(
            rank(jobs.presets(), query, lambda p: (p["name"], p.get("title"), p.get("use")))
        )


class PresetPrepareHandler(JobMixin, APIHandler):
    @requires(USE)
    async def post(self, name):
        """Copy the preset's code into my home; answers a prefilled job form."""
        self.write_json(jobs.prepare_preset(self.data_dir, self.me().name, name))


default_handlers = [
    (r"/api/v1/jobs", JobListHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)", JobHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)/pause", JobPauseHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)/resume", JobResumeHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)/logs", JobLogHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)/metrics", JobMetricsHandler),
    (r"/api/v1/jobs/(?P<job_id>[0-9]+)/events", JobEventHandler),
    (r"/api/v1/paramsets", ParamSetListHandler),
    (r"/api/v1/paramsets/(?P<set_id>[A-Za-z0-9_:]+)", ParamSetHandler),
    (r"/api/v1/jobtemplates", TemplateListHandler),
    (r"/api/v1/jobtemplates/(?P<template_id>[0-9]+)", TemplateHandler),
    (r"/api/v1/presets", PresetListHandler),
    (r"/api/v1/presets/(?P<name>[A-Za-z0-9_]+)/prepare", PresetPrepareHandler),
]
