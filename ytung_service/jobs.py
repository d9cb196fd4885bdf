"""Training jobs (SPEC T1–T7): validation, the workload of a run, parameter sets, templates,
preset models, and reading what the job runner wrote (logs, metrics, checkpoints).

A job is validated here, stored as :class:`orm.TrainingJob`, and every run of it is a workload
of kind ``training`` (``user_options["job"]``: the *run spec*, with real paths, that the spawner
passes into the server as ``YTUNG_JOB``; ``user_options["dataset"]``: ``{"id", "version"}``).
The job runner (:mod:`ytung_server_ext.jobrunner`) runs the start file with the platform's
contract and writes, under ``<data_dir>/jobs/<id>/``::

    logs/rank-<r>.log    every line "<ISO time> [rank r] [stdout|stderr] text" ("[node K] [rank r]"
                         when each node's ranks run in a pod of their own)
    logs/device.log      lines of stderr that name a device error (CUDA, NCCL, Ascend, HCCL)
    metrics.jsonl        one sample a few seconds: {"time", "cpu_percent", "memory_bytes", ...}
    runtime.json         what the runner started: ranks, ports (TensorBoard), exit code

Everything here is pure or touches only the database and the data root; handlers do the rest.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import orm
from .admission import queue_estimate
from .errors import DomainError
from .i18n import N_
from .search import rank
from .storage import ensure_dir, home_path, list_untrusted, open_untrusted, virtual_home_path

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
#: the platform passes these itself (the contract): a run parameter may not set them
RESERVED_PARAMS = ("data_path", "output_path", "checkpoint_path")
#: the engines (images) of the local runtime; Kubernetes images add more later
ENGINES = ("pytorch",)
MAX_TEXT = 2000
MAX_PARAMS = 64
#: file names that count as checkpoints when a paused job resumes (newest wins)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
PRESETS_DIR = Path(__file__).parent / "presets"

#: what a job shows; the workload statuses plus "paused"
PAUSED = "paused"

EXITED = N_("The job exited with code {code}")
FAILED = N_("The job failed with exit code {code}: {tail}")
#: why a run failed where no rank's stderr says it: the job runner reports a message id and its
#: parameters (``ytung_server_ext.jobrunner``), translated where the job is shown; id →
#: (message, {parameter: type}); ``{code}`` is the exit code the runner reports with it
RUNNER_REASONS: dict[str, tuple[str, dict[str, type]]] = {
    "node_lost": (
        N_(
            "The job failed with exit code {code}: node {node} stopped reporting for "
            "{seconds} s; its pod was deleted, evicted or killed"
        ),
        {"node": int, "seconds": int},
    ),
    "node_never_started": (
        N_(
            "The job failed with exit code {code}: node {node} never reported in {seconds} s; "
            "its pod did not start"
        ),
        {"node": int, "seconds": int},
    ),
    "node_terminated": (
        N_(
            "The job failed with exit code {code}: the pod of node {node} got {signal} "
            "(deleted, evicted or preempted)"
        ),
        {"node": int, "signal": str},
    ),
    "node_bad_status": (
        N_("The job failed with exit code {code}: node {node} wrote a status that cannot be read"),
        {"node": int},
    ),
    "master_unresolved": (
        N_("The job failed with exit code {code}: node {node} could not find the master {host}"),
        {"node": int, "host": str},
    ),
    "runner_error": (
        N_("The job failed with exit code {code}: the job runner failed: {error}"),
        {"error": str},
    ),
}


# -- the form --------------------------------------------------------------------------------
def _text(form: dict, key: str, what: str, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = form.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(400, "{what} must be text", what=what)
    value = value.strip()
    if required and not value:
        raise DomainError(400, "{what} is required", what=what)
    if len(value) > limit:
        raise DomainError(400, "{what} is longer than {limit} characters", what=what, limit=limit)
    return value


def _count(form: dict, key: str, default: int, low: int, high: int = 1024) -> int:
    value = form.get(key, default)
    if value is None or value == "":
        value = default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError(
            400, "{what} must be a whole number from {low} to {high}", what=key, low=low, high=high
        )
    return value


def _flag(form: dict, key: str) -> bool:
    value = form.get(key, False)
    if not isinstance(value, bool):
        raise DomainError(400, "The job field '{key}' must be true or false", key=key)
    return value


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not JOB_NAME_RE.match(name):
        raise DomainError(
            400,
            "A job name is 1-64 English letters, digits or '_'; got {name}",
            name=str(name)[:100],
        )
    return name


def parse_params(value: Any) -> dict[str, str]:
    """Run parameters: a ``{key: value}`` object or ``[[key, value], ...]``; values are text.

    They become ``--key value`` on the command line, in this order."""
    if value is None or value == "":
        return {}
    pairs = value.items() if isinstance(value, dict) else value
    if not isinstance(pairs, list | tuple | type({}.items())):
        raise DomainError(400, "Run parameters must be an object of names and values")
    out: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise DomainError(400, "Run parameters must be an object of names and values")
        key, val = pair
        key = str(key).strip().removeprefix("--")
        if not PARAM_KEY_RE.match(key):
            raise DomainError(400, "Invalid run parameter name: {key}", key=key[:100])
        if key in RESERVED_PARAMS:
            raise DomainError(
                400, "The platform sets --{key} itself; remove it from the run parameters", key=key
            )
        if isinstance(val, bool):
            val = "true" if val else "false"
        if val is None or not isinstance(val, str | int | float):
            raise DomainError(400, "The value of run parameter {key} must be text", key=key)
        val = str(val)
        if len(val) > MAX_TEXT or "\x00" in val:
            raise DomainError(400, "The value of run parameter {key} is too long", key=key)
        out[key] = val
    if len(out) > MAX_PARAMS:
        raise DomainError(400, "At most {limit} run parameters", limit=MAX_PARAMS)
    return out


def validate_form(
    session: Session | None, user: str, form: dict, data_dir: Path | str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job form → ``(spec, real)``: ``spec`` as the user wrote it (stored, shown, saved as a
    template), ``real``: the paths on the data root. Every refusal is a :class:`DomainError`."""
    if not isinstance(form, dict):
        raise DomainError(400, "The request body must be a JSON object")
    name = check_name(form.get("name"))
    description = _text(form, "description", "description")
    engine = _text(form, "engine", "engine") or ENGINES[0]
    if engine not in ENGINES:
        raise DomainError(
            400,
            "Unknown engine {engine}; use one of {allowed}",
            engine=engine,
            allowed=", ".join(ENGINES),
        )
    code_dir = _text(form, "code_dir", "code directory", required=True)
    code_real = home_path(data_dir, user, code_dir, what="code directory")
    if not code_real.is_dir():
        raise DomainError(400, "File or path does not exist: {path}", path=code_dir)
    start_file = _text(form, "start_file", "start file", required=True)
    if not start_file.endswith(".py"):
        raise DomainError(
            400, "The start file must be a Python file (.py): {path}", path=start_file
        )
    if start_file.startswith("/"):
        start_real = home_path(data_dir, user, start_file, what="start file")
    else:
        start_real = (code_real / start_file).resolve()
    if code_real != start_real and code_real not in start_real.parents:
        raise DomainError(
            400,
            "The start file must be inside the code directory {code}: {path}",
            code=code_dir,
            path=start_file,
        )
    if not start_real.is_file():
        raise DomainError(400, "File or path does not exist: {path}", path=start_file)
    output_path = _text(form, "output_path", "output path", required=True)
    output_real = home_path(data_dir, user, output_path, what="output path")
    if output_real.exists() and not output_real.is_dir():
        raise DomainError(
            400, "The output path is a file, not a directory: {path}", path=output_path
        )
    dataset, data_real = _dataset(session, user, form.get("dataset"), data_dir)
    params = parse_params(form.get("params"))
    distributed = _flag(form, "distributed")
    device_type = form.get("device_type") or None
    if device_type is not None and not isinstance(device_type, str):
        raise DomainError(400, "{what} must be text", what="device_type")
    if distributed:
        nodes = _count(form, "nodes", 2, 1, 64)
        per_node = _count(form, "devices_per_node", 0, 0, 64)
    else:
        nodes = 1
        per_node = _count(form, "devices", form.get("devices_per_node", 0), 0, 64)
    master_command = _text(form, "master_command", "master command") if distributed else ""
    worker_command = _text(form, "worker_command", "worker command") if distributed else ""
    vc = form.get("vc") or None
    if vc is not None and not isinstance(vc, str):
        raise DomainError(400, "{what} must be text", what="vc")
    spec = {
        "name": name,
        "description": description,
        "engine": engine,
        "code_dir": code_dir,
        "start_file": start_file,
        "output_path": output_path,
        "dataset": dataset,
        "params": params,
        "distributed": distributed,
        "nodes": nodes,
        "devices_per_node": per_node,
        "device_type": device_type if per_node else None,
        "master_command": master_command,
        "worker_command": worker_command,
        "vc": vc,
        "preemptible": _flag(form, "preemptible"),
        "keep_alive": _flag(form, "keep_alive"),
    }
    real = {
        "code_dir": str(code_real),
        "start_file": str(start_real),
        "output_path": str(output_real),
        "data_path": str(data_real) if data_real else None,
    }
    return spec, real


