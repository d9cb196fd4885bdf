"""Where a workload's devices go: :class:`FreeIndex`, the free devices of one type, bucketed for best fit.

Nodes sit in buckets keyed by what they have free — the free count for GPUs, the free count of each ring
``(ring 0, ring 1)`` for NPUs — so a search visits at most a few dozen buckets instead of every node:

* GPU, k per node: the nodes with the fewest free devices that still hold k come first (bin-packing keeps
  whole nodes free for big jobs);
* NPU, 1/2/4: rings by :data:`~.shapes.RING_PREFERENCE`, then nodes with the fewest other free devices;
* NPU, 8: nodes with both rings whole.

A gang (n nodes × k) takes n distinct nodes from the same order, or nothing (X3). Within a bucket nodes
keep a stable order (by name at first), so a pass is deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from .devices import HUAWEI_NPU, MAX_PER_NODE, NPU_RING_SIZE, Node, ring_of
from .shapes import RING_PREFERENCE, pick

Key = int | tuple[int, int]
Placement = dict[str, tuple[int, ...]]


class FreeIndex:
    """Free, healthy, unreserved devices of one device type, per node, bucketed by free shape.

    ``free[node]`` is the set of free ids; :meth:`take` and :meth:`give` keep the buckets in step.
    ``version`` changes on every change (callers memoise searches against it).
    """

    def __init__(
        self, device_type: str, nodes: Iterable[Node], held: Mapping[str, Collection[int]]
    ) -> None:
        self.device_type = device_type
        self.npu = device_type == HUAWEI_NPU
        self.devices: dict[str, tuple[int, ...]] = {}
        self.free: dict[str, set[int]] = {}
        self.total_free = 0
        self.version = 0
        self._key: dict[str, Key] = {}
        self._buckets: dict[Key, dict[str, None]] = {}
        self._orders: dict[int, list[Key]] = {}
        self._largest = 0
        for node in sorted(nodes, key=lambda n: n.name):
            if node.device_type != device_type:
                continue
            held_ids = held.get(node.name, ())
            free = {d for d in node.healthy if d not in held_ids}
            self.devices[node.name] = node.devices
            self.free[node.name] = free
            self.total_free += len(free)
            self._largest = max(self._largest, len(node.devices))
            self._file(node.name)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _key_of(self, free: set[int]) -> Key:
        if not self.npu:
            return len(free)
        low = sum(1 for d in free if d < NPU_RING_SIZE)
        return (low, len(free) - low)

    def _file(self, node: str) -> None:
        key = self._key_of(self.free[node])
        self._key[node] = key
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = {}
        bucket[node] = None

    def _unfile(self, node: str) -> None:
        del self._buckets[self._key[node]][node]

    def take(self, node: str, ids: Iterable[int]) -> None:
        """Mark *ids* of *node* as no longer free (allocated or reserved); ids not free are ignored."""
        free = self.free[node]
        self._unfile(node)
        before = len(free)
        free.difference_update(ids)
        self.total_free -= before - len(free)
        self._file(node)
        self.version += 1

    def give(self, node: str, ids: Iterable[int]) -> None:
        """Mark *ids* of *node* as free again."""
        free = self.free[node]
        self._unfile(node)
        before = len(free)
        free.update(ids)
        self.total_free += len(free) - before
        self._file(node)
        self.version += 1

    # -- search ------------------------------------------------------------------------------------
    def _order(self, per_node: int) -> list[Key]:
        """Bucket keys that can hold *per_node*, best fit first."""
        order = self._orders.get(per_node)
        if order is not None:
            return order
        if not self.npu:
            order = list(range(per_node, max(self._largest, per_node) + 1))
        elif per_node == MAX_PER_NODE:
            order = [(NPU_RING_SIZE, NPU_RING_SIZE)]
        else:
            order = []
            for fill in RING_PREFERENCE.get(per_node, ()):
                for other in range(NPU_RING_SIZE + 1):
                    for key in ((fill, other), (other, fill)):
                        if key not in order:
                            order.append(key)
        self._orders[per_node] = order
        return order

    def find(self, nodes: int, per_node: int) -> Placement | None:
        """Best-fit placement of *nodes* × *per_node* on distinct nodes, or None (nothing is taken)."""
        chosen: Placement = {}
        buckets = self._buckets
        for key in self._order(per_node):
            bucket = buckets.get(key)
            if not bucket:
                continue
            for node in bucket:
                ids = pick(self.device_type, self.free[node], per_node)
                if ids is None:  # pragma: no cover - the bucket key guarantees a fit
                    continue
                chosen[node] = ids
                if len(chosen) == nodes:
                    return chosen
        return None

    def fitting(self, per_node: int, limit: int | None = None) -> list[str]:
        """Nodes that hold *per_node* right now, best fit first (at most *limit*)."""
        found: list[str] = []
        for key in self._order(per_node):
            for node in self._buckets.get(key, ()):
                found.append(node)
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def count_fitting(self, per_node: int) -> int:
        """How many nodes hold *per_node* right now."""
        return sum(len(self._buckets.get(key, ())) for key in self._order(per_node))

    def reservation(
        self, nodes: int, per_node: int, exclude: Collection[str] = ()
    ) -> Placement | None:
        """What to hold for a workload that does not fit: the *nodes* nodes closest to fitting.

        Closest means most free devices toward the shape: free count (GPU), free devices of the best ring
        (NPU 1/2/4) or of the node (NPU 8), among nodes that have the devices at all. Returns the ids to
        hold on each (all the node's free ids of the relevant ring/node, at most *per_node*), possibly
        empty for a node with none free yet; None when too few nodes could ever hold the shape.
        """
        ranked: list[tuple[int, str]] = []
        for node, devices in self.devices.items():
            if node in exclude or pick(self.device_type, devices, per_node) is None:
                continue
            free = self.free[node]
            if self.npu and per_node < MAX_PER_NODE:
                rings = [
                    [d for d in free if ring_of(d) == r]
                    for r in (0, 1)
                    if sum(1 for d in devices if ring_of(d) == r) >= per_node
                ]
                progress = max(len(ring) for ring in rings)
            else:
                progress = len(free)
            ranked.append((-progress, node))
        if len(ranked) < nodes:
            return None
        ranked.sort()
        held: Placement = {}
        for _progress, node in ranked[:nodes]:
            free = self.free[node]
            ids = pick(self.device_type, free, per_node)
            if ids is None:
                if self.npu and per_node < MAX_PER_NODE:
                    devices = self.devices[node]
                    rings = [
                        sorted(d for d in free if ring_of(d) == r)
                        for r in (0, 1)
                        if sum(1 for d in devices if ring_of(d) == r) >= per_node
                    ]
                    ids = tuple(max(rings, key=len))
                else:
                    ids = tuple(sorted(free))
            held[node] = ids
        return held
