"""The device inventory of the kubernetes runtime, read from the cluster's Node objects.

- :func:`nodes_from_k8s` is pure: Node objects (dicts shaped like ``kubectl get nodes -o json`` items)
  in, scheduler :class:`~ytung_service.scheduling.Node` objects out.
- :class:`KubernetesInventory` lists the nodes with kubernetes_asyncio (imported only when used),
  and saves a running workload's container as an image (SPEC D8, :meth:`KubernetesInventory.save_image`
  through :func:`save_pod_image`: a Job running ``nerdctl commit`` + ``push`` on the pod's node).

How a Kubernetes node becomes an inventory node:

- **Devices** come from ``status.allocatable``: ``nvidia.com/gpu`` → ``nvidia_gpu_amd64``,
  ``huawei.com/Ascend910`` → ``huawei_npu_arm64``; ids are ``0..count-1``. Nodes with neither are
  CPU-only and not listed.
- **Architecture** comes from the ``kubernetes.io/arch`` label (or ``beta.kubernetes.io/arch``, or
  ``status.nodeInfo.architecture``). A device type names its architecture and images are chosen by it,
  so a node whose architecture contradicts its devices (an arm64 node with ``nvidia.com/gpu``) is
  skipped with a warning. Without any architecture the type's own is assumed.
- **Both GPUs and NPUs** on one node (unusual): the type matching the node's architecture wins; with no
  architecture known, GPUs win. The other devices are ignored with a warning (a node has one type).
- **Skipped**: ``spec.unschedulable`` nodes (cordoned), nodes without a ``Ready=True`` condition,
  NPU nodes with more than 8 NPUs.
- **Unhealthy devices**: the label or the annotation ``ytung.io/unhealthy-devices`` lists ids. Label
  values may not contain commas, so a label reads ``3_5`` or ``3.5``; an annotation may read ``3,5``.
  Ids that are not numbers or not on the node are ignored with a warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ytung_service.errors import DomainError
from ytung_service.scheduling import ARCH, DEVICE_TYPES, HUAWEI_NPU, MAX_PER_NODE, NVIDIA_GPU, Node

log = logging.getLogger(__name__)

RESOURCES: dict[str, str] = {"nvidia.com/gpu": NVIDIA_GPU, "huawei.com/Ascend910": HUAWEI_NPU}
"""Extended resource name → device type."""
UNHEALTHY_KEY = "ytung.io/unhealthy-devices"
ARCH_LABELS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)")
_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_SEPARATORS = re.compile(r"[\s,._]+")


def parse_count(quantity: Any) -> int | None:
    """A Kubernetes quantity (``"8"``, ``8``, ``"8000m"``, ``"1e1"``) as a whole count, else ``None``."""
    if isinstance(quantity, bool):
        return None
    if isinstance(quantity, int):
        return quantity
    match = _QUANTITY.fullmatch(str(quantity).strip())
    if not match or match.group(2) not in _SUFFIXES:
        return None
    try:
        value = Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None
    if value != value.to_integral_value():
        return None
    return int(value)


def _is_ready(status: Mapping[str, Any]) -> bool:
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return False


def _arch(metadata: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    labels = metadata.get("labels") or {}
    for key in ARCH_LABELS:
        if labels.get(key):
            return str(labels[key])
    return str((status.get("nodeInfo") or {}).get("architecture") or "")


def _unhealthy(name: str, metadata: Mapping[str, Any], count: int) -> frozenset[int]:
    values = [(metadata.get(where) or {}).get(UNHEALTHY_KEY) for where in ("labels", "annotations")]
    ids: set[int] = set()
    for value in values:
        for token in _SEPARATORS.split(str(value or "")):
            if not token:
                continue
            if token.isascii() and token.isdigit() and int(token) < count:
                ids.add(int(token))
            else:
                log.warning(
                    "Node %s: ignoring unhealthy device %r in %s", name, token, UNHEALTHY_KEY
                )
    return frozenset(ids)


def node_from_k8s(obj: Mapping[str, Any]) -> Node | None:
    """The inventory node for one Kubernetes Node object, or ``None`` when it is not usable."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = metadata.get("name")
    if not name:
        log.warning("Ignoring a Kubernetes node without a name")
        return None
    allocatable = status.get("allocatable") or {}
    counts: dict[str, int] = {}
    for resource, device_type in RESOURCES.items():
        if resource not in allocatable:
            continue
        count = parse_count(allocatable[resource])
        if count is None or count < 0:
            log.warning("Node %s: ignoring %s = %r", name, resource, allocatable[resource])
        elif count:
            counts[device_type] = counts.get(device_type, 0) + count
    if not counts:
        return None  # CPU only
    if spec.get("unschedulable"):
        log.info("Node %s is cordoned; not scheduling on it", name)
        return None
    if not _is_ready(status):
        log.info("Node %s is not Ready; not scheduling on it", name)
        return None
    arch = _arch(metadata, status)
    candidates = [t for t in DEVICE_TYPES if t in counts and (not arch or ARCH[t] == arch)]
    if not candidates:
        log.warning(
            "Node %s: architecture %s contradicts its devices (%s); skipped",
            name,
            arch,
            ", ".join(counts),
        )
        return None
    device_type = candidates[0]
    ignored = sorted(set(counts) - {device_type})
    if ignored:
        log.warning("Node %s has %s as well; using only %s", name, ", ".join(ignored), device_type)
    count = counts[device_type]
    if device_type == HUAWEI_NPU and count > MAX_PER_NODE:
        log.warning("Node %s reports %d NPUs, more than %d; skipped", name, count, MAX_PER_NODE)
        return None
    return Node(
        name,
        device_type,
        tuple(range(count)),
        arch=arch or ARCH[device_type],
        unhealthy=_unhealthy(name, metadata, count),
    )