def _dataset(session, user: str, value: Any, data_dir) -> tuple[dict | None, Path | None]:
    """``{"id", "version"}`` of a labeled dataset the user may use, and its directory."""
    if value in (None, "", {}):
        return None, None
    ident = value.get("id") if isinstance(value, dict) else None
    version = value.get("version") if isinstance(value, dict) else None
    if (
        isinstance(ident, bool)
        or not isinstance(ident, int)
        or not (version is None or (isinstance(version, int) and not isinstance(version, bool)))
    ):
        raise DomainError(400, "The training dataset must be given as its id and version")
    try:
        from . import datasets
    except ImportError:  # the datasets module is not part of this installation
        raise DomainError(400, "Datasets are not available on this platform yet") from None
    owner = orm.User.find(session, user) if session is not None else None
    if owner is None:
        raise DomainError(404, "No such user: {name}", name=user)
    _ds, found, path = datasets.usable_for_training(
        session, owner, ident, version, data_dir=data_dir
    )
    return {"id": ident, "version": found.version}, Path(path)


# -- runs --------------------------------------------------------------------------------------
def job_dir(data_dir: Path | str, job_id: int) -> Path:
    return Path(data_dir) / "jobs" / str(job_id)


def run_spec(
    job_id: int, run: int, spec: dict, real: dict, data_dir, checkpoint: str | None = None
) -> dict[str, Any]:
    """What the job runner needs (``YTUNG_JOB``): real paths only, nothing to look up."""
    base = job_dir(data_dir, job_id)
    return {
        "id": job_id,
        "run": run,
        "name": spec["name"],
        "engine": spec["engine"],
        "code_dir": real["code_dir"],
        "start_file": real["start_file"],
        "output_path": real["output_path"],
        "data_path": real["data_path"],
        "checkpoint_path": checkpoint,
        "params": dict(spec["params"]),
        "distributed": spec["distributed"],
        "nodes": spec["nodes"],
        "devices_per_node": spec["devices_per_node"],
        "master_command": spec["master_command"],
        "worker_command": spec["worker_command"],
        "keep_alive": spec["keep_alive"],
        "job_dir": str(base),
        "log_dir": str(base / "logs"),
    }


