"""Development environments (SPEC D1–D9) and saved images (D8, I1): the domain.

A :class:`~ytung_service.orm.DevEnv` is the spec a user filled in (name, code dir, engine, job
type, devices, privilege); each run of it is one workload of kind ``devenv`` submitted through
:meth:`Admission.submit <ytung_service.admission.Admission.submit>` with
``user_options = {"devenv": {...}}`` (what the spawners read: code dir, image, privilege).

- create: validate every field (:func:`parse_spec`), keep the record, submit the first run;
- stop / pause: stop the run (running → stopping → closed); record and files stay;
- start: a new run with the same spec (we do better than the manual: a stopped env restarts);
- delete: only a stopped (or a still unapproved) one; the record goes, the files stay;
- a server started from the hub's own spawn page is a dev environment too
  (:func:`adopt_hub_workload`): it gets a record with defaults (name = the server's name or
  ``default``, code dir = the home, the first preset engine) and the hub server name, so D2
  lists it and stop / start / SSH work on it like on the others;
- save image: on ``local`` a record of the engine (image, start command) and the exact
  ``pip freeze`` of the environment; other runtimes provide ``save_image`` (a container commit).

The pure parts (:func:`parse_spec`, :func:`devenv_model`, :func:`image_model`,
:func:`check_port`) are tested with literals; the rest is thin glue to admission and the hub.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import orm, storage
from .accounts import iso
from .admission import NAME_RE, workload_model
from .errors import DomainError
from .i18n import N_
from .scheduling import DEVICE_TYPES

ENGINE_SOURCES = ("preset", "saved", "custom")
JOB_TYPES = ("regular", "distributed")
ENGINE_TYPES = ("PyTorch", "TensorFlow", "MindSpore", "PaddlePaddle", "Other")
#: D6: the ports of an environment a browser may open
PORT_RANGE = (40000, 49999)

#: the preset engines when ``c.YtungService.devenv_engines`` is not set
DEFAULT_ENGINES: list[dict[str, Any]] = [
    {
        "name": "pytorch-2.13-cpu",
        "engine_type": "PyTorch",
        "image": "ytung/pytorch:2.13.0-cpu",
        "description": "PyTorch 2.13 (CPU)",
    },
    {
        "name": "pytorch-2.13-cuda",
        "engine_type": "PyTorch",
        "image": "ytung/pytorch:2.13.0-cuda12.8",
        "description": "PyTorch 2.13, CUDA 12.8 (NVIDIA GPU)",
    },
    {
        "name": "pytorch-2.13-cuda-hpo",
        "engine_type": "PyTorch",
        "image": "ytung/pytorch-hpo:2.13.0-cuda12.8",
        "description": "PyTorch 2.13 with the hyper-parameter tuning tools (Optuna dashboard)",
        "hpo": True,
    },
    {
        "name": "mindspore-2.4-ascend",
        "engine_type": "MindSpore",
        "image": "ytung/mindspore:2.4.10-ascend-arm64",
        "description": "MindSpore 2.4 on Ascend 910 (Huawei NPU, arm64)",
    },
]

#: how the list names a status (the manual's words in zh_CN); ``unapproved``: waiting for an
#: admin of a VC that needs approval (see :mod:`ytung_service.admission`)
STATUS_LABELS = {
    orm.UNAPPROVED: N_("Unapproved"),
    orm.QUEUED: N_("Queued"),
    orm.SCHEDULING: N_("Scheduling"),
    orm.RUNNING: N_("Running"),
    orm.STOPPING: N_("Stopping"),
    orm.CLOSED: N_("Closed"),
    orm.COMPLETED: N_("Completed"),
    orm.FAILED: N_("Failed"),
    orm.ERROR: N_("Error"),
}

# a container image reference: [registry[:port]/]path[:tag][@digest]
_IMAGE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_engines(engines: Any) -> list[dict[str, Any]]:
    """The preset engine list checked (ValueError says what is wrong)."""
    if not isinstance(engines, list):
        raise ValueError("devenv_engines must be a list of dicts")
    seen = set()
    for e in engines:
        if not isinstance(e, dict) or not {"name", "image"} <= set(e):
            raise ValueError(f"every engine needs at least 'name' and 'image': {e!r}")
        if e["name"] in seen:
            raise ValueError(f"engine {e['name']!r} is listed twice")
        seen.add(e["name"])
        if not _IMAGE.match(str(e["image"])):
            raise ValueError(f"engine {e['name']!r}: not an image name: {e['image']!r}")
    return engines


# -- validation (pure) ----------------------------------------------------------------------
def _text(body: dict, key: str, limit: int, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise DomainError(400, "'{key}' must be text", key=key)
    value = value.strip()
    if len(value) > limit:
        raise DomainError(400, "'{key}' is longer than {limit} characters", key=key, limit=limit)
    return value


def _count(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError(400, "{what} must be a whole number; got {value}", what=key, value=value)
    return value


def _flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if value in (None, ""):
        return False
    if not isinstance(value, bool):
        raise DomainError(400, "'{key}' must be true or false", key=key)
    return value


def parse_spec(
    body: dict[str, Any],
    user: orm.User,
    data_dir: Path | str,
    engines: list[dict[str, Any]],
    saved_image: Callable[[int], orm.SavedImage | None],
) -> dict[str, Any]:
    """The fields of a new :class:`~ytung_service.orm.DevEnv` from a create request (D1).

    Every refusal is a :class:`DomainError` naming the field. Device counts and NPU shapes
    (V7, V8) are admission's to check; this checks what only a dev environment has.
    """
    name = body.get("name")
    if name in (None, "") or (isinstance(name, str) and not name.strip()):
        raise DomainError(400, "A name is required")
    if not isinstance(name, str) or not NAME_RE.match(name.strip()):
        raise DomainError(
            400,
            "A workload name is 1-128 letters, digits, '_', '-' or '.'; got {name}",
            name=name,
        )
    spec: dict[str, Any] = {"name": name.strip(), "owner": user.name}
    spec["description"] = _text(body, "description", 1000)
    code_dir = _text(body, "code_dir", 1000) or storage.VIRTUAL_HOME.format(user=user.name)
    real = storage.home_path(data_dir, user.name, code_dir, what="code_dir")
    spec["code_dir"] = storage.virtual_home_path(data_dir, user.name, real)

    source = body.get("engine_source") or "preset"
    if source not in ENGINE_SOURCES:
        raise DomainError(
            400,
            "Unknown engine source {value}; use one of {allowed}",
            value=source,
            allowed=", ".join(ENGINE_SOURCES),
        )
    engine = _text(body, "engine", 512)
    if not engine:
        raise DomainError(400, "Choose an engine")
    engine_type = _text(body, "engine_type", 64)
    if source == "preset":
        preset = next((e for e in engines if e["name"] == engine), None)
        if preset is None:
            raise DomainError(
                400,
                "No such preset engine: {name}; use one of {allowed}",
                name=engine,
                allowed=", ".join(e["name"] for e in engines),
            )
        image = preset["image"]
        engine_type = engine_type or preset.get("engine_type", "")
    elif source == "saved":
        saved = saved_image(int(engine)) if engine.isdigit() else None
        if saved is None or saved.owner != user.name:
            raise DomainError(404, "No such saved image: {name}", name=engine)
        image = saved.image
        engine_type = engine_type or saved.engine_type
    else:
        if not _IMAGE.match(engine):
            raise DomainError(
                400,
                "Not an image name: {name} (e.g. registry.example.com/team/pytorch:2.13)",
                name=engine,
            )
        image = engine
    if engine_type and engine_type not in ENGINE_TYPES:
        raise DomainError(
            400,
            "Unknown engine type {value}; use one of {allowed}",
            value=engine_type,
            allowed=", ".join(ENGINE_TYPES),
        )
    spec.update(engine_source=source, engine=engine, image=image, engine_type=engine_type)

    job_type = body.get("job_type") or "regular"
    if job_type not in JOB_TYPES:
        raise DomainError(
            400,
            "Unknown job type {value}; use one of {allowed}",
            value=job_type,
            allowed=", ".join(JOB_TYPES),
        )
    device_type = body.get("device_type") or None
    if device_type is not None and device_type not in DEVICE_TYPES:
        raise DomainError(
            400,
            "Unknown device type {value}; use one of {allowed}",
            value=device_type,
            allowed=", ".join(DEVICE_TYPES),
        )
    per_node = _count(body, "devices_per_node", 0)
    nodes = _count(body, "nodes", 1) if job_type == "distributed" else 1
    if nodes < 1:
        raise DomainError(400, "A distributed job needs at least one node")
    if per_node and device_type is None:
        raise DomainError(400, "Choose a device type for {count} devices", count=per_node)
    if job_type == "distributed" and not per_node:
        raise DomainError(400, "A distributed job needs devices on every node")
    privileged = _flag(body, "privileged")
    if privileged and not user.privilege_enabled:
        raise DomainError(
            403, "Privilege Job is off: turn it on in your settings before asking for root"
        )
    vc = body.get("vc") or None
    if vc is not None and not isinstance(vc, str):
        raise DomainError(400, "'{key}' must be text", key="vc")
    spec.update(
        job_type=job_type,
        device_type=device_type if per_node else None,
        nodes=nodes,
        devices_per_node=per_node,
        privileged=privileged,
        preemptible=_flag(body, "preemptible"),
        vc=vc,
    )
    return spec


def check_port(port: Any) -> int:
    """D6: a port of an environment the browser may open (40000–49999)."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int):
        raise DomainError(400, "A port is a whole number; got {value}", value=port)
    low, high = PORT_RANGE
    if not low <= port <= high:
        raise DomainError(400, "Port {port} is outside {low}-{high}", port=port, low=low, high=high)
    return port