def nodes_from_k8s(node_objects: list[Mapping[str, Any]]) -> list[Node]:
    """The schedulable nodes with devices among *node_objects*, sorted by name (rules: module doc)."""
    nodes = [node for obj in node_objects if (node := node_from_k8s(obj)) is not None]
    return sorted(nodes, key=lambda node: node.name)


async def default_core_api():
    """kubespawner's shared ``CoreV1Api`` (in-cluster config, else ``~/.kube/config``)."""
    from kubespawner.clients import load_config, shared_client

    load_config()
    return shared_client("CoreV1Api")


class KubernetesInventory:
    """The devices of the kubernetes runtime: every schedulable node's allocatable devices.

    *api_client_factory* returns (or awaits to) a ``kubernetes_asyncio.client.CoreV1Api``-like object:
    ``await core.list_node()`` gives a ``V1NodeList`` (or its dict), serialised with
    ``core.api_client.sanitize_for_serialization``. The default is kubespawner's shared client.
    """

    def __init__(self, api_client_factory: Callable[[], Any] | None = None):
        self.api_client_factory = api_client_factory or default_core_api

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    async def nodes(self) -> list[Node]:
        """The cluster's schedulable nodes with devices, sorted by name."""
        core = self.api_client_factory()
        if inspect.isawaitable(core):
            core = await core
        node_list = await core.list_node()
        if not isinstance(node_list, Mapping):
            node_list = core.api_client.sanitize_for_serialization(node_list)
        return nodes_from_k8s(node_list.get("items") or [])

    # -- D8: save a running environment as an image ----------------------------------------
    async def save_image(self, *, owner: str, server_name: str, name: str, version: str) -> dict:
        """Commit the running container of ``owner``'s server ``server_name`` and push it as
        ``<registry>/<owner>/<name>:<version>``; the answer is what the dev-env domain stores:
        ``{"image", "start_command", "packages"}``.

        Configured by the service's environment (the Helm chart sets it): ``YTUNG_IMAGE_REGISTRY``
        (e.g. ``registry.local:5000/ytung``), ``YTUNG_IMAGE_SAVE_TOOL`` (an image with ``nerdctl``),
        ``YTUNG_IMAGE_REGISTRY_SECRET``, ``YTUNG_IMAGE_REGISTRY_INSECURE`` (``1``),
        ``YTUNG_IMAGE_SAVE_TIMEOUT`` (seconds, default 1800), ``YTUNG_K8S_NAMESPACE``.
        Refused with a :class:`DomainError`: not configured (501), no running pod (409), the Job
        failed (502) or did not finish in time (504).
        """
        env = os.environ
        registry = env.get("YTUNG_IMAGE_REGISTRY", "").rstrip("/")
        tool = env.get("YTUNG_IMAGE_SAVE_TOOL", "")
        if not registry or not tool:
            raise DomainError(
                501,
                "Saving images is not configured: set YTUNG_IMAGE_REGISTRY and YTUNG_IMAGE_SAVE_TOOL",
            )
        core = self.api_client_factory()
        if inspect.isawaitable(core):
            core = await core
        from kubernetes_asyncio import client

        batch = client.BatchV1Api(core.api_client)
        namespace = env.get("YTUNG_K8S_NAMESPACE") or _own_namespace()
        pods = await core.list_namespaced_pod(
            namespace, label_selector="component=singleuser-server"
        )
        pods = core.api_client.sanitize_for_serialization(pods).get("items") or []
        pod = next(
            (
                p
                for p in pods
                if (p["metadata"].get("annotations") or {}).get("hub.jupyter.org/username") == owner
                and (p["metadata"].get("annotations") or {}).get("hub.jupyter.org/servername", "")
                == server_name
                and (p.get("status") or {}).get("phase") == "Running"
            ),
            None,
        )
        if pod is None:
            raise DomainError(409, "No running pod of {server}", server=server_name or owner)
        image_ref = f"{registry}/{image_path(owner, name)}:{version}"
        try:
            job = await save_pod_image(
                core,
                batch,
                namespace,
                pod["metadata"]["name"],
                image_ref,
                tool_image=tool,
                registry_secret=env.get("YTUNG_IMAGE_REGISTRY_SECRET", ""),
                insecure_registry=env.get("YTUNG_IMAGE_REGISTRY_INSECURE", "") in ("1", "true"),
                timeout=float(env.get("YTUNG_IMAGE_SAVE_TIMEOUT", "1800")),
            )
        except ValueError as e:  # a reference the registry would refuse, a pod not running
            raise DomainError(
                400, "Cannot save the image {image}: {reason}", image=image_ref, reason=str(e)
            ) from None
        status = job.get("status") or {}
        if status.get("failed"):
            raise DomainError(
                502,
                "Saving {image} failed: see Job {job}",
                image=image_ref,
                job=job["metadata"]["name"],
            )
        if not status.get("succeeded"):
            raise DomainError(
                504,
                "Saving {image} did not finish in time: see Job {job}",
                image=image_ref,
                job=job["metadata"]["name"],
            )
        container = pod["spec"]["containers"][0]
        command = [*(container.get("command") or []), *(container.get("args") or [])]
        return {"image": image_ref, "start_command": command, "packages": []}