def workload_body(spec: dict, run: dict) -> dict[str, Any]:
    """The body for :meth:`Admission.submit` of one run."""
    options: dict[str, Any] = {"job": run}
    if spec.get("dataset"):
        options["dataset"] = dict(spec["dataset"])
    return {
        "kind": "training",
        "name": spec["name"],
        "vc": spec.get("vc"),
        "device_type": spec.get("device_type"),
        "nodes": spec["nodes"],
        "devices_per_node": spec["devices_per_node"],
        "preemptible": spec.get("preemptible", False),
        "user_options": options,
    }


def latest_checkpoint(output_dir: Path | str) -> Path | None:
    """The newest checkpoint file (``*.pt``, ``*.pth``, ``*.ckpt``) under ``output_dir``."""
    best: tuple[float, str] | None = None
    root = Path(output_dir)
    if not root.is_dir():
        return None
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(CHECKPOINT_SUFFIXES):
                path = os.path.join(dirpath, name)
                key = (os.path.getmtime(path), path)
                if best is None or key > best:
                    best = key
    return Path(best[1]) if best else None


def new_job(session: Session, owner: str, spec: dict) -> orm.TrainingJob:
    job = orm.TrainingJob(
        owner=owner,
        name=spec["name"],
        description=spec["description"],
        engine=spec["engine"],
        spec=spec,
        runs=[],
    )
    session.add(job)
    session.flush()
    return job


