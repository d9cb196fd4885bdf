"""The queue and one scheduling pass: :class:`Workload`, :class:`ClusterState`, :func:`schedule`.

A pass takes the whole state (nodes, VCs, allocations, queued workloads) and the time, and returns a
:class:`Decision`: workloads to admit with their placement, workloads to keep queued with a position and a
reason, preemptible workloads to stop. It reads no clock, does no I/O and keeps no state between passes:
the same input gives the same decision, so a restarted service simply runs the next pass.

Order: non-preemptible before preemptible, then higher priority, then earlier submit time, then id. In that
order each workload is checked against

1. never-fits problems (:func:`never_fits`; the API refuses those at submission, but a quota edit can
   make a queued one impossible — it stays queued with that reason);
2. the VC's per-user cap (all of the user's usage of the type in the VC);
3. the VC quota (non-preemptible only: guaranteed usage ≤ quota), and a quota *hold* of an older workload;
4. placement on free devices (:class:`~.placement.FreeIndex`), a gang all at once or not at all.

A non-preemptible workload within quota that does not fit may **preempt** (V9): preemptible workloads of
*other* VCs that borrow beyond their quota, the fewest per node, most recently started first. The victims are
only stopped by the service; their devices stay held until their allocations go away, so the workload is
admitted in a later pass. Meanwhile it keeps its claim: the devices it will use (free ones and those of
stopping workloads) are not given to anyone later in the order, and its devices count against its VC's quota
and its user's cap.

**Reservations** (anti-starvation): a workload that does not fit and has waited at least
``Policy.reserve_after`` seconds holds the nodes closest to fitting it (up to ``Policy.reservations_per_type``
workloads per device type and pass); later workloads backfill only elsewhere. One that is blocked by its VC's
quota for that long holds the VC's free quota of that type instead.

Every workload left queued gets a :class:`Queue` entry: its position in its VC's queue *for its device
type* (other types never block it), how many are ahead there, and a :class:`~.messages.Reason` naming the
blocking constraint. What the service does with a decision: record an :class:`~.quota.Allocation` per
:class:`Admit` and start the workload; for each :class:`Preempt`, stop the victims and mark their allocations
``stopping`` until they are gone, then requeue them with their original submit time; show the reasons.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import NamedTuple

from .devices import HUAWEI_NPU, MAX_PER_NODE, Node
from .messages import MESSAGES, Reason, reason
from .placement import FreeIndex, Placement
from .quota import Allocation, Usage, VirtualCluster
from .shapes import cluster_problem, is_cpu_only, pick, request_problem


@dataclass(frozen=True)
class Workload:
    """A request waiting for devices: *nodes* × *devices_per_node* of *device_type* in VC *vc*.

    ``device_type`` None/"" (or 0 devices) is CPU-only. Higher ``priority`` goes first; ``submit_time``
    is in the same clock as the ``now`` passed to :func:`schedule` (seconds).
    """

    id: str
    owner: str
    vc: str
    device_type: str | None = None
    nodes: int = 1
    devices_per_node: int = 0
    priority: int = 0
    preemptible: bool = False
    submit_time: float = 0.0

    @property
    def total(self) -> int:
        """Devices over all nodes."""
        return self.nodes * self.devices_per_node

    @property
    def cpu_only(self) -> bool:
        return is_cpu_only(self.device_type, self.devices_per_node)


def order_key(workload: Workload) -> tuple[bool, int, float, str]:
    """Sort key of the queue: non-preemptible first, then priority (high first), submit time, id."""
    return (workload.preemptible, -workload.priority, workload.submit_time, workload.id)


@dataclass(frozen=True)
class Policy:
    """Knobs of a pass. ``reserve_after``: seconds a workload waits before it reserves devices (or VC
    quota); ``reservations_per_type``: how many workloads per device type may hold devices at once;
    ``estimate_passes``: most passes per device type that :func:`~.estimate.estimate_starts` simulates,
    ``estimate_work``: most queued workloads those passes may decide in all (a pass over a long queue
    costs more, so a long queue gets fewer passes)."""

    reserve_after: float = 600.0
    reservations_per_type: int = 1
    estimate_passes: int = 16
    estimate_work: int = 8_000


@dataclass(frozen=True)
class ClusterState:
    """Everything a pass needs: the inventory, the VCs, what runs and what waits."""

    nodes: Sequence[Node]
    vcs: Sequence[VirtualCluster]
    allocations: Sequence[Allocation] = ()
    queue: Sequence[Workload] = ()


class Admit(NamedTuple):
    """Start *workload_id* on *placement* ({node: device ids}; empty for CPU-only)."""

    workload_id: str
    placement: Mapping[str, tuple[int, ...]]


class Queue(NamedTuple):
    """Keep *workload_id* queued: 1-based *position* in its VC's queue for its device type, *ahead* =
    workloads before it there, *reason* = the blocking constraint (its params include position/ahead)."""

    workload_id: str
    position: int
    ahead: int
    reason: Reason


class Preempt(NamedTuple):
    """Stop (and requeue) the preemptible *victims* so that *for_workload* can start; *reason* is what the
    victims' owners see."""

    victims: tuple[str, ...]
    for_workload: str
    reason: Reason


