"""The estimated start of queued workloads (X1): "no later than", from the time limits of what runs.

The only thing the platform knows about when devices free up is each running workload's end bound: its
``deadline`` (an admin's extension) or its start plus its VC's ``max_hours`` (:func:`~.quota.time_left`).
:func:`estimate_starts` replays the future under that bound. It releases the running allocations in the
order of their deadlines and, at each release time, runs the scheduler's own pass
(:func:`~.queue.schedule`: queue order, gangs, NPU rings, VC quotas, per-user caps, reservations,
preemption) over what is left. What a pass admits runs from then until its own time limit; preempted
workloads stop at once and queue again with their original place, as the service requeues them (V9) —
so do stopping allocations marked ``requeue``. A workload's estimate is the release time of the pass that admits it, so it is
never earlier than *now*; it holds as long as nothing is submitted ahead of it meanwhile.

The estimate is unknown (``start`` None) when a workload that would have to end first has no time limit
(an unlimited VC), when the request cannot fit even an empty cluster (:func:`~.queue.never_fits`), or when
the simulation budget (``Policy.estimate_passes`` passes and ``Policy.estimate_work`` queued workloads
decided, per device type) is spent first. Each device
type is simulated on its own (other types never block a workload, and are left out of its passes); with
more deadlines than passes left, one pass releases several of them at once — the estimate is then the
latest of those deadlines, still a "no later than".
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Collection
from dataclasses import replace
from math import ceil
from typing import NamedTuple

from .messages import Reason, reason
from .queue import ClusterState, Decision, Policy, Workload, never_fits, schedule
from .quota import Allocation, VirtualCluster


class Estimate(NamedTuple):
    """When a queued workload starts at the latest: *start* (seconds, the clock of ``now``) or None
    when unknown, and the *reason* (code ``estimate_*``) that says how it was found or why it is
    unknown."""

    start: float | None
    reason: Reason


def end_bound(allocation: Allocation, vc: VirtualCluster | None, now: float) -> float | None:
    """When *allocation* ends at the latest, None when it has no time limit.

    A stopping allocation ends now (it is on its way out); otherwise its deadline, or its start plus
    the VC's ``max_hours`` — the same bound as :func:`~.quota.time_left`."""
    if allocation.stopping:
        return now
    if allocation.deadline is not None:
        return allocation.deadline
    if vc is None or vc.max_hours is None:
        return None
    return allocation.start_time + vc.max_hours * 3600.0


def estimate_starts(
    state: ClusterState,
    now: float,
    policy: Policy | None = None,
    targets: Collection[str] | None = None,
    first: Decision | None = None,
) -> dict[str, Estimate]:
    """The :class:`Estimate` of each queued workload in *targets* (default: the whole queue).

    *first* is the decision of ``schedule(state, now, policy)`` when the caller already has it (the
    service's own pass): the simulation starts from it instead of running that pass again.
    """
    policy = policy or Policy()
    wanted = {w.id for w in state.queue} if targets is None else set(targets)
    vcs = {vc.name: vc for vc in state.vcs}
    result: dict[str, Estimate] = {}
    types: set[str] = set()
    # never_fits scans the nodes: once per shape, not per workload
    problems: dict[tuple[str, str | None, int, int, bool], bool] = {}
    for w in state.queue:
        if w.id not in wanted:
            continue
        shape = (w.vc, w.device_type, w.nodes, w.devices_per_node, w.preemptible)
        if shape not in problems:
            problems[shape] = never_fits(w, state.nodes, vcs.get(w.vc)) is not None
        if problems[shape]:
            result[w.id] = Estimate(None, reason("estimate_never_fits"))
        elif w.cpu_only:
            result[w.id] = Estimate(now, reason("estimate_now"))  # CPU-only never waits
        else:
            assert w.device_type
            types.add(w.device_type)
    for device_type in sorted(types):
        sub = _of_type(state, device_type)
        opening = None
        if first is not None:
            ids = {w.id for w in sub.queue} | {a.workload_id for a in sub.allocations}
            opening = Decision(
                admitted=[a for a in first.admitted if a.workload_id in ids],
                preempted=[p for p in first.preempted if p.for_workload in ids],
            )
        open_targets = {w.id for w in sub.queue if w.id in wanted and w.id not in result}
        result.update(_Simulation(sub, vcs, now, policy).run(open_targets, opening))
    return result


def fingerprint(state: ClusterState, now: float, policy: Policy) -> bytes:
    """What the estimates of *state* depend on: the state itself, and which queued workloads have
    waited long enough to reserve devices (the one way the passing of time changes a pass)."""
    waited = sorted(w.id for w in state.queue if now - w.submit_time >= policy.reserve_after)
    text = repr((state.nodes, state.vcs, state.allocations, state.queue, waited))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _of_type(state: ClusterState, device_type: str) -> ClusterState:
    """The part of *state* that decides about workloads of *device_type*."""
    return ClusterState(
        [node for node in state.nodes if node.device_type == device_type],
        state.vcs,
        [a for a in state.allocations if a.device_type == device_type],
        [w for w in state.queue if w.device_type == device_type and not w.cpu_only],
    )