def user_options(env: orm.DevEnv) -> dict[str, Any]:
    """What the spawners read from the workload (``user_options["devenv"]``)."""
    return {
        "devenv": {
            "id": env.id,
            "name": env.name,
            "code_dir": env.code_dir,
            "engine_source": env.engine_source,
            "engine": env.engine,
            "image": env.image,
            "engine_type": env.engine_type,
            "job_type": env.job_type,
            # D1: root inside the container (Kubernetes); on local it only marks the env
            "privileged": env.privileged,
        }
    }


def admission_body(env: orm.DevEnv) -> dict[str, Any]:
    return {
        "kind": "devenv",
        "name": env.name,
        "vc": env.vc,
        "device_type": env.device_type,
        "nodes": env.nodes,
        "devices_per_node": env.devices_per_node,
        "preemptible": env.preemptible,
        "user_options": user_options(env),
    }


def devenv_model(
    env: orm.DevEnv,
    workload: orm.Workload | None,
    t,
    vc: orm.Vc | None,
    now: float,
    hub_base_url: str = "/",
    ssh_host: str = "",
) -> dict[str, Any]:
    """The JSON of a dev environment (D2): its spec, and the state of its latest run."""
    run = workload_model(workload, t, vc, now) if workload is not None else None
    status = run["status"] if run else orm.CLOSED
    running = status == orm.RUNNING
    server = workload.server_name if workload is not None else ""
    # the default server ("", a hub-page spawn) has no name in its URL
    prefix = f"{hub_base_url.rstrip('/')}/user/{env.owner}/" + (f"{server}/" if server else "")
    ssh = None
    if running and env.ssh_port:
        ssh = {
            "host": ssh_host,
            "port": env.ssh_port,
            "user": env.owner,
            "password": env.ssh_password,
            "command": f"ssh -p {env.ssh_port} {env.owner}@{ssh_host}",
        }
    return {
        "id": env.id,
        "name": env.name,
        "owner": env.owner,
        "description": env.description,
        "code_dir": env.code_dir,
        "engine_source": env.engine_source,
        "engine": env.engine,
        "image": env.image,
        "engine_type": env.engine_type,
        "job_type": env.job_type,
        "vc": workload.vc if workload is not None else env.vc,
        "device_type": env.device_type,
        "nodes": env.nodes,
        "devices_per_node": env.devices_per_node,
        "total_devices": env.nodes * env.devices_per_node,
        "preemptible": env.preemptible,
        "privileged": env.privileged,
        "created": iso(env.created),
        "status": status,
        "status_text": t(STATUS_LABELS.get(status, status)),
        "paused": env.paused and status in orm.TERMINAL_STATUSES,
        "reason": run["reason"] if run else None,
        "queue": run["queue"] if run else None,
        "time_left": run["time_left"] if run else None,
        "workload_id": env.workload_id,
        "server_name": server,
        "lab_url": prefix + "lab" if running else None,
        "proxy_url": prefix + "proxy/" if running else None,
        "ssh": ssh,
        "stoppable": status in orm.LIVE_STATUSES and status != orm.STOPPING,
        "startable": status in orm.TERMINAL_STATUSES,
        # an unapproved run holds nothing: deleting the environment withdraws it
        "deletable": status in (*orm.TERMINAL_STATUSES, orm.UNAPPROVED),
        #: started from the hub's spawn page (its hub server), else None
        "hub_server": env.hub_server,
    }