class Reservation(NamedTuple):
    """Devices held this pass for an old workload that does not fit yet (for display; not an action)."""

    workload_id: str
    placement: Mapping[str, tuple[int, ...]]


@dataclass
class Decision:
    """The outcome of one pass. ``queued`` is in queue order (so the service can list what is ahead)."""

    admitted: list[Admit] = field(default_factory=list)
    queued: list[Queue] = field(default_factory=list)
    preempted: list[Preempt] = field(default_factory=list)
    reservations: list[Reservation] = field(default_factory=list)

    @property
    def actions(self) -> list[Admit | Queue | Preempt]:
        """All actions: preemptions, then admissions, then the queue."""
        return [*self.preempted, *self.admitted, *self.queued]

    def action_for(self, workload_id: str) -> Admit | Queue | None:
        """The admission or queue entry of *workload_id* (None when it was not in the queue)."""
        for action in (*self.admitted, *self.queued):
            if action.workload_id == workload_id:
                return action
        return None


def _vc_problem(workload: Workload, vc: VirtualCluster) -> Reason | None:
    if workload.cpu_only:
        return None
    device_type = workload.device_type
    assert device_type
    needed = workload.total
    if not workload.preemptible:
        quota = vc.quota_of(device_type)
        if quota == 0:
            return reason("no_quota", vc=vc.name, device_type=device_type)
        if needed > quota:
            return reason(
                "exceeds_quota", needed=needed, device_type=device_type, vc=vc.name, quota=quota
            )
    cap = vc.cap_of(device_type)
    if cap is not None and needed > cap:
        return reason(
            "exceeds_user_cap", needed=needed, device_type=device_type, vc=vc.name, cap=cap
        )
    return None


def never_fits(
    workload: Workload, nodes: Iterable[Node], vc: VirtualCluster | None
) -> Reason | None:
    """Why *workload* can never be admitted — unknown VC, illegal shape, more nodes or a bigger shape
    than the cluster has, more than the VC quota (non-preemptible) or the per-user cap — or None.

    The API answers 400 with this reason instead of queueing. Preemptible workloads may exceed the quota
    (they borrow idle devices), never the per-user cap.
    """
    if vc is None:
        return reason("unknown_vc", vc=workload.vc)
    why = request_problem(workload.device_type, workload.nodes, workload.devices_per_node)
    if why is None:
        why = cluster_problem(
            workload.device_type, workload.nodes, workload.devices_per_node, nodes
        )
    if why is None:
        why = _vc_problem(workload, vc)
    return why


def schedule(state: ClusterState, now: float, policy: Policy = Policy()) -> Decision:
    """One deterministic scheduling pass over *state* at time *now* (seconds, same clock as submit times)."""
    return _Pass(state, now, policy).run()


def preview(
    state: ClusterState, workload: Workload, now: float, policy: Policy = Policy()
) -> Admit | Queue:
    """What a pass would do with *workload* if it were submitted now (the form's "this will queue")."""
    decision = schedule(replace(state, queue=[*state.queue, workload]), now, policy)
    action = decision.action_for(workload.id)
    assert action is not None
    return action


_UNKNOWN = object()


def _latest(allocation: Allocation) -> tuple[float, str]:
    """Sort key: most recently started first (preempting it loses the least work)."""
    return (-allocation.start_time, allocation.workload_id)