class _Simulation:
    """Release allocations by deadline and run passes until the targets start (or cannot be told)."""

    def __init__(
        self, state: ClusterState, vcs: dict[str, VirtualCluster], now: float, policy: Policy
    ) -> None:
        self.state = state
        self.vcs = vcs
        self.now = now
        self.policy = policy
        self.allocations: dict[str, Allocation] = {a.workload_id: a for a in state.allocations}
        self.queue: list[Workload] = list(state.queue)
        # (end bound, entry, workload id): a heap; an entry counts only while it is live[workload id]
        # (a preempted workload is pushed again, and a requeued one may be admitted again)
        self.pending: list[tuple[float, int, str]] = []
        self.live: dict[str, int] = {}
        self.entries = 0
        self.unlimited: set[str] = set()
        for allocation in state.allocations:
            self._track(allocation, self.now)

    def _track(self, allocation: Allocation, t: float) -> None:
        wid = allocation.workload_id
        self.live.pop(wid, None)
        self.unlimited.discard(wid)
        end = end_bound(allocation, self.vcs.get(allocation.vc), t)
        if end is None:
            self.unlimited.add(wid)
        else:
            self.entries += 1
            self.live[wid] = self.entries
            heapq.heappush(self.pending, (end, self.entries, wid))

    def run(self, targets: set[str], opening: Decision | None) -> dict[str, Estimate]:
        result: dict[str, Estimate] = {}
        t, ended, passes, work = self.now, 0, 0, 0
        budget = max(1, self.policy.estimate_passes)
        while targets:
            if opening is not None and passes == 0:
                decision = opening
            else:
                state = ClusterState(
                    self.state.nodes, self.state.vcs, list(self.allocations.values()), self.queue
                )
                decision = schedule(state, t, self.policy)
                work += len(self.queue)
            passes += 1
            for admit in decision.admitted:
                if admit.workload_id in targets:
                    targets.discard(admit.workload_id)
                    if ended:
                        why = reason("estimate_time_limits", ended=ended)
                    else:
                        why = reason("estimate_now")
                    result[admit.workload_id] = Estimate(t, why)
            if not targets:
                break
            self._apply(decision, t)
            if not self.pending:
                code = "estimate_unlimited" if self.unlimited else "estimate_never_fits"
                result.update((wid, Estimate(None, reason(code))) for wid in targets)
                break
            left = min(budget - passes, (self.policy.estimate_work - work) // len(self.queue))
            if left < 1:
                result.update(
                    (wid, Estimate(None, reason("estimate_too_far", passes=passes)))
                    for wid in targets
                )
                break
            t, released = self._release(ceil(len(self.pending) / left), t)
            ended += released
        return result

    def _apply(self, decision: Decision, t: float) -> None:
        """Admitted workloads run from *t* until their time limit; preempted ones stop now (and
        queue again when they have stopped)."""
        by_id = {w.id: w for w in self.queue}
        for admit in decision.admitted:
            w = by_id[admit.workload_id]
            allocation = Allocation(
                w.id,
                w.owner,
                w.vc,
                w.device_type,
                dict(admit.placement),
                w.preemptible,
                t,
                priority=w.priority,
                queued_since=w.submit_time,
            )
            self.allocations[w.id] = allocation
            self._track(allocation, t)
        admitted = {a.workload_id for a in decision.admitted}
        if admitted:
            self.queue = [w for w in self.queue if w.id not in admitted]
        for preempt in decision.preempted:
            for victim in preempt.victims:
                allocation = self.allocations.get(victim)
                if allocation is not None and not allocation.stopping:
                    stopping = replace(allocation, stopping=True, requeue=True)
                    self.allocations[victim] = stopping
                    self._track(stopping, t)

    def _release(self, batch: int, t: float) -> tuple[float, int]:
        """End the *batch* earliest allocations (and any ending at the same time as the last of them),
        queueing again those that requeue; returns the new time and how many ended."""
        released = 0
        end = t
        while self.pending and (released < batch or self.pending[0][0] <= end):
            end_of, entry, wid = heapq.heappop(self.pending)
            if self.live.get(wid) != entry:
                continue  # replaced by a later entry (preempted, or admitted again)
            del self.live[wid]
            allocation = self.allocations.pop(wid)
            if allocation.stopping and allocation.requeue:
                self.queue.append(requeued(allocation))
            end = max(end, end_of)
            released += 1
        return end, released


def requeued(allocation: Allocation) -> Workload:
    """The request a preempted *allocation* queues as again: same shape, priority and place (V9)."""
    nodes = max(1, len(allocation.placement))
    return Workload(
        allocation.workload_id,
        allocation.owner,
        allocation.vc,
        allocation.device_type,
        nodes,
        allocation.count // nodes,
        allocation.priority,
        allocation.preemptible,
        allocation.start_time if allocation.queued_since is None else allocation.queued_since,
    )