def image_model(img: orm.SavedImage) -> dict[str, Any]:
    return {
        "id": img.id,
        "name": img.name,
        "version": img.version,
        "description": img.description,
        "owner": img.owner,
        "from_devenv": img.from_devenv,
        "image": img.image,
        "engine_type": img.engine_type,
        "runtime": img.runtime,
        "start_command": list(img.start_command or []),
        "packages": list(img.packages or []),
        "created": iso(img.created),
    }


# -- operations (thin glue to admission, the reconciler and the runtime) ---------------------
def find_devenv(session: Session, user: orm.User | None, devenv_id: int, admin: bool = False):
    env = session.get(orm.DevEnv, devenv_id)
    if env is None or not (admin or (user is not None and env.owner == user.name)):
        # another user's environment does not exist for you
        raise DomainError(404, "No such dev environment: {id}", id=devenv_id)
    return env


def current_run(session: Session, env: orm.DevEnv) -> orm.Workload | None:
    return session.get(orm.Workload, env.workload_id) if env.workload_id else None


def list_devenvs(session: Session, owner: str | None) -> list[orm.DevEnv]:
    query = select(orm.DevEnv).order_by(orm.DevEnv.id.desc())
    if owner is not None:
        query = query.where(orm.DevEnv.owner == owner)
    return list(session.scalars(query))


