"""Pure construction of a workload's Kubernetes objects (no I/O, no client objects).

Like kubespawner's own ``objects.py``: plain dicts in, plain dicts out, tested against literal
dicts (``tests/spawner/test_objects.py``). :class:`~ytung_spawner.kube.YtungKubeSpawner` gathers
its traits and the admitted workload, and calls these:

- :func:`make_workload_pod` — a pod made by KubeSpawner's ``make_pod`` (the operator's image,
  command, env, hub settings), turned into the pod of one rank of a workload:

  - devices: ``nvidia.com/gpu`` / ``huawei.com/Ascend910`` limits (the device plugin picks and
    exposes the devices, so the host ids of the placement go to an annotation and
    ``YTUNG_DEVICE_IDS``, never to ``CUDA_VISIBLE_DEVICES``, which inside the container counts
    from 0);
  - node pinning: a required node affinity on ``metadata.name`` (as DaemonSets pin pods) plus a
    ``kubernetes.io/arch`` node selector from the device type;
  - V6: requests = the floor, limits = the ceiling of the device type;
  - D1 privilege: ``securityContext`` privileged, ``runAsUser: 0`` — only when asked for;
  - storage: the data root's PVC, mounted so ``/home/<user>`` and the service's paths
    (``<data root>/home/<user>``, ``models``, the dataset version and ``jobs/<id>`` of a
    training run) are the same inside — nothing of other users (their homes, jobs, private
    datasets, uploads); a dataset registered from a server path is mounted read-only at its
    own path from the :class:`PathVolume` holding it, and a run whose dataset no volume holds
    is refused (:class:`UnmountablePath`);
  - labels ``ytung.io/workload-id``, ``ytung.io/kind``, ``ytung.io/owner``, ``ytung.io/vc``,
    ``ytung.io/rank`` (the reconciler and ``kubectl get pods -l`` find a workload's pods);
  - distributed workloads: ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``,
    ``YTUNG_NODE_RANK``/``YTUNG_NODE_COUNT`` (the job runner runs that node's ranks),
    ``YTUNG_RUN_ATTEMPT`` (the same in every pod of one start) and a stable hostname under the
    workload's headless service.

- :func:`make_worker_pods` — ranks 1…N-1 of a multi-node workload, one per extra node.
- :func:`make_headless_service` — the DNS name of every rank.
- :func:`make_image_save_job` — D8: a Job on the pod's node that commits the running container
  with ``nerdctl commit`` (containerd) and pushes it to the registry.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ytung_service.scheduling import ARCH, HUAWEI_NPU, NVIDIA_GPU

from .resources import Limits

#: device type → the extended resource its device plugin advertises
DEVICE_RESOURCES: dict[str, str] = {
    NVIDIA_GPU: "nvidia.com/gpu",
    HUAWEI_NPU: "huawei.com/Ascend910",
}
#: variables that select devices by *host* id in the local runtime; wrong inside a container
DEVICE_SELECTION_ENV = ("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES")

LABEL_WORKLOAD = "ytung.io/workload-id"
LABEL_KIND = "ytung.io/kind"
LABEL_OWNER = "ytung.io/owner"
LABEL_VC = "ytung.io/vc"
LABEL_RANK = "ytung.io/rank"
ANNOTATION_OWNER = "ytung.io/owner"
ANNOTATION_DEVICES = "ytung.io/device-ids"
ANNOTATION_PLACEMENT = "ytung.io/placement"

#: the pod's main container, as KubeSpawner names it
CONTAINER = "notebook"
#: kubespawner's reflector watches pods labelled ``component=singleuser-server``; workers are not
WORKER_COMPONENT = "ytung-worker"

_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(value: Any) -> str:
    """``value`` made a valid label value: ``[A-Za-z0-9._-]``, ≤ 63, alphanumeric at both ends."""
    text = _LABEL_BAD.sub("-", str(value))[:63]
    return text.strip("._-")


def workload_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    """The labels every object of ``workload`` carries (exact values are in annotations)."""
    return {
        LABEL_WORKLOAD: str(workload["id"]),
        LABEL_KIND: label_value(workload["kind"]),
        LABEL_OWNER: label_value(workload["owner"]),
        LABEL_VC: label_value(workload["vc"]),
    }


def device_resources(device_type: str | None, count: int) -> dict[str, str]:
    """The extended-resource limits of ``count`` devices of ``device_type`` (``{}`` for CPU)."""
    if not device_type or count <= 0:
        return {}
    return {DEVICE_RESOURCES[device_type]: str(count)}


def pin_to_node(node: str) -> dict[str, Any]:
    """A node affinity that allows exactly the node named ``node`` (not its hostname label)."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                ]
            }
        }
    }