def job_status(job: orm.TrainingJob, workload: orm.Workload | None) -> str:
    """A job's status: its latest run's, ``paused``, or what the exit code says."""
    if job.paused:
        return PAUSED
    if workload is None:
        return orm.CLOSED
    ended = job.exit_code is not None and (job.spec or {}).get("keep_alive")
    if ended and workload.status in (orm.CLOSED, orm.SCHEDULING, orm.RUNNING):
        # a keep-alive job whose command ended (its server may still run): the outcome counts.
        # Any other job's report stores the exit code before its workload is released with
        # the reason: it shows the workload's status, never "failed" without the reason
        return orm.COMPLETED if job.exit_code == 0 else orm.FAILED
    return workload.status


def runner_reason(value: Any) -> tuple[str, dict[str, Any]] | None:
    """The job runner's ``{"id", "params"}`` (see :data:`RUNNER_REASONS`) → ``(message,
    params)``; ``None`` for none. Anything else is refused (400): the message must be one of
    the platform's, so the service never shows a text a pod made up."""
    if value is None:
        return None
    known = RUNNER_REASONS.get(value.get("id")) if isinstance(value, dict) else None
    params = value.get("params") if isinstance(value, dict) else None
    if known is None or not isinstance(params, dict):
        raise DomainError(
            400,
            "A report's 'reason' must name one of {allowed} and give its 'params'",
            allowed=", ".join(RUNNER_REASONS),
        )
    message, types = known
    clean: dict[str, Any] = {}
    for key, kind in types.items():
        given = params.get(key)
        if type(given) is not kind or (kind is int and given < 0):
            raise DomainError(
                400,
                "The report's reason {id} needs a valid '{key}'",
                id=value["id"],
                key=key,
            )
        clean[key] = given[:500] if kind is str else given
    return message, clean


def outcome(
    exit_code: int, tail: str, reason: tuple[str, dict[str, Any]] | None = None
) -> tuple[str, dict[str, Any]]:
    """The workload status and reason for a command that ended with ``exit_code``; a failure's
    message is the job runner's ``reason`` (:func:`runner_reason`) when it gave one."""
    if exit_code == 0:
        return orm.COMPLETED, {"code": "completed", "message": EXITED, "params": {"code": 0}}
    params = {"code": exit_code, "tail": tail[-2000:]}
    if reason is not None:
        message, extra = reason
        return orm.FAILED, {"code": "failed", "message": message, "params": {**extra, **params}}
    return orm.FAILED, {"code": "failed", "message": FAILED, "params": params}