async def _submit(ytung, session: Session, env: orm.DevEnv, user: orm.User) -> None:
    body = admission_body(env)
    trusted = False
    if env.hub_server is not None:
        # an environment of a hub spawn runs in that hub server again (the service starts it)
        body.update(owner=env.owner, server_name=env.hub_server)
        trusted = True
    wid, effects = await ytung.admission.submit(body, user, trusted=trusted)
    env.workload_id, env.paused = wid, False
    env.ssh_port = env.ssh_password = None
    session.commit()
    await ytung.reconciler.apply(effects)


async def create(ytung, session: Session, user: orm.User, body: dict[str, Any]) -> orm.DevEnv:
    """D1: keep the spec and submit the first run; a refused run leaves nothing behind."""
    spec = parse_spec(
        body, user, ytung.data_dir, ytung.devenv_engines, lambda i: session.get(orm.SavedImage, i)
    )
    clash = session.scalar(
        select(orm.DevEnv).where(orm.DevEnv.owner == user.name, orm.DevEnv.name == spec["name"])
    )
    if clash is not None:
        raise DomainError(409, "You already have a dev environment named {name}", name=clash.name)
    storage.ensure_dir(storage.home_path(ytung.data_dir, user.name, spec["code_dir"]))
    env = orm.DevEnv(**{**spec, "vc": spec["vc"] or ""})
    session.add(env)
    session.commit()  # admission writes in its own session: SQLite has one writer
    try:
        await _submit(ytung, session, env, user)
    except BaseException:
        session.rollback()
        session.delete(session.get(orm.DevEnv, env.id))
        session.commit()
        raise
    workload = current_run(session, env)
    if workload is not None and not env.vc:
        env.vc = workload.vc
        session.commit()
    return env