def image_path(owner: str, name: str) -> str:
    """``<owner>/<name>`` as a registry repository path: lowercase ``[a-z0-9._-]``; a part
    with nothing left of it (a user name in Chinese) becomes ``u-<hash>`` so that it is never
    empty and two such users do not share a repository.

    >>> image_path("Mock@Name", "My Env")
    'mock-name/my-env'
    """
    parts = []
    for part in (owner, name):
        clean = re.sub(r"[^a-z0-9._-]+", "-", part.lower()).strip("._-")
        clean = re.sub(r"[._-]{2,}", "-", clean)[:60].strip("._-")
        if not clean:
            clean = "u-" + hashlib.sha256(part.encode()).hexdigest()[:10]
        parts.append(clean)
    return "/".join(parts)


def _own_namespace() -> str:
    """The namespace this process runs in (in-cluster), else ``default``."""
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


async def save_pod_image(
    core: Any,
    batch: Any,
    namespace: str,
    pod_name: str,
    image_ref: str,
    *,
    tool_image: str,
    registry_secret: str = "",
    insecure_registry: bool = False,
    wait: bool = True,
    timeout: float = 1800,
    poll_interval: float = 2.0,
) -> dict:
    """D8: commit the running main container of pod ``pod_name`` as ``image_ref`` and push it.

    Creates the Job of :func:`ytung_spawner.objects.make_image_save_job` on the pod's node
    (``core``/``batch``: kubernetes_asyncio ``CoreV1Api``/``BatchV1Api``). With ``wait``, polls
    the Job until it succeeded or failed or ``timeout`` passed, and returns it as a dict (see
    ``status.succeeded`` / ``status.failed``); without, returns the created Job at once.
    ``ValueError`` for an image reference without a tag or a pod that is not running.
    """
    from ytung_spawner import objects

    if not objects.valid_image_ref(image_ref):
        raise ValueError(f"not an image reference with a tag: {image_ref!r}")
    serialize = core.api_client.sanitize_for_serialization
    pod = serialize(await core.read_namespaced_pod(pod_name, namespace))
    container = objects.container_id(pod)
    node = (pod.get("spec") or {}).get("nodeName")
    if (pod.get("status") or {}).get("phase") != "Running" or not container or not node:
        raise ValueError(f"pod {pod_name} is not running; only a running one is saved")
    meta = pod.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    workload = {
        "id": labels.get(objects.LABEL_WORKLOAD, "0"),
        "kind": labels.get(objects.LABEL_KIND, "devenv"),
        "owner": annotations.get(objects.ANNOTATION_OWNER, labels.get(objects.LABEL_OWNER, "")),
        "vc": labels.get(objects.LABEL_VC, ""),
    }
    job = objects.make_image_save_job(
        name=f"ytung-save-{objects.label_value(pod_name)[:40]}-{uuid.uuid4().hex[:8]}",
        namespace=namespace,
        node=node,
        container_id=container,
        image_ref=image_ref,
        tool_image=tool_image,
        workload=workload,
        registry_secret=registry_secret or None,
        insecure_registry=insecure_registry,
    )
    await batch.create_namespaced_job(namespace, job)
    name = job["metadata"]["name"]
    if not wait:
        return job
    deadline = time.monotonic() + timeout
    while True:
        current = serialize(await batch.read_namespaced_job(name, namespace))
        status = current.get("status") or {}
        if status.get("succeeded") or status.get("failed") or time.monotonic() > deadline:
            return current
        await asyncio.sleep(poll_interval)