def iso(when: datetime | float | None) -> str | None:
    if when is None:
        return None
    if isinstance(when, int | float):
        return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")
    return when.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def job_model(
    job: orm.TrainingJob, workload: orm.Workload | None, t, hub_base_url: str = "/"
) -> dict[str, Any]:
    """The JSON of a job (list and detail); ``t`` translates the reason."""
    reason = None
    if workload is not None and workload.reason:
        reason = {
            "code": workload.reason.get("code"),
            "text": t(workload.reason["message"], **(workload.reason.get("params") or {})),
        }
    spec = job.spec or {}
    status = job_status(job, workload)
    server = workload.server_name if workload is not None else ""
    ports = None
    if workload is not None and workload.status in orm.ACTIVE_STATUSES and server:
        base = f"{hub_base_url.rstrip('/')}/user/{job.owner}/{server}/"
        ports = {"jupyter": base + "lab", "terminal": base + "terminals/1", "server": base}
    return {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "engine": job.engine,
        "owner": job.owner,
        "status": status,
        "created": iso(job.created),
        "spec": spec,
        "distributed": bool(spec.get("distributed")),
        "nodes": spec.get("nodes", 1),
        "devices_per_node": spec.get("devices_per_node", 0),
        "device_type": spec.get("device_type"),
        "workload": workload.id if workload is not None else None,
        "vc": workload.vc if workload is not None else spec.get("vc"),
        "runs": list(job.runs or []),
        "paused": job.paused,
        "exit_code": job.exit_code,
        "stderr_tail": job.message,
        "reason": reason,
        "queue": {
            "position": workload.position,
            "ahead": workload.ahead,
            **queue_estimate((workload.reason or {}).get("estimate"), t, time.time()),
        }
        if workload is not None and workload.status == orm.QUEUED
        else None,
        "started": iso(workload.started_at) if workload is not None else None,
        "ended": iso(workload.ended_at) if workload is not None else None,
        "ports": ports,
    }


def find_job(session: Session, user: orm.User | None, job_id: Any, admin: bool) -> orm.TrainingJob:
    """The job ``job_id`` if ``user`` owns it (or is an admin); else 404 — another user's job
    does not exist for you."""
    job = session.get(orm.TrainingJob, int(job_id)) if str(job_id).isdigit() else None
    if job is None or not (admin or (user is not None and job.owner == user.name)):
        raise DomainError(404, "No such training job: {id}", id=job_id)
    return job


def list_jobs(session: Session, owner: str | None, search: str = "") -> list[orm.TrainingJob]:
    query = select(orm.TrainingJob).order_by(orm.TrainingJob.id.desc())
    if owner is not None:
        query = query.where(orm.TrainingJob.owner == owner)
    jobs = list(session.scalars(query))
    return rank(jobs, search, lambda j: (j.name, j.description))


# -- logs and metrics (written by the job runner) ------------------------------------------------
#: ``[node K]`` when the ranks of a run live in pods of their own (runtime kubernetes)
LOG_LINE = re.compile(
    r"^(?P<time>\S+) (?:\[node (?P<node>\d+)\] )?\[rank (?P<rank>\d+)\] \[(?P<stream>\w+)\] "
    r"(?P<text>.*)$"
)


def _lines(job_path: Path, *parts: str) -> list[str]:
    """The lines of a file the job runner wrote; none when it is absent or not a regular file
    reached without a symlink (the job's pods can write to its directory: see
    :func:`storage.open_untrusted`)."""
    f = open_untrusted(job_path, *parts)
    if f is None:
        return []
    with io.TextIOWrapper(f, encoding="utf-8", errors="replace") as text:
        return text.readlines()


def log_ranks(job_path: Path) -> list[int]:
    """The ranks that have a console log under ``<job_path>/logs``."""
    ranks = []
    for name in list_untrusted(job_path, "logs"):
        stem, dot, ext = name.partition(".")
        suffix = stem.removeprefix("rank-")
        if name.startswith("rank-") and dot and ext == "log" and suffix.isdigit():
            ranks.append(int(suffix))
    return sorted(ranks)


