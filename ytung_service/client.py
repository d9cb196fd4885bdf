"""The Python client of the platform service REST API.

Everybody outside the service talks to it through this module: the hub (spawners), the Jupyter
server extension inside a workload, and notebook kernels (widgets). It needs only a service URL
and a JupyterHub token, both taken from the environment by default:

- ``YTUNG_SERVICE_URL``: the service's base URL, e.g. ``http://127.0.0.1:10101/services/ytung/``
  (set by the Ytung spawners in every workload and by the hub config for the hub itself)
- ``JUPYTERHUB_API_TOKEN``: any hub token whose owner may access the service (the workload's
  own token inside a workload or a kernel).

Example::

    from ytung_service.client import PlatformClient
    me = PlatformClient().me()            # from a notebook: blocking
    me = await AsyncPlatformClient().me() # from tornado / asyncio code

Errors come back as :class:`PlatformError` with the HTTP status and the service's message.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

API_PREFIX = "api/v1/"


class PlatformError(Exception):
    """An error answer of the service (``status`` is the HTTP status, ``message`` its text)."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


class ServiceUnreachable(PlatformError):
    """No answer at all from the service (connection refused, DNS, timeout): status 503."""

    def __init__(self, reason: str):
        super().__init__(503, f"the Ytung service is unreachable: {reason}")
        self.reason = reason


def _default_url() -> str:
    url = os.environ.get("YTUNG_SERVICE_URL", "")
    if not url:
        raise PlatformError(0, "YTUNG_SERVICE_URL is not set: where is the Ytung service?")
    return url


def _error_from(status: int, text: str) -> PlatformError:
    try:
        body = json.loads(text) if text else {}
        message = body.get("message") or text
    except ValueError:
        body, message = None, text
    return PlatformError(status, message or f"HTTP {status}", body)


