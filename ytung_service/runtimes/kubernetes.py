"""The device inventory of the kubernetes runtime, read from the cluster's Node objects.

- :func:`nodes_from_k8s` is pure: Node objects (dicts shaped like ``kubectl get nodes -o json`` items)
  in, scheduler :class:`~ytung_service.scheduling.Node` objects out.
- :class:`KubernetesInventory` lists the nodes with kubernetes_asyncio (imported only when used).

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

import inspect
import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

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