def read_log(
    job_path: Path, rank: int | None = None, offset: int = 0, limit: int = 200
) -> dict[str, Any]:
    """Lines ``offset .. offset+limit`` of the console log (one rank's, or all merged in time
    order), each ``{"time", "rank", "stream", "text"}``; ``total`` for paging and tailing."""
    ranks = log_ranks(job_path)
    chosen = ranks if rank is None else [r for r in ranks if r == rank]
    lines: list[dict[str, Any]] = []
    for r in chosen:
        for raw in _lines(job_path, "logs", f"rank-{r}.log"):
            m = LOG_LINE.match(raw.rstrip("\n"))
            if m:
                line = {
                    "time": m["time"],
                    "rank": int(m["rank"]),
                    "stream": m["stream"],
                    "text": m["text"],
                }
                if m["node"] is not None:  # a rank in a pod of its own: its node too
                    line["node"] = int(m["node"])
                lines.append(line)
    if len(chosen) > 1:
        lines.sort(key=lambda line: (line["time"], line["rank"]))  # stable: file order kept
    total = len(lines)
    return {
        "ranks": ranks,
        "rank": rank,
        "offset": offset,
        "limit": limit,
        "total": total,
        "lines": lines[offset : offset + limit],
    }


def read_device_log(job_path: Path, limit: int = 500) -> list[str]:
    return [line.rstrip("\n") for line in _lines(job_path, "logs", "device.log")][-limit:]


def read_metrics(job_path: Path, limit: int = 120) -> list[dict[str, Any]]:
    out = []
    for line in _lines(job_path, "metrics.jsonl")[-limit:]:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def read_runtime(job_path: Path) -> dict[str, Any]:
    try:
        found = json.loads("".join(_lines(job_path, "runtime.json")) or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


# -- parameter sets (T4) and templates (T7) ------------------------------------------------
PARAMSET_FIELDS = (
    "engine",
    "code_dir",
    "start_file",
    "output_path",
    "params",
    "device_type",
    "devices",
)


def paramset_spec(form: dict) -> dict[str, Any]:
    """The fields a parameter set keeps, type-checked (paths are checked when a job uses it)."""
    spec: dict[str, Any] = {}
    for key in ("engine", "code_dir", "start_file", "output_path", "device_type"):
        spec[key] = _text(form, key, key)
    if spec["engine"] and spec["engine"] not in ENGINES:
        raise DomainError(
            400,
            "Unknown engine {engine}; use one of {allowed}",
            engine=spec["engine"],
            allowed=", ".join(ENGINES),
        )
    if spec["start_file"] and not spec["start_file"].endswith(".py"):
        raise DomainError(
            400, "The start file must be a Python file (.py): {path}", path=spec["start_file"]
        )
    spec["params"] = parse_params(form.get("params"))
    spec["devices"] = _count(form, "devices", 0, 0, 64)
    return spec


def template_spec(form: dict) -> dict[str, Any]:
    """A template keeps the whole job form (checked when a job is created from it)."""
    keep = {
        "description", "engine", "code_dir", "start_file", "output_path", "dataset", "params",
        "distributed", "nodes", "devices_per_node", "devices", "device_type", "master_command",
        "worker_command", "vc", "preemptible", "keep_alive",
    }  # fmt: skip
    spec = {k: v for k, v in form.items() if k in keep}
    spec["params"] = parse_params(spec.get("params"))
    for key in ("distributed", "preemptible", "keep_alive"):
        spec[key] = _flag(spec, key)
    return spec


def saved_name(form: dict) -> str:
    name = form.get("name")
    if not isinstance(name, str) or not JOB_NAME_RE.match(name):
        raise DomainError(
            400, "A name is 1-64 English letters, digits or '_'; got {name}", name=str(name)[:100]
        )
    return name


def save_paramset(
    session: Session, owner: str, form: dict, existing: orm.TrainingParamSet | None = None
) -> orm.TrainingParamSet:
    name = saved_name(form)
    clash = session.scalar(
        select(orm.TrainingParamSet).where(
            orm.TrainingParamSet.owner == owner, orm.TrainingParamSet.name == name
        )
    )
    if clash is not None and clash is not existing:
        raise DomainError(409, "You already have a parameter set named {name}", name=name)
    spec = paramset_spec(form)
    row = existing or orm.TrainingParamSet(owner=owner)
    row.name, row.description, row.spec = name, _text(form, "description", "description"), spec
    row.updated = orm.utcnow()
    session.add(row)
    session.flush()
    return row


def paramset_model(row: orm.TrainingParamSet) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "preset": False,
        "spec": row.spec,
        "created": iso(row.created),
        "updated": iso(row.updated),
    }