class _Endpoints:
    """The service's operations, written once; ``_call`` is sync or async per subclass."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30,
        lang: str | None = None,
    ):
        self.url = (url or _default_url()).rstrip("/") + "/"
        self.token = token if token is not None else os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.timeout = timeout
        #: the language of the service's messages (``zh_CN`` or ``en``); default: the service's
        self.lang = lang

    def _api(self, path: str) -> str:
        return self.url + API_PREFIX + path.lstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if self.lang:
            headers["Accept-Language"] = self.lang.replace("_", "-")
        return headers

    # subclasses define ``_call(method, path, body=None)``: blocking or a coroutine

    # -- identity -------------------------------------------------------------------------
    def me(self):
        """The calling user: name, nickname, roles, permissions, VCs."""
        return self._call("GET", "me")

    def user_access(self, username: str):
        """Whether ``username`` may start workloads (member of at least one VC), and why not."""
        return self._call("GET", f"users/{quote(username)}/access")

    # -- virtual clusters -----------------------------------------------------------------
    def vcs(self):
        return self._call("GET", "vcs")

    def vc_members(self, vc: str):
        return self._call("GET", f"vcs/{quote(vc)}/members")

    def add_vc_member(self, vc: str, username: str):
        return self._call("POST", f"vcs/{quote(vc)}/members", {"user": username})

    def remove_vc_member(self, vc: str, username: str):
        return self._call("DELETE", f"vcs/{quote(vc)}/members/{quote(username)}")

    def add_vc_group(self, vc: str, group: str):
        """Admit a JupyterHub group: its members may use the VC (SPEC V2)."""
        return self._call("POST", f"vcs/{quote(vc)}/members", {"group": group})

    def remove_vc_group(self, vc: str, group: str):
        return self._call("DELETE", f"vcs/{quote(vc)}/groups/{quote(group)}")

    def version(self):
        return self._call("GET", "version")

    # -- the user's view of VCs and queue (SPEC V3, V5, X1) -------------------------------
    def my_vcs(self):
        """``{"current_vc", "vcs": [... devices: quota/used/queued ...], "queued": [...]}``."""
        return self._call("GET", "me/vcs")

    def set_current_vc(self, vc: str):
        return self._call("PUT", "me/settings", {"current_vc": vc})

    # -- devices and workloads (the allocation API) ----------------------------------------
    def devices(self):
        return self._call("GET", "devices")

    def submit_workload(self, **workload):
        """Create a workload; answers it with ``status`` ``queued`` (and ``queue``) or admitted."""
        return self._call("POST", "workloads", workload)

    def workloads(self, **filters):
        query = "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in filters.items() if v)
        return self._call("GET", "workloads" + (f"?{query}" if query else ""))

    def workload(self, workload_id: int):
        return self._call("GET", f"workloads/{int(workload_id)}")

    def stop_workload(self, workload_id: int):
        return self._call("DELETE", f"workloads/{int(workload_id)}")

    def workload_event(self, workload_id: int, event: str, message: str = ""):
        """What a spawner reports: ``started``, ``stopped`` or ``failed`` (service token only)."""
        body = {"event": event, "message": message}
        return self._call("POST", f"workloads/{int(workload_id)}/events", body)

    def extend_workload(self, workload_id: int, hours: float):
        return self._call("POST", f"workloads/{int(workload_id)}/extend", {"hours": hours})

    def approve_workload(self, workload_id: int):
        return self._call("POST", f"workloads/{int(workload_id)}/approve", {})

    def reject_workload(self, workload_id: int, reason: str = ""):
        return self._call("POST", f"workloads/{int(workload_id)}/reject", {"reason": reason})

    def set_vc_admin(self, vc: str, username: str, admin: bool = True):
        return self._call("PATCH", f"vcs/{quote(vc)}/members/{quote(username)}", {"admin": admin})

    # -- VC administration -----------------------------------------------------------------
    def create_vc(self, **vc):
        return self._call("POST", "vcs", vc)

    def update_vc(self, name: str, **changes):
        return self._call("PATCH", f"vcs/{quote(name)}", changes)

    def delete_vc(self, name: str):
        return self._call("DELETE", f"vcs/{quote(name)}")

    # --- datasets (SPEC S1-S3) ---
    def datasets(self, q: str = "", labeled: bool | None = None):
        """The datasets the caller may see; ``q`` fuzzy search, ``labeled=True`` for training."""
        query = []
        if q:
            query.append(f"q={quote(q)}")
        if labeled is not None:
            query.append(f"labeled={'true' if labeled else 'false'}")
        return self._call("GET", "datasets" + ("?" + "&".join(query) if query else ""))

    def dataset(self, dataset_id: int):
        """One dataset with its versions."""
        return self._call("GET", f"datasets/{int(dataset_id)}")

    def register_dataset(self, **fields):
        """A dataset from a server directory: ``name``, ``path``, ``description``, ``labeled``,
        ``permission`` (only under ``c.YtungService.dataset_path_roots``)."""
        return self._call("POST", "datasets", fields)

    def add_dataset_version_from_path(self, dataset_id: int, path: str):
        return self._call("POST", f"datasets/{int(dataset_id)}/versions", {"path": path})

    def update_dataset(self, dataset_id: int, **changes):
        return self._call("PATCH", f"datasets/{int(dataset_id)}", changes)

    def delete_dataset(self, dataset_id: int):
        return self._call("DELETE", f"datasets/{int(dataset_id)}")

    def start_dataset_upload(self, filename: str, size: int, **fields):
        """Begin a resumable upload: ``name``, ``description``, ``labeled``, ``permission`` for a
        new dataset, or ``dataset_id`` for its next version. Answers ``{"id", "offset", ...}``."""
        body = {"filename": filename, "size": size, **fields}
        return self._call("POST", "datasets/uploads", body)

    def dataset_upload(self, upload_id: str):
        """The upload, with ``offset``: where the next chunk starts."""
        return self._call("GET", f"datasets/uploads/{quote(upload_id)}")

    def upload_dataset_chunk(self, upload_id: str, data: bytes, start: int, total: int):
        """Send ``data`` as bytes ``start``… of ``total``; answers the upload (new ``offset``)."""
        headers = {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"}
        return self._send_bytes("PUT", f"datasets/uploads/{quote(upload_id)}", data, headers)

    def cancel_dataset_upload(self, upload_id: str):
        return self._call("DELETE", f"datasets/uploads/{quote(upload_id)}")

    def complete_dataset_upload(self, upload_id: str):
        """Unpack the uploaded archive; answers the dataset (may take a while for big ones)."""
        return self._call("POST", f"datasets/uploads/{quote(upload_id)}/complete")

    def dataset_chunk_request(self, upload_id: str, content_range: str) -> tuple[str, dict]:
        """``(url, headers)`` to PUT one chunk, for a caller that streams the bytes itself."""
        headers = {k: v for k, v in self._headers().items() if k != "Content-Type"}
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Range"] = content_range
        return self._api(f"datasets/uploads/{quote(upload_id)}"), headers

    def dataset_download_request(
        self, dataset_id: int, version: int | None = None
    ) -> tuple[str, dict]:
        """``(url, headers)`` of a version's zip, for a caller that streams it itself."""
        path = f"datasets/{int(dataset_id)}/download"
        if version is not None:
            path += f"?version={int(version)}"
        headers = {k: v for k, v in self._headers().items() if k != "Content-Type"}
        headers["Accept"] = "application/zip, application/json"
        return self._api(path), headers

    # --- annotation (SPEC S4-S7) ---
    def annotation_projects(self):
        return self._call("GET", "annotations/projects")

    def create_annotation_project(self, name: str, description: str = ""):
        body = {"name": name, "description": description}
        return self._call("POST", "annotations/projects", body)

    def annotation_project(self, project_id: int):
        return self._call("GET", f"annotations/projects/{int(project_id)}")

    def update_annotation_project(self, project_id: int, **changes):
        return self._call("PATCH", f"annotations/projects/{int(project_id)}", changes)

    def delete_annotation_project(self, project_id: int):
        return self._call("DELETE", f"annotations/projects/{int(project_id)}")

    def annotation_datasets(self, project_id: int):
        return self._call("GET", f"annotations/projects/{int(project_id)}/datasets")

    def create_annotation_dataset(self, project_id: int, **dataset):
        """``name``, ``description``, ``source`` (an unlabeled dataset's id), ``classes``,
        ``object_types`` (bbox, polygon), ``public``."""
        return self._call("POST", f"annotations/projects/{int(project_id)}/datasets", dataset)

    def annotation_dataset(self, dataset_id: int):
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}")

    def update_annotation_dataset(self, dataset_id: int, **changes):
        return self._call("PATCH", f"annotations/datasets/{int(dataset_id)}", changes)

    def delete_annotation_dataset(self, dataset_id: int):
        return self._call("DELETE", f"annotations/datasets/{int(dataset_id)}")

    def annotation_images(self, dataset_id: int, state: str = "", offset: int = 0, limit=100):
        """A page of the task list: ``{"total", "images": [...]}``."""
        query = f"offset={int(offset)}&limit={int(limit)}"
        query += f"&state={quote(state)}" if state else ""
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}/images?{query}")

    def annotation_image(self, dataset_id: int, image_id: int):
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}/images/{int(image_id)}")

    def submit_annotation(self, dataset_id: int, image_id: int, shapes: list):
        """Submit: save the image's shapes; answers ``{"image", "next"}``."""
        path = f"annotations/datasets/{int(dataset_id)}/images/{int(image_id)}"
        return self._call("PUT", path, {"shapes": shapes})

    def next_annotation_image(self, dataset_id: int, after: int = 0):
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}/next?after={int(after)}")

    def annotation_image_request(self, dataset_id: int, image_id: int) -> tuple[str, dict]:
        """``(url, headers)`` of the image file, for a caller that streams it itself."""
        path = f"annotations/datasets/{int(dataset_id)}/images/{int(image_id)}/file"
        headers = {k: v for k, v in self._headers().items() if k != "Content-Type"}
        headers["Accept"] = "*/*"
        return self._api(path), headers

    def annotation_sources(self):
        """The unlabeled datasets the caller can see: what an annotation dataset may label."""
        return self._call("GET", "datasets?labeled=false")

    def coco_document(self, dataset_id: int):
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}/coco")

    def import_coco(self, dataset_id: int, document: dict):
        return self._call("POST", f"annotations/datasets/{int(dataset_id)}/coco", document)

    def annotation_exports(self, dataset_id: int):
        return self._call("GET", f"annotations/datasets/{int(dataset_id)}/exports")

    def export_coco(self, dataset_id: int, name: str | None = None):
        """Start a COCO export (in the background); poll :meth:`annotation_export`."""
        body = {"name": name} if name else {}
        return self._call("POST", f"annotations/datasets/{int(dataset_id)}/exports", body)

    def annotation_export(self, dataset_id: int, export_id: int):
        path = f"annotations/datasets/{int(dataset_id)}/exports/{int(export_id)}"
        return self._call("GET", path)

    # --- training (SPEC T1-T7) ---
    def jobs(self, search: str = ""):
        """My training jobs, newest first (``search``: fuzzy on name and description)."""
        return self._call("GET", "jobs" + (f"?search={quote(search)}" if search else ""))

    def submit_job(self, **form):
        """Create a training job (the form of SPEC T2/T3); answers the job, queued or admitted."""
        return self._call("POST", "jobs", form)

    def job(self, job_id: int):
        return self._call("GET", f"jobs/{int(job_id)}")

    def stop_job(self, job_id: int):
        return self._call("DELETE", f"jobs/{int(job_id)}")

    def pause_job(self, job_id: int):
        return self._call("POST", f"jobs/{int(job_id)}/pause")

    def resume_job(self, job_id: int):
        return self._call("POST", f"jobs/{int(job_id)}/resume")

    def job_logs(self, job_id: int, offset: int = 0, limit: int = 200, rank: int | None = None):
        """Console log lines ``offset .. offset+limit`` (all ranks merged, or one ``rank``)."""
        query = f"offset={int(offset)}&limit={int(limit)}"
        if rank is not None:
            query += f"&rank={int(rank)}"
        return self._call("GET", f"jobs/{int(job_id)}/logs?{query}")

    def job_metrics(self, job_id: int):
        return self._call("GET", f"jobs/{int(job_id)}/metrics")

    def job_event(
        self,
        job_id: int,
        event: str,
        exit_code: int,
        message: str = "",
        workload=None,
        reason: dict | None = None,
    ):
        """The job runner's report: ``completed`` or ``failed`` with the exit code (and, for a
        failure no stderr explains, ``reason``: ``{"id", "params"}``, translated by the service)."""
        body = {"event": event, "exit_code": exit_code, "message": message, "workload": workload}
        if reason is not None:
            body["reason"] = reason
        return self._call("POST", f"jobs/{int(job_id)}/events", body)

    def paramsets(self, search: str = ""):
        return self._call("GET", "paramsets" + (f"?search={quote(search)}" if search else ""))

    def save_paramset(self, **paramset):
        return self._call("POST", "paramsets", paramset)

    def update_paramset(self, set_id, **paramset):
        """Edit a saved set; editing a preset set (``preset:<name>``) saves a copy of yours."""
        return self._call("PUT", f"paramsets/{quote(str(set_id))}", paramset)

    def delete_paramset(self, set_id: int):
        return self._call("DELETE", f"paramsets/{int(set_id)}")

    def job_templates(self):
        return self._call("GET", "jobtemplates")

    def save_job_template(self, **template):
        return self._call("POST", "jobtemplates", template)

    def delete_job_template(self, template_id: int):
        return self._call("DELETE", f"jobtemplates/{int(template_id)}")

    def presets(self, search: str = ""):
        """Preset models (name, use, accuracy, size, created); ``search`` is fuzzy."""
        return self._call("GET", "presets" + (f"?search={quote(search)}" if search else ""))

    def prepare_preset(self, name: str):
        """Copy a preset's code into my home; answers the job form prefilled from it."""
        return self._call("POST", f"presets/{quote(name)}/prepare")

    # --- dev environments (SPEC D1-D9, I1, U1) ---
    def settings(self):
        """``{"current_vc", "privilege_enabled"}`` (SPEC U1)."""
        return self._call("GET", "me/settings")

    def set_privilege_enabled(self, enabled: bool):
        """Turn the Privilege Job setting on or off (D1 offers root inside only when on)."""
        return self._call("PUT", "me/settings", {"privilege_enabled": bool(enabled)})

    def devenv_options(self):
        """What a create form offers: engines, saved images, types, VCs, the port range."""
        return self._call("GET", "devenvs/options")

    def devenvs(self):
        return self._call("GET", "devenvs")

    def devenv(self, devenv_id: int):
        return self._call("GET", f"devenvs/{int(devenv_id)}")

    def create_devenv(self, **spec):
        """D1: ``name`` (required), ``description``, ``code_dir``, ``engine_source``
        (preset/saved/custom), ``engine``, ``engine_type``, ``job_type`` (regular/distributed),
        ``nodes``, ``devices_per_node``, ``device_type``, ``privileged``, ``vc``."""
        return self._call("POST", "devenvs", spec)

    def start_devenv(self, devenv_id: int):
        return self._call("POST", f"devenvs/{int(devenv_id)}/start")

    def stop_devenv(self, devenv_id: int):
        return self._call("POST", f"devenvs/{int(devenv_id)}/stop")

    def pause_devenv(self, devenv_id: int):
        return self._call("POST", f"devenvs/{int(devenv_id)}/pause")

    def delete_devenv(self, devenv_id: int):
        return self._call("DELETE", f"devenvs/{int(devenv_id)}")

    def save_devenv_image(self, devenv_id: int, name: str, version: str = "1", description=""):
        body = {"name": name, "version": version, "description": description}
        return self._call("POST", f"devenvs/{int(devenv_id)}/images", body)

    def report_devenv_ssh(self, devenv_id: int, workload_id: int, port: int, password: str):
        """What a dev environment's SSH server reports (D5; the environment's own token)."""
        body = {"workload_id": workload_id, "port": port, "password": password}
        return self._call("PUT", f"devenvs/{int(devenv_id)}/ssh", body)

    def devenv_port(self, devenv_id: int, port: int):
        """D6: the browser address of ``port`` (40000-49999) of a running environment."""
        return self._call("GET", f"devenvs/{int(devenv_id)}/ports/{int(port)}")

    def images(self):
        return self._call("GET", "images")

    def delete_image(self, image_id: int):
        return self._call("DELETE", f"images/{int(image_id)}")