class _Pass:
    """The mutable bookkeeping of one :func:`schedule` call."""

    def __init__(self, state: ClusterState, now: float, policy: Policy) -> None:
        self.state = state
        self.now = now
        self.policy = policy
        self.vcs = {vc.name: vc for vc in state.vcs}
        usage = Usage.of(state.allocations)
        self.total = usage.total
        self.guaranteed = usage.guaranteed
        self.user = usage.user
        held: dict[str, set[int]] = {}
        for allocation in state.allocations:
            for node, ids in allocation.placement.items():
                held.setdefault(node, set()).update(ids)
        types = sorted({node.device_type for node in state.nodes})
        self.index = {t: FreeIndex(t, state.nodes, held) for t in types}
        # devices of stopping workloads, not yet promised to a waiting workload: type → node → id → holder
        self.soon: dict[str, dict[str, dict[int, str]]] = {t: {} for t in types}
        # running preemptible workloads, most recently started first: per node and per VC
        self.victims_on: dict[str, list[Allocation]] = {}
        self.victims_of: dict[str, dict[str, list[Allocation]]] = {t: {} for t in types}
        node_type = {node.name: node.device_type for node in state.nodes}
        for allocation in sorted(state.allocations, key=_latest):
            device_type = allocation.device_type
            if device_type not in self.soon or not (allocation.stopping or allocation.preemptible):
                continue
            nodes = [node for node in allocation.placement if node_type.get(node) == device_type]
            if allocation.stopping:
                for node in nodes:
                    pool = self.soon[device_type].setdefault(node, {})
                    for d in allocation.placement[node]:
                        pool[d] = allocation.workload_id
                continue
            self.victims_of[device_type].setdefault(allocation.vc, []).append(allocation)
            for node in nodes:
                self.victims_on.setdefault(node, []).append(allocation)
        self.victim_vcs = {t: set(by_vc) for t, by_vc in self.victims_of.items()}
        # VCs with preemptible workloads that hold more than their quota, per type
        self.borrowers: dict[str, set[str]] = {
            t: {name for name in self.victim_vcs[t] if self._borrowing(name, t, {})} for t in types
        }
        self.chosen_victims: set[str] = set()
        self.reserved_nodes: dict[str, set[str]] = {t: set() for t in types}
        self.reserved: dict[str, list[tuple[Workload, Placement]]] = {t: [] for t in types}
        self.quota_hold: dict[tuple[str, str], Workload] = {}
        self.no_fit: set[tuple[str, int, int]] = set()
        # shape → (borrowers, soon_epoch) when preemption last failed for it
        self.no_preempt: dict[tuple[str | None, str, int, int], tuple[frozenset[str], int]] = {}
        self.soon_epoch: dict[str, int] = {t: 0 for t in types}
        self.shape_problems: dict[tuple[str | None, int, int], Reason | None] = {}
        self.static: dict[tuple[str, str | None, int, int, bool], object] = {}
        self.reserve_after = policy.reserve_after
        self.reserved_memo: dict[tuple[str, int, int, int], Workload | None] = {}
        self.decision = Decision()
        self.positions: dict[tuple[str, str], int] = {}
        # indices in decision.queued of "no fit" entries, explained at the end against the final
        # free devices
        self.unresolved: list[int] = []
        self.requests = {w.id: w for w in state.queue}

    # -- the pass ----------------------------------------------------------------------------------
    def run(self) -> Decision:
        for workload in sorted(self.state.queue, key=order_key):
            self._consider(workload)
        self._finish()
        return self.decision

    def _consider(self, w: Workload) -> None:
        # hot path (runs for every queued workload): plain dict lookups, no helper calls
        vc = self.vcs.get(w.vc)
        if vc is None:
            self._queue(w, "unknown_vc", {"vc": w.vc})
            return
        device_type = w.device_type
        static_key = (w.vc, device_type, w.nodes, w.devices_per_node, w.preemptible)
        why = self.static.get(static_key, _UNKNOWN)
        if why is _UNKNOWN:
            why = self.static[static_key] = self._static_problem(w, vc)
        if why is not None:
            self._queue(w, why.code, dict(why.params))
            return
        if not device_type or not w.devices_per_node:
            self.decision.admitted.append(Admit(w.id, {}))
            return
        needed = w.nodes * w.devices_per_node
        cap = vc.user_max.get(device_type)
        if cap is not None:
            used = self.user.get((w.vc, w.owner, device_type), 0)
            if used + needed > cap:
                self._queue(
                    w,
                    "user_cap",
                    {
                        "owner": w.owner,
                        "used": used,
                        "cap": cap,
                        "device_type": device_type,
                        "vc": w.vc,
                        "needed": needed,
                    },
                )
                return
        if not w.preemptible:
            quota_key = (w.vc, device_type)
            quota = vc.quota.get(device_type, 0)
            free = quota - self.guaranteed.get(quota_key, 0)
            if needed > free:
                if (
                    quota_key not in self.quota_hold
                    and self.now - w.submit_time >= self.reserve_after
                ):
                    self.quota_hold[quota_key] = w
                self._queue(
                    w,
                    "vc_quota",
                    {
                        "vc": w.vc,
                        "free": max(0, free),
                        "quota": quota,
                        "device_type": device_type,
                        "needed": needed,
                    },
                )
                return
            holder = self.quota_hold.get(quota_key)
            if holder is not None:
                self._queue(
                    w,
                    "quota_held",
                    {
                        "vc": w.vc,
                        "device_type": device_type,
                        "holder": holder.id,
                        "waited_min": self._waited_min(holder),
                    },
                )
                return
        index = self.index.get(device_type)
        if index is None:  # pragma: no cover - cluster_problem refuses types without nodes
            self._wait(w, "no_nodes_of_type", device_type=device_type)
            return
        fit_key = (device_type, w.nodes, w.devices_per_node)
        placement = None if fit_key in self.no_fit else index.find(w.nodes, w.devices_per_node)
        if placement is not None:
            for node, ids in placement.items():
                index.take(node, ids)
            self._count(w, needed)
            self.decision.admitted.append(Admit(w.id, placement))
            return
        self.no_fit.add(fit_key)
        if not w.preemptible and self._preempt_for(w, vc):
            return
        if self._old(w) and len(self.reserved[device_type]) < self.policy.reservations_per_type:
            held = index.reservation(w.nodes, w.devices_per_node, self.reserved_nodes[device_type])
            if held is not None:
                for node, ids in held.items():
                    index.take(node, ids)
                self.reserved_nodes[device_type].update(held)
                self.reserved[device_type].append((w, held))
                self.decision.reservations.append(Reservation(w.id, held))
                self._count(w, needed)
                self._wait(w, "no_fit")
                return
        holder = self._reserved_by(w)
        if holder is not None:
            self._wait(w, "reserved", holder=holder.id, waited_min=self._waited_min(holder))
            return
        self._wait(w, "no_fit")

    # -- helpers -----------------------------------------------------------------------------------
    def _static_problem(self, w: Workload, vc: VirtualCluster) -> Reason | None:
        """:func:`never_fits` for *w*, with the cluster check memoised per shape."""
        shape = (w.device_type, w.nodes, w.devices_per_node)
        if shape in self.shape_problems:
            why = self.shape_problems[shape]
        else:
            why = request_problem(*shape)
            if why is None:
                why = cluster_problem(*shape, self.state.nodes)
            self.shape_problems[shape] = why
        return why or _vc_problem(w, vc)

    def _old(self, w: Workload) -> bool:
        return self.now - w.submit_time >= self.policy.reserve_after

    def _waited_min(self, w: Workload) -> int:
        return int(max(0.0, self.now - w.submit_time) // 60)

    def _count(self, w: Workload, needed: int) -> None:
        """Count *w*'s devices as in use by its VC and user (admitted, or promised)."""
        assert w.device_type
        quota_key = (w.vc, w.device_type)
        before = self.total.get(quota_key, 0)
        self.total[quota_key] = before + needed
        if w.vc in self.victim_vcs[w.device_type]:
            quota = self.vcs[w.vc].quota_of(w.device_type)
            if before <= quota < before + needed:
                self.borrowers[w.device_type].add(w.vc)  # its preemptible workloads may be taken
        if not w.preemptible:
            self.guaranteed[quota_key] = self.guaranteed.get(quota_key, 0) + needed
        user_key = (w.vc, w.owner, w.device_type)
        self.user[user_key] = self.user.get(user_key, 0) + needed

    def _wait(self, w: Workload, code: str, **params: object) -> None:
        self._queue(w, code, params)

    def _queue(self, w: Workload, code: str, params: dict[str, object]) -> None:
        """Queue *w* behind those already queued in its VC for its type (the pass goes in queue
        order, so positions are final at once); "no_fit" is resolved by :meth:`_finish`."""
        queue_key = (w.vc, w.device_type or "")
        position = self.positions.get(queue_key, 0) + 1
        self.positions[queue_key] = position
        params["position"] = position
        params["ahead"] = position - 1
        if code == "no_fit":
            self.unresolved.append(len(self.decision.queued))
            why = Reason(code, "", params)
        else:
            why = Reason(code, MESSAGES[code], params)
        self.decision.queued.append(Queue(w.id, position, position - 1, why))

    def _reserved_by(self, w: Workload) -> Workload | None:
        """The reservation holder without whose devices *w* does not fit, if any."""
        device_type = w.device_type
        assert device_type
        reservations = self.reserved[device_type]
        if not reservations:
            return None
        index = self.index[device_type]
        k = w.devices_per_node
        memo_key = (device_type, w.nodes, k, index.version)
        if memo_key in self.reserved_memo:
            return self.reserved_memo[memo_key]
        fitting = index.count_fitting(k) if w.nodes > 1 else 0
        found = None
        for holder, held in reservations:
            for node, ids in held.items():
                free = index.free[node]
                if (
                    ids
                    and pick(device_type, free, k) is None
                    and pick(device_type, free | set(ids), k)
                ):
                    fitting += 1
                    if fitting >= w.nodes:
                        found = holder
                        break
            if found is not None:
                break
        self.reserved_memo[memo_key] = found
        return found

    def _borrowing(self, vc_name: str, device_type: str, taken: Mapping[str, int]) -> bool:
        vc = self.vcs.get(vc_name)
        quota = vc.quota_of(device_type) if vc is not None else 0
        return self.total.get((vc_name, device_type), 0) - taken.get(vc_name, 0) > quota

    def _may_stop(
        self, victims: Sequence[Allocation], device_type: str, taken: dict[str, int]
    ) -> bool:
        """True when each of *victims* still borrows when its turn comes (updates *taken* if so)."""
        trial = dict(taken)
        for victim in victims:
            if not self._borrowing(victim.vc, device_type, trial):
                return False
            trial[victim.vc] = trial.get(victim.vc, 0) + victim.count
        taken.update(trial)
        return True

    def _preempt_for(self, w: Workload, vc: VirtualCluster) -> bool:
        """Try to make room for non-preemptible *w* by stopping borrowers of other VCs.

        On success *w* is queued as waiting, its devices are promised to it, and True is returned.
        """
        device_type = w.device_type
        assert device_type
        k, n = w.devices_per_node, w.nodes
        index = self.index[device_type]
        soon = self.soon[device_type]
        borrowers = self.borrowers[device_type]
        own_borrows = w.vc in borrowers
        borrowers = borrowers - {w.vc}
        # a failure earlier in the pass still holds unless new VCs started borrowing since (free
        # devices only shrink); with one node needed, only nodes of the new borrowers can help
        scan_vcs: set[str] = borrowers
        failed = self.no_preempt.get((w.vc, device_type, n, k)) or self.no_preempt.get(
            (None, device_type, n, k)
        )
        if failed is not None and failed[1] == self.soon_epoch[device_type]:
            new = borrowers - failed[0]
            if not new:
                return False
            if n == 1:
                scan_vcs = new
        if not borrowers and not any(soon.values()):
            self._no_preempt(w, own_borrows, borrowers)
            return False
        reserved = self.reserved_nodes[device_type]
        chosen: dict[str, tuple[Allocation, ...]] = {}
        if n > 1:
            for node in index.fitting(k):
                if node not in reserved:
                    chosen[node] = ()
                    if len(chosen) == n - 1:
                        break
        for node, pool in soon.items():
            if len(chosen) >= n:
                break
            if node in chosen or node in reserved or not pool:
                continue
            if pick(device_type, index.free[node] | pool.keys(), k) is not None:
                chosen[node] = ()
        taken: dict[str, int] = {}
        picked: set[str] = set()
        victim_nodes: list[str] = []
        if len(chosen) < n:
            of_vc = self.victims_of[device_type]
            latest_first = heapq.merge(*(of_vc[name] for name in sorted(scan_vcs)), key=_latest)
            seen: set[str] = set()
            for v in latest_first:
                if v.workload_id in self.chosen_victims:
                    continue
                for node in v.placement:
                    if node not in seen and node in self.victims_on:
                        seen.add(node)
                        victim_nodes.append(node)
        for max_cost in (1, MAX_PER_NODE * 4):
            if len(chosen) >= n:
                break
            for node in victim_nodes:
                if node in chosen or node in reserved:
                    continue
                candidates = [
                    v
                    for v in self.victims_on[node]
                    if v.workload_id not in self.chosen_victims
                    and v.workload_id not in picked
                    and v.vc in borrowers
                    and self._borrowing(v.vc, device_type, taken)
                ]
                if not candidates:
                    continue
                base = index.free[node] | soon.get(node, {}).keys()
                for v in self.victims_on[node]:
                    if v.workload_id in picked:
                        base |= set(v.placement.get(node, ()))
                if len(base) + sum(len(v.placement[node]) for v in candidates) < k:
                    continue
                victims = self._cheapest(node, base, candidates, k, device_type, max_cost, taken)
                if victims is None:
                    continue
                chosen[node] = victims
                picked.update(v.workload_id for v in victims)
                if len(chosen) >= n:
                    break
        if len(chosen) < n:
            self._no_preempt(w, own_borrows, borrowers)
            return False
        # apply: victims stop, their devices become "soon free"; w claims what it needs
        new_victims = [v for victims in chosen.values() for v in victims]
        for victim in new_victims:
            self.chosen_victims.add(victim.workload_id)
            key = (victim.vc, device_type)
            self.total[key] = self.total.get(key, 0) - victim.count
            if not self._borrowing(victim.vc, device_type, {}):
                self.borrowers[device_type].discard(victim.vc)
            for node, ids in victim.placement.items():
                pool = soon.setdefault(node, {})
                for d in ids:
                    pool[d] = victim.workload_id
        waits_on: set[str] = set()
        for node in chosen:
            pool = soon.get(node, {})
            free = index.free[node]
            ids = pick(device_type, free | pool.keys(), k)
            assert ids is not None
            index.take(node, [d for d in ids if d in free])
            for d in ids:
                holder = pool.pop(d, None)
                if holder is not None:
                    waits_on.add(holder)
        self._count(w, w.total)
        self.soon_epoch[device_type] += (
            1  # the victims' spare devices are "soon free" for everybody
        )
        if new_victims:
            self.decision.preempted.append(
                Preempt(
                    tuple(v.workload_id for v in new_victims),
                    w.id,
                    reason("preempted", vc=vc.name, device_type=device_type, for_workload=w.id),
                )
            )
        self._wait(w, "waiting_for_preemption", count=len(waits_on))
        return True

    def _no_preempt(self, w: Workload, own_borrows: bool, borrowers: set[str]) -> None:
        """Remember that preemption cannot help *w*'s shape with these *borrowers*: for every VC at
        once (key VC None) unless *w*'s own VC, a borrower, was left out."""
        assert w.device_type
        key = (w.vc if own_borrows else None, w.device_type, w.nodes, w.devices_per_node)
        self.no_preempt[key] = (frozenset(borrowers), self.soon_epoch[w.device_type])

    def _cheapest(
        self,
        node: str,
        base: set[int],
        candidates: list[Allocation],
        k: int,
        device_type: str,
        max_cost: int,
        taken: dict[str, int],
    ) -> tuple[Allocation, ...] | None:
        """The fewest *candidates* (most recently started first) whose devices on *node* complete *base*
        into a legal *k*, at most *max_cost* of them; *taken* is updated with their VCs' devices."""
        for size in range(1, min(len(candidates), max_cost) + 1):
            for combo in combinations(candidates, size):
                ids = set(base)
                for v in combo:
                    ids.update(v.placement[node])
                if pick(device_type, ids, k) is not None and self._may_stop(
                    combo, device_type, taken
                ):
                    return combo
        return None

    def _finish(self) -> None:
        """Explain the "no fit" entries with the free devices left after the pass."""
        no_fit: dict[tuple[str, int, int], tuple[str, dict[str, object]]] = {}
        queued = self.decision.queued
        for i in self.unresolved:
            entry = queued[i]
            w = self.requests[entry.workload_id]
            assert w.device_type
            key = (w.device_type, w.nodes, w.devices_per_node)
            resolved = no_fit.get(key)
            if resolved is None:
                index = self.index[w.device_type]
                ring = w.device_type == HUAWEI_NPU and w.devices_per_node < MAX_PER_NODE
                resolved = no_fit[key] = (
                    "no_fitting_npu_group" if ring else "no_fitting_node",
                    {
                        "free": index.total_free,
                        "device_type": w.device_type,
                        "per_node": w.devices_per_node,
                        "nodes": w.nodes,
                        "fitting": index.count_fitting(w.devices_per_node),
                    },
                )
            code, params = resolved
            params = {**params, "position": entry.position, "ahead": entry.ahead}
            queued[i] = entry._replace(reason=Reason(code, MESSAGES[code], params))
