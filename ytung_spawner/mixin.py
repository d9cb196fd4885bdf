"""``YtungSpawnerMixin``: the admission gate every Ytung spawner passes before launching.

- refuses users who are in no VC (SPEC A1), in the options form and in ``start()``;
- offers VC, device type, devices per node and nodes in the spawn form (SPEC D1, V7);
- asks the platform service for an allocation; while the workload waits for an admin's
  approval the spawn progress says "Waiting for approval" (a rejection ends the spawn with
  the admin's reason); while it is queued, the progress shows its position, the reason and
  the estimated start (V3, X1); once admitted, binds the devices it
  got (``CUDA_VISIBLE_DEVICES`` / ``ASCEND_RT_VISIBLE_DEVICES``) and launches;
- ``start_timeout`` (the hub's knob) counts from admission, not from the spawn request;
- reports ``started`` / ``stopped`` / ``failed`` so the devices are freed at once.

A server the service starts for a workload it admitted carries ``user_options =
{"ytung_workload": <id>}``; a spawn from the hub's own pages creates the workload here.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime

from jinja2 import Environment, FileSystemLoader
from tornado import web
from traitlets import Dict, Float, Integer, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from ytung_service.client import AsyncPlatformClient, PlatformError
from ytung_service.i18n import request_language, translator
from ytung_service.scheduling import DEVICE_TYPES, HUAWEI_NPU, NVIDIA_GPU

from . import resources

# the spawn form and the no-access notice (templates/, translated like every page)
TEMPLATES = Environment(
    loader=FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")), autoescape=True
)

DEVICE_ENV = {NVIDIA_GPU: "CUDA_VISIBLE_DEVICES", HUAWEI_NPU: "ASCEND_RT_VISIBLE_DEVICES"}


def queued_message(queue: dict, _) -> str:
    """The spawn progress of a queued workload: position, blocking reason and (X1) the estimated
    start — a "no later than" time in UTC (the hub's progress text is rendered as is), or why it
    is unknown."""
    position = queue.get("position") or "?"
    reason = queue.get("reason") or ""
    how = queue.get("estimate_reason")
    if not how:  # not estimated yet (the service's next pass will)
        return _("Queued at position {position}: {reason}", position=position, reason=reason)
    start = queue.get("estimated_start")
    if start is None:
        return _(
            "Queued at position {position}: {reason}. Estimated start: {how}",
            position=position,
            reason=reason,
            how=how,
        )
    return _(
        "Queued at position {position}: {reason}. Estimated start: {start} UTC, {how}",
        position=position,
        reason=reason,
        start=datetime.fromisoformat(start).strftime("%Y-%m-%d %H:%M"),
        how=how,
    )


class YtungSpawnerMixin(Configurable):
    """Mix into a JupyterHub spawner before the spawner class (``class X(YtungSpawnerMixin, S)``).

    Its traits are configurable as ``c.YtungSpawnerMixin.*`` or on the concrete spawner.
    """

    ytung_service_url = Unicode(
        help="""Base URL of the Ytung service as reachable from the hub and the workloads.

        Example: ``c.YtungSpawnerMixin.ytung_service_url = "http://hub:10101/services/ytung/"``
        Default: ``$YTUNG_SERVICE_URL``.
        """,
    ).tag(config=True)

    @default("ytung_service_url")
    def _ytung_service_url_default(self):
        return os.environ.get("YTUNG_SERVICE_URL", "")

    ytung_service_token = Unicode(
        help="""A hub token the spawner uses to ask the service (the service's own token).

        Example: ``c.YtungSpawnerMixin.ytung_service_token = os.environ["YTUNG_SERVICE_TOKEN"]``
        Default: ``$YTUNG_SERVICE_TOKEN``.
        """,
    ).tag(config=True)

    @default("ytung_service_token")
    def _ytung_service_token_default(self):
        return os.environ.get("YTUNG_SERVICE_TOKEN", "")

    ytung_queue_timeout = Integer(
        7 * 24 * 3600,
        help="""Longest a spawn may wait in the queue, in seconds. The hub's ``start_timeout``
        then counts from admission.

        Example: ``c.YtungSpawnerMixin.ytung_queue_timeout = 24 * 3600``
        """,
    ).tag(config=True)

    ytung_poll_interval = Float(
        1.0,
        help="""Seconds between two questions to the service while queued.

        Example: ``c.YtungSpawnerMixin.ytung_poll_interval = 2``
        """,
    ).tag(config=True)

    resource_limits = Dict(
        help="""V6: CPU/memory floor and ceiling of every workload, per device type.

        Keys are device types (``nvidia_gpu_amd64``, ``huawei_npu_arm64``, ``cpu``) or
        ``default``; values may set ``cpu_guarantee``, ``mem_guarantee``, ``cpu_limit``,
        ``mem_limit`` (Kubernetes quantities; unset keys keep the defaults: floor 2 CPU / 400Mi,
        ceiling 22 CPU / 80Gi). Kubernetes pods get them as requests/limits; the local runtime
        kills a server whose process tree goes over ``mem_limit``.

        Example::

            c.YtungSpawnerMixin.resource_limits = {
                "default": {"mem_limit": "32Gi"},
                "huawei_npu_arm64": {"cpu_limit": "96", "mem_limit": "512Gi"},
            }
        """,
    ).tag(config=True)

    @default("resource_limits")
    def _resource_limits_default(self):
        return resources.validate_table(resources.DEFAULT_LIMITS)

    @validate("resource_limits")
    def _validate_resource_limits(self, proposal):
        try:
            return resources.validate_table(proposal["value"])
        except ValueError as e:
            raise TraitError(f"resource_limits: {e}") from e

    def ytung_limits(self, device_type: str | None) -> resources.Limits:
        """The V6 limits of a workload of ``device_type``."""
        return resources.limits_for(self.resource_limits, device_type)

    ytung_workload_id: int | None = None
    _ytung_env: dict[str, str]
    _ytung_message: str = ""
    _ytung_admitted: bool = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ytung_env = {}
        # the hub waits start_timeout for start(); ours applies it after admission
        self._ytung_launch_timeout = self.start_timeout
        self.start_timeout = self.start_timeout + self.ytung_queue_timeout

    # -- the service -----------------------------------------------------------------------
    def ytung_client(self) -> AsyncPlatformClient:
        handler = getattr(self, "handler", None)
        lang = request_language(handler) if handler is not None else None
        return AsyncPlatformClient(
            self.ytung_service_url, self.ytung_service_token, timeout=20, lang=lang
        )

    def _translate(self):
        handler = getattr(self, "handler", None)
        return translator(request_language(handler) if handler is not None else None)

    def _unreachable(self, e: PlatformError) -> web.HTTPError:
        self.log.error("Ytung service error for %s: %s", self.user.name, e)
        return web.HTTPError(
            503, self._translate()("The Ytung service cannot be reached; try again shortly")
        )

    async def ytung_access(self) -> dict:
        """The service's answer to "may this user start workloads?" (fails closed)."""
        try:
            return await self.ytung_client().user_access(self.user.name)
        except PlatformError as e:
            raise self._unreachable(e) from None

    # -- the form --------------------------------------------------------------------------
    async def get_options_form(self):
        access = await self.ytung_access()
        _ = self._translate()
        if not access["allowed"]:
            return TEMPLATES.get_template("no_access.html").render(_=_)
        # the service as the browser reaches it: <base_url>services/ytung/
        base_url = self.hub.base_url[: -len("hub/")] if self.hub.base_url.endswith("hub/") else "/"
        return TEMPLATES.get_template("options_form.html").render(
            _=_,
            vcs=access["vcs"],
            current=access.get("current_vc") or access["vcs"][0],
            device_types=DEVICE_TYPES,
            preview_url=f"{base_url}services/ytung/api/v1/workloads/preview",
            xsrf_url=f"{base_url}services/ytung/api/v1/xsrf",
        )

    def options_from_form(self, formdata):
        def first(key, default=""):
            return (formdata.get(key) or [default])[0].strip()

        _ = self._translate()
        options = {
            "vc": first("vc"),
            "device_type": first("device_type") or None,
            "preemptible": first("preemptible") in ("on", "true", "1"),
        }
        for key, fallback in (("devices_per_node", "0"), ("nodes", "1")):
            value = first(key, fallback) or fallback
            if not value.isdigit():
                raise web.HTTPError(
                    400, _("{what} must be a whole number; got {value}", what=key, value=value)
                )
            options[key] = int(value)
        return options

    # -- admission -------------------------------------------------------------------------
    def _workload_request(self) -> dict:
        opts = self.user_options or {}
        return {
            "owner": self.user.name,
            "kind": "devenv",
            "name": self.name or "default",
            "server_name": self.name,
            "origin": "hub",
            "vc": opts.get("vc") or None,
            "device_type": opts.get("device_type") or None,
            "devices_per_node": opts.get("devices_per_node", 0),
            "nodes": opts.get("nodes", 1),
            "preemptible": bool(opts.get("preemptible", False)),
            # what this server runs (Kubernetes: the pod's image): its dev environment says so
            "image": str(getattr(self, "image", "") or ""),
        }

    async def ytung_admit(self) -> dict:
        """Create (or find) this server's workload and wait until it is admitted."""
        client = self.ytung_client()
        _ = self._translate()
        try:
            wid = (self.user_options or {}).get("ytung_workload")
            if wid is not None:
                workload = await client.workload(int(wid))
                if workload["owner"] != self.user.name or workload["server_name"] != self.name:
                    raise web.HTTPError(403, _("This workload belongs to another server"))
            else:
                workload = await client.submit_workload(**self._workload_request())
            self.ytung_workload_id = workload["id"]
            # "stopping" right after admission: preempted, and back in the queue once stopped
            while workload["status"] in ("unapproved", "queued", "stopping"):
                if workload["status"] == "unapproved":
                    # the service's reason names the VC whose admins decide
                    reason = (workload.get("reason") or {}).get("text")
                    self._ytung_message = reason or _("Waiting for approval")
                else:
                    self._ytung_message = queued_message(workload.get("queue") or {}, _)
                await asyncio.sleep(self.ytung_poll_interval)
                workload = await client.workload(workload["id"])
        except PlatformError as e:
            if e.status in (400, 403, 404, 409):
                raise web.HTTPError(e.status, e.message) from None
            raise self._unreachable(e) from None
        if workload["status"] not in ("scheduling", "running"):
            reason = (workload.get("reason") or {}).get("text") or workload["status"]
            raise web.HTTPError(
                409, _("The workload ended before it started: {reason}", reason=reason)
            )
        self._ytung_admitted = True
        self._ytung_message = _("Devices allocated; starting")
        return workload

    def ytung_bind(self, workload: dict) -> None:
        """The environment that binds the allocated devices and describes the workload (D9)."""
        placement = workload.get("placement") or {}
        env = {
            "YTUNG_WORKLOAD_ID": str(workload["id"]),
            "YTUNG_WORKLOAD_KIND": workload["kind"],
            "YTUNG_VC": workload["vc"],
            "YTUNG_DEVICE_TYPE": workload.get("device_type") or "",
            "YTUNG_PLACEMENT": json.dumps(placement, sort_keys=True),
        }
        if workload.get("job"):
            # a training run: what the job runner of the server extension runs (SPEC T2, T3)
            env["YTUNG_JOB"] = json.dumps(workload["job"], sort_keys=True)
        variable = DEVICE_ENV.get(workload.get("device_type") or "")
        if variable:
            # this process runs on one node: the first of the placement (one rank per node)
            ids = next(iter(placement.values()), [])
            env[variable] = ",".join(str(i) for i in ids)
        elif placement == {}:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU-only: hide any GPU of the host
        env.update(self.ytung_devenv_env(workload))
        self._ytung_env = env

    def ytung_code_dir(self, virtual: str) -> str:
        """Where the code dir ``/home/<user>/...`` is inside the workload (local: under the
        data root; Kubernetes: the home is mounted at ``/home/<user>``)."""
        return virtual

    def ytung_devenv_env(self, workload: dict) -> dict[str, str]:
        """D9: what a dev environment adds to the platform environment (the server extension
        also writes all of it to ``$YTUNG_POD_ENV``, the manual's ``/pod.env``)."""
        spec = (workload.get("user_options") or {}).get("devenv")
        if not isinstance(spec, dict):
            return {}
        code_dir = self.ytung_code_dir(str(spec.get("code_dir") or ""))
        return {
            "YTUNG_DEVENV_ID": str(spec.get("id", "")),
            "YTUNG_DEVENV_NAME": str(spec.get("name", "")),
            "YTUNG_CODE_DIR": code_dir,
            "YTUNG_ENGINE_IMAGE": str(spec.get("image", "")),
            "YTUNG_ENGINE_TYPE": str(spec.get("engine_type", "")),
            "YTUNG_JOB_TYPE": str(spec.get("job_type", "regular")),
            "YTUNG_NODES": str(workload.get("nodes", 1)),
            "YTUNG_DEVICES_PER_NODE": str(workload.get("devices_per_node", 0)),
            "YTUNG_PRIVILEGED": "1" if spec.get("privileged") is True else "0",
            "YTUNG_OWNER": str(workload.get("owner", "")),
        }

    async def ytung_event(self, event: str, message: str = "") -> None:
        if self.ytung_workload_id is None:
            return
        try:
            await self.ytung_client().workload_event(self.ytung_workload_id, event, message)
        except PlatformError as e:
            # the reconciler repairs what a lost event leaves behind
            self.log.warning(
                "could not report %s of workload %s: %s", event, self.ytung_workload_id, e
            )

    # -- the spawner's lifecycle -----------------------------------------------------------
    async def start(self):
        access = await self.ytung_access()
        if not access["allowed"]:
            raise web.HTTPError(
                403,
                self._translate()(
                    "You have no access yet: ask an administrator to add you to a virtual cluster"
                ),
            )
        self._ytung_admitted, self._ytung_message = False, ""
        try:
            workload = await self.ytung_admit()
        except BaseException:
            # refused, cancelled by the user, timed out: the request must not start later
            await asyncio.shield(self.ytung_event("stopped"))
            raise
        self.ytung_bind(workload)
        try:
            url = await asyncio.wait_for(super().start(), self._ytung_launch_timeout)
        except BaseException as e:
            # make sure nothing runs on the devices before they are given back
            try:
                await super().stop(now=True)
            except Exception:
                self.log.exception("could not clean up after a failed start")
            await asyncio.shield(self.ytung_event("failed", str(e) or type(e).__name__))
            raise
        await self.ytung_event("started")
        return url

    async def poll(self):
        # a server that exits by itself clears its state in poll(): report how it ended first
        workload_id = self.ytung_workload_id
        status = await super().poll()
        if status is not None and workload_id is not None and self._ytung_admitted:
            self.ytung_workload_id = workload_id
            if status == 0:
                await self.ytung_event("stopped")
            else:
                await self.ytung_event("failed", f"exit status {status}")
            self.ytung_workload_id = None
            self._ytung_admitted = False
        return status

    async def stop(self, now=False):
        await super().stop(now=now)
        await self.ytung_event("stopped")

    async def progress(self):
        last = None
        while not self._ytung_admitted:
            if self._ytung_message and self._ytung_message != last:
                last = self._ytung_message
                yield {"progress": 10, "message": last}
            await asyncio.sleep(0.5)
        yield {"progress": 50, "message": self._ytung_message}
        async for event in super().progress():
            yield event

    def get_env(self):
        env = super().get_env()
        if self.ytung_service_url:
            env["YTUNG_SERVICE_URL"] = self.ytung_service_url
        env.update(self._ytung_env)
        return env

    def get_state(self):
        state = super().get_state()
        if self.ytung_workload_id is not None:
            state["ytung_workload"] = self.ytung_workload_id
        return state

    def load_state(self, state):
        super().load_state(state)
        self.ytung_workload_id = state.get("ytung_workload")
        # state is saved once start() returned: a saved workload was admitted and launched
        self._ytung_admitted = self.ytung_workload_id is not None

    def clear_state(self):
        super().clear_state()
        self.ytung_workload_id = None
        self._ytung_admitted, self._ytung_message = False, ""
