"""Quota bookkeeping: :class:`VirtualCluster`, :class:`Allocation` and the usage arithmetic over them.

Rules kept here (V1, V4, V9):

* a VC's **guaranteed** (non-preemptible) usage of a device type never exceeds its quota;
* preemptible workloads may run beyond the quota on idle devices; a VC whose *total* usage of a type
  exceeds its quota is a **borrower**, and its preemptible workloads may be stopped for VCs within quota;
* a user's total usage (preemptible or not) of a type in a VC never exceeds the VC's ``user_max``;
* ``max_hours`` bounds how long one workload runs (:func:`time_left`).

:class:`Usage` is the one place that sums allocations; the service and the tests use it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .devices import Node, capacity


@dataclass(frozen=True)
class VirtualCluster:
    """A VC: ``quota`` and ``user_max`` map device type → devices (a type missing from ``user_max`` is
    uncapped, one missing from ``quota`` has quota 0); ``max_hours`` None means no time limit."""

    name: str
    quota: Mapping[str, int] = field(default_factory=dict)
    user_max: Mapping[str, int] = field(default_factory=dict)
    max_hours: float | None = None

    def quota_of(self, device_type: str) -> int:
        return self.quota.get(device_type, 0)

    def cap_of(self, device_type: str) -> int | None:
        """The per-user cap for *device_type*, or None when uncapped."""
        return self.user_max.get(device_type)


@dataclass(frozen=True)
class Allocation:
    """Devices held by a running (or starting, or stopping) workload.

    ``placement`` maps node name → device ids (empty for CPU-only). ``start_time`` is when it was admitted
    (the scheduler preempts the most recently started first). ``stopping`` is set by the service once it
    has asked the workload to stop (after a :class:`~.queue.Preempt`, a user stop, a time limit): the
    devices are still held, but nobody needs to preempt it again. ``deadline`` overrides the VC's
    ``max_hours`` (an admin extension); None means "use the VC's limit".

    What it queues as again when it stops after a preemption (V9: with its original place) is only read
    by :func:`~.estimate.estimate_starts`: ``requeue`` (a stopping allocation the service will put back in
    the queue), ``priority`` and ``queued_since`` (its submit time in the queue's order; None: its start).
    """

    workload_id: str
    owner: str
    vc: str
    device_type: str | None
    placement: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    preemptible: bool = False
    start_time: float = 0.0
    stopping: bool = False
    deadline: float | None = None
    requeue: bool = False
    priority: int = 0
    queued_since: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "placement", {node: tuple(ids) for node, ids in self.placement.items()}
        )

    @property
    def count(self) -> int:
        """Devices held, over all nodes."""
        return sum(len(ids) for ids in self.placement.values())


@dataclass
class Usage:
    """Devices in use, summed from allocations.

    ``total[(vc, type)]`` counts every allocation, ``guaranteed[(vc, type)]`` only non-preemptible ones
    (what the quota bounds), ``user[(vc, owner, type)]`` every allocation of that user in that VC (what
    ``user_max`` bounds). CPU-only allocations count nowhere.
    """

    total: dict[tuple[str, str], int] = field(default_factory=dict)
    guaranteed: dict[tuple[str, str], int] = field(default_factory=dict)
    user: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, allocations: Iterable[Allocation]) -> Usage:
        usage = cls()
        for allocation in allocations:
            usage.add(allocation)
        return usage

    def add(self, allocation: Allocation, sign: int = 1) -> None:
        """Count *allocation* (``sign=-1`` takes it away again)."""
        count = allocation.count
        if not count or not allocation.device_type:
            return
        key = (allocation.vc, allocation.device_type)
        self.total[key] = self.total.get(key, 0) + sign * count
        if not allocation.preemptible:
            self.guaranteed[key] = self.guaranteed.get(key, 0) + sign * count
        user_key = (allocation.vc, allocation.owner, allocation.device_type)
        self.user[user_key] = self.user.get(user_key, 0) + sign * count

    def free_quota(self, vc: VirtualCluster, device_type: str) -> int:
        """Devices of *device_type* the VC may still hold without preemption (never below 0)."""
        return max(0, vc.quota_of(device_type) - self.guaranteed.get((vc.name, device_type), 0))

    def borrowed(self, vc: VirtualCluster, device_type: str) -> int:
        """Devices the VC holds beyond its quota (through preemptible workloads)."""
        return max(0, self.total.get((vc.name, device_type), 0) - vc.quota_of(device_type))

    def user_used(self, vc: str, owner: str, device_type: str) -> int:
        return self.user.get((vc, owner, device_type), 0)


def unassigned(nodes: Iterable[Node], vcs: Iterable[VirtualCluster]) -> dict[str, int]:
    """Devices per type that no VC quota covers yet (what the VC form shows as still assignable)."""
    left = capacity(nodes)
    for vc in vcs:
        for device_type, quota in vc.quota.items():
            left[device_type] = left.get(device_type, 0) - quota
    return left


def time_left(allocation: Allocation, vc: VirtualCluster | None, now: float) -> float | None:
    """Seconds the workload may still run (V4), 0 when over; None when unlimited ("--" in the UI)."""
    deadline = allocation.deadline
    if deadline is None and vc is not None and vc.max_hours is not None:
        deadline = allocation.start_time + vc.max_hours * 3600.0
    if deadline is None:
        return None
    return max(0.0, deadline - now)


def overdue(
    allocations: Iterable[Allocation], vcs: Mapping[str, VirtualCluster], now: float
) -> list[str]:
    """Ids of workloads past their time limit, which the service stops."""
    return [
        allocation.workload_id
        for allocation in allocations
        if not allocation.stopping and time_left(allocation, vcs.get(allocation.vc), now) == 0.0
    ]