async def start(ytung, session: Session, env: orm.DevEnv, user: orm.User) -> orm.DevEnv:
    """Start a stopped (or paused) environment again: a new run with the same spec."""
    run = current_run(session, env)
    if run is not None and run.status in orm.LIVE_STATUSES:
        raise DomainError(409, "{name} is already {state}", name=env.name, state=run.status)
    if env.privileged and not user.privilege_enabled:
        raise DomainError(
            403, "Privilege Job is off: turn it on in your settings before asking for root"
        )
    await _submit(ytung, session, env, user)
    return env


async def stop(ytung, session: Session, env: orm.DevEnv, pause: bool = False) -> orm.DevEnv:
    """D7: running → stopping → closed (the devices are freed as soon as the server is gone);
    the record and the files stay. ``pause`` is the same stop, remembered as a pause."""
    run = current_run(session, env)
    if run is None or run.status not in orm.LIVE_STATUSES:
        raise DomainError(409, "{name} is not running", name=env.name)
    env.paused = pause
    session.commit()
    await ytung.reconciler.stop_workload(run.id)
    session.expire_all()
    return env


async def remove(ytung, session: Session, env: orm.DevEnv) -> None:
    """D7 delete; an environment whose run still waits for approval withdraws the run first."""
    run = current_run(session, env)
    if run is not None and run.status == orm.UNAPPROVED:
        await ytung.reconciler.stop_workload(run.id)
        session.expire_all()
    delete(session, env)


def delete(session: Session, env: orm.DevEnv) -> None:
    """D7: remove a stopped environment's record; the files in its code dir stay."""
    run = current_run(session, env)
    if run is not None and run.status in orm.LIVE_STATUSES:
        raise DomainError(409, "Stop {name} before deleting it", name=env.name)
    session.delete(env)
    session.commit()