@dataclass(frozen=True)
class DataVolume:
    """The data root on a shared volume (a PVC), and where the service sees it.

    ``root`` is the service's data directory (``YTUNG_DATA_DIR``); pods mount the same sub-paths
    at the same places, so a path the service writes (``<root>/datasets/3/1``) is valid inside.
    """

    claim_name: str
    root: str = "/srv/ytung"
    volume_name: str = "ytung-data"

    def mounts(
        self, user: str, *, job_id: int | None = None, data_paths: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """``/home/<user>`` (also at ``<root>/home/<user>``) read-write, ``models`` read-only,
        and only what this workload was given of the rest: ``jobs/<job_id>`` read-write (a
        training run's logs) and each of ``data_paths`` under ``<root>/datasets`` read-only
        (the dataset version it trains on). No other user's job directory, no private
        dataset, no upload in progress is visible inside.

        ``ValueError`` for a user name that is not one path component."""
        if not user or "/" in user or "\\" in user or "\x00" in user or user in (".", ".."):
            raise ValueError(f"not a user name that can be a directory: {user!r}")
        root = self.root.rstrip("/")
        table = [
            (f"home/{user}", f"/home/{user}", False),
            (f"home/{user}", f"{root}/home/{user}", False),
            ("models", f"{root}/models", True),
        ]
        for path in data_paths:
            sub = self.dataset_subpath(path)
            if sub is not None:
                table.append((sub, f"{root}/{sub}", True))
        if job_id is not None:
            table.append((f"jobs/{int(job_id)}", f"{root}/jobs/{int(job_id)}", False))
        return [
            {"name": self.volume_name, "mountPath": path, "subPath": sub, "readOnly": ro}
            for sub, path, ro in table
        ]

    def dataset_subpath(self, path: Any) -> str | None:
        """``datasets/<id>/<version>`` for a dataset version's directory under the data root
        (as the service stores it), ``None`` for anything else (a registered server path)."""
        if not isinstance(path, str) or "\x00" in path:
            return None
        root = posixpath.normpath(self.root)
        norm = posixpath.normpath(path)
        prefix = f"{root.rstrip('/')}/datasets/"
        if not norm.startswith(prefix):
            return None
        parts = norm[len(prefix) :].split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return None
        return f"datasets/{parts[0]}/{parts[1]}"

    def volume(self) -> dict[str, Any]:
        return {"name": self.volume_name, "persistentVolumeClaim": {"claimName": self.claim_name}}


class UnmountablePath(ValueError):
    """A training run's dataset directory that no volume of the pods holds."""

    def __init__(self, path: str):
        super().__init__(f"the dataset directory {path} is on no volume the pods can mount")
        self.path = path


@dataclass(frozen=True)
class PathVolume:
    """A server directory that datasets are registered from (``c.YtungService.
    dataset_path_roots``), as a volume of the pods: the dataset directory of a training run
    under ``root`` is mounted read-only at the same absolute path it has on the server.

    ``source`` is a Kubernetes volume source (``{"persistentVolumeClaim": {"claimName": …}}``,
    ``{"nfs": {…}}``…); empty: ``hostPath`` of ``root`` itself (the directory exists on every
    node, as an NFS mount of the hosts would).
    """

    root: str
    source: Mapping[str, Any] | None = None
    name: str = ""

    def volume_name(self) -> str:
        if self.name:
            return self.name
        slug = re.sub(r"[^a-z0-9]+", "-", self.root.lower()).strip("-")[:40].strip("-")
        digest = hashlib.sha256(self.root.encode()).hexdigest()[:8]
        return f"ytung-path-{slug}-{digest}" if slug else f"ytung-path-{digest}"

    def holds(self, path: str) -> str | None:
        """``path``'s place under ``root`` (``""`` for the root itself), or None."""
        root = posixpath.normpath(self.root)
        norm = posixpath.normpath(path)
        if norm == root:
            return ""
        prefix = root.rstrip("/") + "/"
        return norm[len(prefix) :] if norm.startswith(prefix) else None

    def volume(self) -> dict[str, Any]:
        source = dict(self.source or {}) or {
            "hostPath": {"path": posixpath.normpath(self.root), "type": "Directory"}
        }
        return {"name": self.volume_name(), **copy.deepcopy(source)}

    def mount(self, path: str) -> dict[str, Any]:
        sub = self.holds(path)
        mount = {"name": self.volume_name(), "mountPath": posixpath.normpath(path)}
        if sub:
            mount["subPath"] = sub
        return {**mount, "readOnly": True}


def path_volume_of(path: str, volumes: Sequence[PathVolume]) -> PathVolume | None:
    """The volume whose root holds ``path`` (the deepest root when several do)."""
    found = [v for v in volumes if v.holds(path) is not None]
    return max(found, key=lambda v: len(posixpath.normpath(v.root)), default=None)


@dataclass(frozen=True)
class Rendezvous:
    """Where the ranks of a distributed workload find each other (``torch.distributed`` env)."""

    service: str
    namespace: str
    port: int = 29500
    #: one token per start of the workload, the same in every pod of it (``YTUNG_RUN_ATTEMPT``):
    #: the job runner's status files of a start are its own, so a restarted or requeued run
    #: never reads what the pods of an earlier start left (``ytung_server_ext.jobrunner``)
    attempt: str = ""

    def hostname(self, rank: int) -> str:
        return f"{self.service}-{rank}"

    @property
    def master_addr(self) -> str:
        return f"{self.hostname(0)}.{self.service}.{self.namespace}.svc"


def workload_data(workload: Mapping[str, Any]) -> tuple[int | None, list[str]]:
    """``(job id, [dataset directories])`` of a training run (the service's
    ``user_options["job"]``: ``id``, ``data_path``); ``(None, [])`` for anything else."""
    job = (workload.get("user_options") or {}).get("job")
    if workload.get("kind") != "training" or not isinstance(job, Mapping):
        return None, []
    job_id = job.get("id")
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        return None, []
    data_path = job.get("data_path")
    return job_id, [data_path] if isinstance(data_path, str) and data_path else []


def service_name(workload: Mapping[str, Any]) -> str:
    """The headless service (and hostname prefix) of a distributed workload."""
    return f"ytung-{int(workload['id'])}"


def placement_nodes(workload: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    """``(node, device ids)`` in rank order (the placement's order; rank 0 is the first)."""
    return [(node, list(ids)) for node, ids in (workload.get("placement") or {}).items()]


def _set_env(env: list[dict[str, Any]], name: str, value: str) -> None:
    for entry in env:
        if entry.get("name") == name:
            entry.clear()
            entry.update({"name": name, "value": value})
            return
    env.append({"name": name, "value": value})


def _main_container(pod: dict[str, Any]) -> dict[str, Any]:
    for container in pod["spec"]["containers"]:
        if container.get("name") == CONTAINER:
            return container
    return pod["spec"]["containers"][0]


def make_workload_pod(
    base: Mapping[str, Any],
    workload: Mapping[str, Any],
    *,
    limits: Limits,
    rank: int = 0,
    data: DataVolume | None = None,
    privileged: bool = False,
    rendezvous: Rendezvous | None = None,
    path_volumes: Sequence[PathVolume] = (),
) -> dict[str, Any]:
    """The pod of rank ``rank`` of ``workload``, built on ``base`` (a pod dict; not modified).

    ``workload`` is the service's workload model (``id``, ``kind``, ``owner``, ``vc``,
    ``device_type``, ``devices_per_node``, ``placement`` …). A workload without a placement
    (CPU-only) is not pinned; it still gets the V6 limits, labels and storage.

    A training run's dataset directory is mounted read-only: a version on the data PVC, or a
    registered server path under one of ``path_volumes``; :class:`UnmountablePath` for one
    that is neither (the run could not read its data: it must not start).
    """
    pod = copy.deepcopy(dict(base))
    meta = pod.setdefault("metadata", {})
    spec = pod.setdefault("spec", {})
    container = _main_container(pod)
    nodes = placement_nodes(workload)
    node, device_ids = nodes[rank] if rank < len(nodes) else (None, [])
    device_type = workload.get("device_type") or None
    owner = str(workload["owner"])

    meta["labels"] = {
        **(meta.get("labels") or {}),
        **workload_labels(workload),
        LABEL_RANK: str(rank),
    }
    annotations = {**(meta.get("annotations") or {}), ANNOTATION_OWNER: owner}
    if nodes:
        annotations[ANNOTATION_PLACEMENT] = json.dumps(dict(nodes), sort_keys=True)
    if device_ids and device_type:
        annotations[ANNOTATION_DEVICES] = ",".join(str(i) for i in device_ids)
    meta["annotations"] = annotations

    # V6 floor and ceiling, then the devices (the plugin's count; requests default to limits)
    resources = container.setdefault("resources", {})
    requests = {**(resources.get("requests") or {})}
    requests.update(cpu=limits.cpu_guarantee, memory=limits.mem_guarantee)
    ceiling = {**(resources.get("limits") or {})}
    ceiling.update(cpu=limits.cpu_limit, memory=limits.mem_limit)
    ceiling.update(device_resources(device_type, len(device_ids)))
    resources["requests"], resources["limits"] = requests, ceiling

    if node:
        spec["affinity"] = {**(spec.get("affinity") or {}), **pin_to_node(node)}
    if device_type:
        spec["nodeSelector"] = {
            **(spec.get("nodeSelector") or {}),
            "kubernetes.io/arch": ARCH[device_type],
        }

    env = [e for e in container.get("env") or [] if e.get("name") not in DEVICE_SELECTION_ENV]
    if device_ids and device_type:
        _set_env(env, "YTUNG_DEVICE_IDS", ",".join(str(i) for i in device_ids))
    if node:
        _set_env(env, "YTUNG_NODE", node)
    if not device_type:
        _set_env(env, "CUDA_VISIBLE_DEVICES", "")  # CPU-only: no GPU even on a GPU node
    if rendezvous is not None:
        _set_env(env, "MASTER_ADDR", rendezvous.master_addr)
        _set_env(env, "MASTER_PORT", str(rendezvous.port))
        _set_env(env, "RANK", str(rank))
        _set_env(env, "WORLD_SIZE", str(max(len(nodes), 1)))
        # the job runner runs this node's ranks only (ytung_server_ext.jobrunner)
        _set_env(env, "YTUNG_NODE_RANK", str(rank))
        _set_env(env, "YTUNG_NODE_COUNT", str(max(len(nodes), 1)))
        if rendezvous.attempt:
            _set_env(env, "YTUNG_RUN_ATTEMPT", rendezvous.attempt)
        spec["hostname"] = rendezvous.hostname(rank)
        spec["subdomain"] = rendezvous.service

    if data is not None:
        _set_env(env, "YTUNG_DATA_DIR", data.root)
        _set_env(env, "HOME", f"/home/{owner}")
        spec["volumes"] = [
            *[v for v in spec.get("volumes") or [] if v.get("name") != data.volume_name],
            data.volume(),
        ]
        job_id, data_paths = workload_data(workload)
        registered = []
        for path in data_paths:
            if data.dataset_subpath(path) is not None:
                continue
            volume = path_volume_of(path, path_volumes)
            if volume is None or "\x00" in path:
                raise UnmountablePath(path)
            registered.append((volume, path))
        names = {data.volume_name} | {v.volume_name() for v, _ in registered}
        spec["volumes"] = [
            *[v for v in spec["volumes"] if v.get("name") not in names - {data.volume_name}],
            *[v.volume() for v in {v.volume_name(): v for v, _ in registered}.values()],
        ]
        container["volumeMounts"] = [
            *[m for m in container.get("volumeMounts") or [] if m.get("name") not in names],
            *data.mounts(owner, job_id=job_id, data_paths=data_paths),
            *[volume.mount(path) for volume, path in registered],
        ]
        container["workingDir"] = f"/home/{owner}"
    container["env"] = env

    if privileged:
        container["securityContext"] = {
            **(container.get("securityContext") or {}),
            "privileged": True,
            "allowPrivilegeEscalation": True,
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
        }
    return pod


def make_worker_pods(
    base: Mapping[str, Any],
    workload: Mapping[str, Any],
    *,
    limits: Limits,
    rendezvous: Rendezvous,
    command: Sequence[str],
    data: DataVolume | None = None,
    privileged: bool = False,
    path_volumes: Sequence[PathVolume] = (),
) -> list[dict[str, Any]]:
    """Ranks 1…N-1 of a multi-node workload: pods like the master's (``base`` is the pod
    KubeSpawner made for the master), each pinned to its node, running ``command``.

    Workers carry no hub token and are not single-user servers (``component`` label
    ``ytung-worker``), so the hub never mistakes one for the server.
    """
    workers = []
    for rank in range(1, len(placement_nodes(workload))):
        pod = make_workload_pod(
            base,
            workload,
            limits=limits,
            rank=rank,
            data=data,
            privileged=privileged,
            rendezvous=rendezvous,
            path_volumes=path_volumes,
        )
        meta = pod["metadata"]
        meta["name"] = f"{rendezvous.service}-worker-{rank}"
        meta["labels"]["component"] = WORKER_COMPONENT
        meta.pop("uid", None)
        meta.pop("resourceVersion", None)
        container = _main_container(pod)
        container["command"] = list(command)
        container.pop("args", None)
        container.pop("ports", None)
        container.pop("lifecycle", None)
        container["env"] = [
            e
            for e in container["env"]
            if not e["name"].startswith(("JUPYTERHUB_", "JPY_")) and e["name"] != "JUPYTER_IMAGE"
        ]
        pod["spec"]["restartPolicy"] = "Never"
        pod.pop("status", None)
        workers.append(pod)
    return workers


def make_headless_service(
    workload: Mapping[str, Any], rendezvous: Rendezvous, *, owner_references: list | None = None
) -> dict[str, Any]:
    """The headless service that gives every rank of ``workload`` a DNS name.

    ``publishNotReadyAddresses``: ranks must find the master before any of them is "ready".
    """
    meta: dict[str, Any] = {
        "name": rendezvous.service,
        "namespace": rendezvous.namespace,
        "labels": workload_labels(workload),
    }
    if owner_references:
        meta["ownerReferences"] = owner_references
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {LABEL_WORKLOAD: str(workload["id"])},
            "ports": [
                {
                    "name": "rendezvous",
                    "port": rendezvous.port,
                    "targetPort": rendezvous.port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def container_id(pod: Mapping[str, Any], container: str = CONTAINER) -> str | None:
    """The runtime's id of ``container`` in a pod dict (``containerd://abc`` → ``abc``)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container and status.get("containerID"):
            return str(status["containerID"]).split("://", 1)[-1]
    return None


_IMAGE_REF = re.compile(
    r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
)


def valid_image_ref(ref: str) -> bool:
    """``registry[:port]/path:tag`` with an explicit tag (a saved image always has a version)."""
    return bool(_IMAGE_REF.match(ref or "")) and len(ref) <= 255


def make_image_save_job(
    *,
    name: str,
    namespace: str,
    node: str,
    container_id: str,
    image_ref: str,
    tool_image: str,
    workload: Mapping[str, Any],
    registry_secret: str | None = None,
    containerd_socket: str = "/run/containerd/containerd.sock",
    insecure_registry: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """D8: a Job that saves a running container as ``image_ref`` and pushes it.

    It runs on ``node`` (where the container lives), talks to the node's containerd through its
    socket (``hostPath``) in the ``k8s.io`` namespace that the kubelet uses, and runs::

        nerdctl --namespace k8s.io commit <container id> <image ref>
        nerdctl --namespace k8s.io push <image ref>

    ``tool_image`` must contain ``nerdctl``. ``registry_secret`` is a
    ``kubernetes.io/dockerconfigjson`` Secret mounted as ``/root/.docker/config.json`` (nerdctl
    reads Docker's credentials). The Job is not retried (a half-pushed image is not pushed twice)
    and is deleted an hour after it ends.
    """
    flags = ["--namespace", "k8s.io"]
    push = ["nerdctl", *flags, "push"]
    if insecure_registry:
        push.append("--insecure-registry")
    script = " && ".join(
        [
            shlex.join(["nerdctl", *flags, "commit", container_id, image_ref]),
            shlex.join([*push, image_ref]),
        ]
    )
    mounts = [{"name": "containerd", "mountPath": "/run/containerd/containerd.sock"}]
    volumes: list[dict[str, Any]] = [
        {"name": "containerd", "hostPath": {"path": containerd_socket, "type": "Socket"}}
    ]
    if registry_secret:
        mounts.append({"name": "registry-auth", "mountPath": "/root/.docker", "readOnly": True})
        volumes.append(
            {
                "name": "registry-auth",
                "secret": {
                    "secretName": registry_secret,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
    labels = {**workload_labels(workload), "app.kubernetes.io/component": "image-save"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"ytung.io/image": image_ref, **(annotations or {})},
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "affinity": pin_to_node(node),
                    "containers": [
                        {
                            "name": "save",
                            "image": tool_image,
                            "command": ["sh", "-c", script],
                            "securityContext": {"privileged": True, "runAsUser": 0},
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