class PlatformClient(_Endpoints):
    """Blocking client (notebooks, scripts, tests)."""

    def _call(self, method: str, path: str, body: Any = None):
        import requests

        try:
            resp = requests.request(
                method,
                self._api(path),
                headers=self._headers(),
                data=None if body is None else json.dumps(body),
                timeout=self.timeout,
            )
        except requests.RequestException as e:
            raise ServiceUnreachable(str(e)) from None
        if resp.status_code >= 400:
            raise _error_from(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    # --- datasets: bytes in, bytes out ---
    def _send_bytes(self, method: str, path: str, data: bytes, headers: dict[str, str]):
        import requests

        try:
            resp = requests.request(
                method,
                self._api(path),
                headers={**self._headers(), "Content-Type": "application/octet-stream", **headers},
                data=data,
                timeout=max(self.timeout, 600),
            )
        except requests.RequestException as e:
            raise ServiceUnreachable(str(e)) from None
        if resp.status_code >= 400:
            raise _error_from(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def upload_dataset(
        self, archive, chunk_size: int = 8 << 20, upload_id: str | None = None, **fields
    ):
        """Upload an archive file (``.zip``, ``.tar``, ``.tar.gz``) in chunks and unpack it.

        ``fields``: ``name``, ``description``, ``labeled``, ``permission`` (or ``dataset_id`` for
        a new version). Pass the ``upload_id`` of an interrupted upload to go on where it stopped.
        Answers the dataset.
        """
        from pathlib import Path

        archive = Path(archive)
        size = archive.stat().st_size
        if upload_id is None:
            upload_id = self.start_dataset_upload(archive.name, size, **fields)["id"]
        offset = self.dataset_upload(upload_id)["offset"]
        with open(archive, "rb") as f:
            f.seek(offset)
            while offset < size:
                data = f.read(chunk_size)
                offset = self.upload_dataset_chunk(upload_id, data, offset, size)["offset"]
        return self.complete_dataset_upload(upload_id)

    def download_dataset(self, dataset_id: int, dest, version: int | None = None):
        """Save a dataset version as a zip file at ``dest``; answers its path."""
        import requests

        url, headers = self.dataset_download_request(dataset_id, version)
        try:
            with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
                if resp.status_code >= 400:
                    raise _error_from(resp.status_code, resp.text)
                with open(dest, "wb") as out:
                    for chunk in resp.iter_content(1 << 20):
                        out.write(chunk)
        except requests.RequestException as e:
            raise ServiceUnreachable(str(e)) from None
        return dest


class AsyncPlatformClient(_Endpoints):
    """Non-blocking client on tornado's HTTP client (hub, server extension)."""

    async def _call(self, method: str, path: str, body: Any = None):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        req = HTTPRequest(
            self._api(path),
            method=method,
            headers=self._headers(),
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599:  # tornado's "no response": timeout, connection closed
                raise ServiceUnreachable(str(e)) from None
            text = e.response.body.decode("utf8", "replace") if e.response else str(e)
            raise _error_from(e.code, text) from None
        except OSError as e:
            raise ServiceUnreachable(str(e)) from None
        return json.loads(resp.body) if resp.body else None

    # --- datasets: bytes in ---
    async def _send_bytes(self, method: str, path: str, data: bytes, headers: dict[str, str]):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        req = HTTPRequest(
            self._api(path),
            method=method,
            headers={**self._headers(), "Content-Type": "application/octet-stream", **headers},
            body=data,
            request_timeout=max(self.timeout, 600),
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599:
                raise ServiceUnreachable(str(e)) from None
            text = e.response.body.decode("utf8", "replace") if e.response else str(e)
            raise _error_from(e.code, text) from None
        except OSError as e:
            raise ServiceUnreachable(str(e)) from None
        return json.loads(resp.body) if resp.body else None
