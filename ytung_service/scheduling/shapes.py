"""Legal request shapes (V7, V8, X2): what a workload may ask for, and which devices of a node make one.

* GPU: 0–8 per node, any ids (bin-packing happens in :mod:`.placement`).
* NPU: 0, 1, 2, 4 or 8 per node. 1, 2 and 4 lie inside one group (0–3 or 4–7), never across; 8 is a whole
  node; a distributed (multi-node) NPU workload uses 8 per node, so more than 8 NPUs is always 8 × N nodes.
* CPU-only: no device type (or 0 devices), any number of nodes; always admissible as far as devices go.

:func:`request_problem` checks a request on its own, :func:`cluster_problem` against the nodes the cluster
has, :func:`validate_request` raises :class:`InvalidRequest` for either. :func:`pick` chooses the device ids
of one node for a count, :func:`legal_devices` says whether a set of ids is a legal allocation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from .devices import (
    DEVICE_TYPES,
    HUAWEI_NPU,
    MAX_PER_NODE,
    NPU_RING_SIZE,
    NVIDIA_GPU,
    Node,
    ring_of,
)
from .messages import Reason, reason

MAX_NODES = 1024
"""Most nodes one request may name; anything above is refused as absurd before the cluster is consulted."""

ALLOWED_COUNTS: dict[str, tuple[int, ...]] = {
    NVIDIA_GPU: tuple(range(MAX_PER_NODE + 1)),
    HUAWEI_NPU: (0, 1, 2, 4, 8),
}
"""Devices per node a request may name, per device type."""

RING_PREFERENCE: dict[int, tuple[int, ...]] = {1: (1, 3, 2, 4), 2: (2, 4, 3), 4: (4,)}
"""For an NPU request of 1, 2 or 4: which ring fill (free devices in the ring) to use first.

Taking 1 from a ring with 1 or 3 free leaves 0 or 2 (still good for a 2); taking from a ring of 2 would
leave a lone device. A whole free ring is the last choice, so rings (and nodes) stay whole for 4s and 8s.
"""


class InvalidRequest(ValueError):
    """A request that can never be admitted; ``reason`` says why (``str()`` is the English text)."""

    def __init__(self, why: Reason) -> None:
        super().__init__(str(why))
        self.reason = why


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_cpu_only(device_type: str | None, devices_per_node: int) -> bool:
    """True when the request holds no accelerator (no type, or 0 devices per node)."""
    return not device_type or devices_per_node == 0


def request_problem(device_type: str | None, nodes: int, devices_per_node: int) -> Reason | None:
    """Why the request (*device_type*, *nodes* × *devices_per_node*) is illegal on any cluster, or None."""
    if not (_is_int(nodes) and _is_int(devices_per_node)):
        return reason("not_integer", nodes=nodes, count=devices_per_node)
    if not 1 <= nodes <= MAX_NODES:
        return reason("bad_nodes", nodes=nodes, max_nodes=MAX_NODES)
    if not device_type:
        if devices_per_node != 0:
            return reason("no_device_type", count=devices_per_node)
        return None
    if device_type not in DEVICE_TYPES:
        return reason(
            "unknown_device_type", device_type=device_type, allowed=", ".join(DEVICE_TYPES)
        )
    allowed = ALLOWED_COUNTS[device_type]
    if devices_per_node not in allowed:
        if device_type == NVIDIA_GPU:
            return reason("bad_gpu_count", count=devices_per_node)
        return reason(
            "bad_npu_count", count=devices_per_node, allowed=", ".join(str(c) for c in allowed)
        )
    if device_type == HUAWEI_NPU and nodes > 1 and devices_per_node not in (0, MAX_PER_NODE):
        return reason("npu_distributed_needs_8", count=devices_per_node, nodes=nodes)
    return None


def cluster_problem(
    device_type: str | None, nodes: int, devices_per_node: int, cluster: Iterable[Node]
) -> Reason | None:
    """Why a legal request can never fit on *cluster* (too many nodes, no node with that shape), or None.

    Counts the devices nodes *have*, healthy or not: a broken device may come back, so a request that
    needs it queues (with a reason) rather than being refused.
    """
    if is_cpu_only(device_type, devices_per_node):
        return None
    typed = [node for node in cluster if node.device_type == device_type]
    if not typed:
        return reason("no_nodes_of_type", device_type=device_type)
    if nodes > len(typed):
        return reason("too_many_nodes", nodes=nodes, device_type=device_type, available=len(typed))
    layouts = Counter(node.devices for node in typed)  # most nodes share one layout: pick once each
    capable = sum(
        count
        for devices, count in layouts.items()
        if pick(device_type, devices, devices_per_node) is not None
    )
    if capable < nodes:
        return reason(
            "no_node_can_hold",
            nodes=nodes,
            count=devices_per_node,
            device_type=device_type,
            capable=capable,
        )
    return None


def validate_request(
    device_type: str | None,
    nodes: int,
    devices_per_node: int,
    cluster: Iterable[Node] | None = None,
) -> None:
    """Raise :class:`InvalidRequest` when the request is illegal, or cannot fit *cluster* (if given)."""
    why = request_problem(device_type, nodes, devices_per_node)
    if why is None and cluster is not None:
        why = cluster_problem(device_type, nodes, devices_per_node, cluster)
    if why is not None:
        raise InvalidRequest(why)


def pick(device_type: str, free: Collection[int], count: int) -> tuple[int, ...] | None:
    """The ids to take from one node's *free* devices for *count* devices, or None when no legal set exists.

    GPU: the lowest *count* ids. NPU: 8 takes ids 0–7; 1, 2 and 4 come from one ring, chosen by
    :data:`RING_PREFERENCE` (ties go to ring 0), lowest ids first.
    """
    if count <= 0:
        return ()
    if device_type != HUAWEI_NPU:
        if len(free) < count:
            return None
        return tuple(sorted(free)[:count])
    if count == MAX_PER_NODE:
        whole = tuple(range(MAX_PER_NODE))
        return whole if all(d in free for d in whole) else None
    preference = RING_PREFERENCE.get(count)
    if preference is None or len(free) < count:
        return None
    rings: tuple[list[int], list[int]] = ([], [])
    for d in sorted(free):
        rings[ring_of(d)].append(d)
    for fill in preference:
        for ring in rings:
            if len(ring) == fill:
                return tuple(ring[:count])
    return None


def legal_devices(device_type: str, ids: Sequence[int]) -> bool:
    """True when *ids* (on one node) form a legal allocation for *device_type*."""
    count = len(ids)
    if count == 0 or count != len(set(ids)) or count > MAX_PER_NODE or min(ids) < 0:
        return False
    if device_type != HUAWEI_NPU:
        return True
    if count == MAX_PER_NODE:
        return sorted(ids) == list(range(MAX_PER_NODE))
    return (
        count in RING_PREFERENCE
        and max(ids) < 2 * NPU_RING_SIZE
        and len({ring_of(d) for d in ids}) == 1
    )


def legal_placement(
    device_type: str | None,
    nodes: int,
    devices_per_node: int,
    placement: Mapping[str, Sequence[int]],
) -> bool:
    """True when *placement* ({node: ids}) is exactly the request's gang in legal per-node shapes."""
    if is_cpu_only(device_type, devices_per_node):
        return not placement
    assert device_type is not None
    return len(placement) == nodes and all(
        len(ids) == devices_per_node and legal_devices(device_type, ids)
        for ids in placement.values()
    )