def save_template(session: Session, owner: str, form: dict) -> orm.TrainingTemplate:
    name = saved_name(form)
    clash = session.scalar(
        select(orm.TrainingTemplate).where(
            orm.TrainingTemplate.owner == owner, orm.TrainingTemplate.name == name
        )
    )
    if clash is not None:
        raise DomainError(409, "You already have a job template named {name}", name=name)
    row = orm.TrainingTemplate(
        owner=owner,
        name=name,
        description=_text(form, "description", "description"),
        spec=template_spec(form.get("spec") if isinstance(form.get("spec"), dict) else form),
    )
    session.add(row)
    session.flush()
    return row


def template_model(row: orm.TrainingTemplate) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "spec": row.spec,
        "created": iso(row.created),
    }


# -- preset models (T5) --------------------------------------------------------------------
def presets() -> list[dict[str, Any]]:
    """The preset models shipped in ``ytung_service/presets/<name>/preset.json``."""
    out = []
    for path in sorted(PRESETS_DIR.glob("*/preset.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["name"] = path.parent.name
        out.append(doc)
    return out


def preset(name: str) -> dict[str, Any]:
    for doc in presets():
        if doc["name"] == name:
            return doc
    raise DomainError(404, "No such preset model: {name}", name=name)


def preset_paramsets() -> list[dict[str, Any]]:
    """Every preset model's parameters as a preset parameter set (read-only; editing saves a
    copy of your own)."""
    return [
        {
            "id": f"preset:{doc['name']}",
            "name": doc["name"],
            "description": doc.get("use", ""),
            "preset": True,
            "spec": {
                "engine": doc.get("engine", ENGINES[0]),
                "code_dir": f"presets/{doc['name']}",
                "start_file": doc["start_file"],
                "output_path": f"jobs/{doc['name']}/output",
                "params": dict(doc.get("params") or {}),
                "device_type": "",
                "devices": 0,
            },
            "created": doc.get("created"),
            "updated": doc.get("created"),
        }
        for doc in presets()
    ]


def prepare_preset(data_dir: Path | str, user: str, name: str) -> dict[str, Any]:
    """Copy a preset's code into the user's home (``/home/<user>/presets/<name>``, kept if it
    is there) and answer the job form prefilled from it."""
    doc = preset(name)
    source = PRESETS_DIR / name
    target = home_path(data_dir, user, f"presets/{name}", what="code directory")
    ensure_dir(target)
    for item in source.iterdir():
        if item.is_file() and item.suffix == ".py" and not (target / item.name).exists():
            shutil.copy2(item, target / item.name)
    return {
        "name": f"{name}_job",
        "description": doc.get("use", ""),
        "engine": doc.get("engine", ENGINES[0]),
        "code_dir": virtual_home_path(data_dir, user, target),
        "start_file": doc["start_file"],
        "output_path": f"/home/{user}/jobs/{name}/output",
        "params": dict(doc.get("params") or {}),
        "distributed": False,
        "devices": 0,
    }