def _free_name(session: Session, owner: str, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``… when the owner already has an environment of it."""
    taken = set(session.scalars(select(orm.DevEnv.name).where(orm.DevEnv.owner == owner)))
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = name[: 128 - len(suffix)] + suffix
    return candidate


def adopt_hub_workload(
    session: Session, workload: orm.Workload | None, ytung, image: str = ""
) -> orm.DevEnv | None:
    """D2 for spawns from the hub's own page: the dev environment of a hub-origin ``devenv``
    workload, created on its first spawn (defaults: name = the server's name or ``default``,
    code dir ``/home/<user>``) and pointed at this run. Its engine is what the hub's spawner
    runs: ``image`` (the spawner's own, e.g. ``singleuser.image`` on Kubernetes) as a custom
    engine; without one (the local runtime) the first preset engine's name.

    The workload's ``user_options`` get the environment (as for any dev environment), so the
    spawner sets its variables and the environment's SSH server reports back (D5, D9).
    Devices and VC follow what the spawn form asked this time. None for other workloads."""
    if workload is None or workload.origin != "hub" or workload.kind != "devenv":
        return None
    env = session.scalar(
        select(orm.DevEnv).where(
            orm.DevEnv.owner == workload.owner, orm.DevEnv.hub_server == workload.server_name
        )
    )
    if env is None:
        engine = ytung.devenv_engines[0]
        if image and image != engine["image"]:
            engine = {"source": "custom", "name": image, "image": image, "engine_type": ""}
        env = orm.DevEnv(
            name=_free_name(session, workload.owner, workload.name or "default"),
            owner=workload.owner,
            description="",
            code_dir=storage.VIRTUAL_HOME.format(user=workload.owner),
            engine_source=engine.get("source", "preset"),
            engine=engine["name"],
            image=engine["image"],
            engine_type=engine.get("engine_type", ""),
            privileged=False,
            hub_server=workload.server_name,
        )
        session.add(env)
        storage.ensure_dir(storage.home_dir(ytung.data_dir, workload.owner))
    if env.workload_id != workload.id:
        env.ssh_port = env.ssh_password = None
    env.workload_id, env.paused = workload.id, False
    env.vc, env.device_type = workload.vc, workload.device_type
    env.nodes, env.devices_per_node = workload.nodes, workload.devices_per_node
    env.job_type = "distributed" if workload.nodes > 1 else "regular"
    env.preemptible = workload.preemptible
    session.flush()
    workload.user_options = {**(workload.user_options or {}), **user_options(env)}
    session.commit()
    return env


def report_ssh(session: Session, env: orm.DevEnv, body: dict[str, Any]) -> orm.DevEnv:
    """D5: the environment's SSH server says where it listens and its password."""
    wid, port, password = body.get("workload_id"), body.get("port"), body.get("password")
    if wid != env.workload_id:
        raise DomainError(409, "This is not the current run of {name}", name=env.name)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DomainError(400, "A port is a whole number; got {value}", value=port)
    if not isinstance(password, str) or not 16 <= len(password) <= 128:
        raise DomainError(400, "'{key}' must be text", key="password")
    env.ssh_port, env.ssh_password = port, password
    session.commit()
    return env


def new_password() -> str:
    return secrets.token_urlsafe(18)


async def local_freeze(home: Path) -> list[str]:
    """``pip freeze`` of a local environment: the interpreter every local server runs, with the
    owner's home (so packages installed with ``pip install --user`` inside it count)."""
    env = {**os.environ, "HOME": str(home), "PYTHONUSERBASE": str(home / ".local")}
    env.pop("PYTHONNOUSERSITE", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pip",
        "freeze",
        "--all",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise DomainError(500, "pip freeze failed: {error}", error=err.decode()[-500:])
    return [line for line in out.decode().splitlines() if line.strip()]


def local_start_command() -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]


async def save_image(
    ytung, session: Session, env: orm.DevEnv, body: dict[str, Any]
) -> orm.SavedImage:
    """D8: save a running environment as an engine (name, version, description) → I1."""
    name = _text(body, "name", 128)
    if not name or not NAME_RE.match(name):
        raise DomainError(
            400, "An image name is 1-128 letters, digits, '_', '-' or '.'; got {name}", name=name
        )
    version = _text(body, "version", 64) or "1"
    if not _VERSION.match(version):
        raise DomainError(
            400, "A version is 1-64 letters, digits, '_', '-' or '.'; got {value}", value=version
        )
    description = _text(body, "description", 1000)
    run = current_run(session, env)
    if run is None or run.status != orm.RUNNING:
        raise DomainError(409, "{name} is not running", name=env.name)
    clash = session.scalar(
        select(orm.SavedImage).where(
            orm.SavedImage.owner == env.owner,
            orm.SavedImage.name == name,
            orm.SavedImage.version == version,
        )
    )
    if clash is not None:
        raise DomainError(
            409, "You already have an image {name}:{version}", name=name, version=version
        )
    image = orm.SavedImage(
        name=name,
        version=version,
        description=description,
        owner=env.owner,
        from_devenv=env.name,
        engine_type=env.engine_type,
        runtime=ytung.runtime,
    )
    if ytung.runtime == "local":
        image.image = env.image
        image.start_command = local_start_command()
        image.packages = await local_freeze(storage.home_dir(ytung.data_dir, env.owner))
    else:
        # the runtime commits the container (Kubernetes: the pod's container → an image)
        saver = getattr(ytung.inventory, "save_image", None)
        if saver is None:
            raise DomainError(
                501,
                "Saving an image is not available on the {runtime} runtime",
                runtime=ytung.runtime,
            )
        result = await saver(
            owner=env.owner, server_name=run.server_name, name=name, version=version
        )
        image.image = result["image"]
        image.start_command = list(result.get("start_command") or [])
        image.packages = list(result.get("packages") or [])
    session.add(image)
    session.commit()
    return image


def delete_image(session: Session, image: orm.SavedImage) -> None:
    users = session.scalars(
        select(orm.DevEnv.name).where(
            orm.DevEnv.owner == image.owner,
            orm.DevEnv.engine_source == "saved",
            orm.DevEnv.engine == str(image.id),
        )
    ).all()
    if users:
        # a stopped environment started from it must still be able to start again
        raise DomainError(
            409, "Image {name} is used by {users}", name=image.name, users=", ".join(users)
        )
    session.delete(image)
    session.commit()
