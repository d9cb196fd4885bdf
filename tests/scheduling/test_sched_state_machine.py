"""Random lives of a small cluster (hypothesis state machine) against the scheduler's invariants.

Rules: submit, scheduling pass, stop (a preempted workload is requeued), device failure (its workload
fails) and repair, VC quota edit, and "restart" (rebuild everything from the stored allocation list). After every
step: usage equals the sum of live allocations, no VC over its quota (guaranteed usage), no user over
the cap, no device held twice, legal NPU shapes, only existing healthy devices; after every pass each
queued workload has a position, a count ahead and a readable reason, and the pass is deterministic.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sched_factories import GPU, NPU

from ytung_service.scheduling import (
    Allocation,
    ClusterState,
    Node,
    Policy,
    Usage,
    VirtualCluster,
    Workload,
    legal_placement,
    never_fits,
    schedule,
)

NODES = [
    Node("g1", GPU, tuple(range(8))),
    Node("g2", GPU, tuple(range(4))),
    Node("n1", NPU, tuple(range(8))),
    Node("n2", NPU, tuple(range(8))),
    Node("n3", NPU, tuple(range(6))),  # a simulated node: ring 0 whole, ring 1 only 4-5
]
VC_NAMES = ("vision", "nlp", "speech")
OWNERS = ("ada", "bob", "cy")
REQUESTS = st.tuples(
    st.sampled_from(VC_NAMES),
    st.sampled_from(OWNERS),
    st.sampled_from([GPU, GPU, NPU, NPU, None]),
    st.sampled_from([1, 1, 1, 2]),
    st.sampled_from([1, 1, 2, 2, 4, 8, 3, 0]),
    st.integers(0, 2),
    st.booleans(),
)
POLICY = Policy(reserve_after=300.0, reservations_per_type=1)


class SchedulerLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.unhealthy: dict[str, set[int]] = {node.name: set() for node in NODES}
        self.vcs = {
            "vision": VirtualCluster("vision", {GPU: 6, NPU: 8}, {GPU: 4}),
            "nlp": VirtualCluster("nlp", {GPU: 4, NPU: 8}, {}),
            "speech": VirtualCluster("speech", {GPU: 0, NPU: 2}, {NPU: 4}),  # mostly borrows
        }
        self.allocations: dict[str, Allocation] = {}
        self.requests: dict[str, Workload] = {}  # every workload ever submitted, by id
        self.queue: dict[str, Workload] = {}
        self.counter = 0

    # -- helpers -----------------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        return [
            Node(n.name, n.device_type, n.devices, unhealthy=frozenset(self.unhealthy[n.name]))
            for n in NODES
        ]

    def state(self) -> ClusterState:
        return ClusterState(
            self.nodes(),
            list(self.vcs.values()),
            list(self.allocations.values()),
            list(self.queue.values()),
        )

    def requeue(self, workload_id: str) -> None:
        self.allocations.pop(workload_id)
        self.queue[workload_id] = self.requests[workload_id]  # keeps its submit time

    # -- rules -------------------------------------------------------------------------------------
    @rule(requests=st.lists(REQUESTS, min_size=1, max_size=4))
    def submit(self, requests) -> None:
        for vc, owner, device_type, nodes, count, priority, preemptible in requests:
            if device_type is None:
                count = 0
            self.counter += 1
            workload = Workload(
                f"w{self.counter}",
                owner,
                vc,
                device_type,
                nodes,
                count,
                priority,
                preemptible,
                self.now,
            )
            why = never_fits(workload, self.nodes(), self.vcs[vc])
            if why is not None:  # the API answers 400
                assert str(why) and "{" not in str(why)
                event(f"refused: {why.code}")
                continue
            self.requests[workload.id] = workload
            self.queue[workload.id] = workload

    @rule(elapsed=st.floats(0, 400))
    def schedule_pass(self, elapsed: float) -> None:
        self.now += elapsed
        state = self.state()
        decision = schedule(state, self.now, POLICY)
        # deterministic, whatever the order of the inputs
        shuffled = ClusterState(
            list(reversed(state.nodes)),
            list(reversed(state.vcs)),
            list(reversed(state.allocations)),
            random.Random(self.counter).sample(list(state.queue), len(state.queue)),
        )
        assert schedule(shuffled, self.now, POLICY) == decision
        # every queued workload is admitted or queued with a position and a reason, exactly once
        seen = [a.workload_id for a in decision.admitted] + [q.workload_id for q in decision.queued]
        assert sorted(seen) == sorted(self.queue)
        positions: dict[tuple[str, str], int] = {}
        for q in decision.queued:
            key = (self.queue[q.workload_id].vc, self.queue[q.workload_id].device_type or "")
            positions[key] = positions.get(key, 0) + 1
            assert q.position == positions[key] and q.ahead == q.position - 1
            text = str(q.reason)
            assert text and "{" not in text and q.reason.code
            assert q.reason.params["ahead"] == q.ahead
            event(f"queued: {q.reason.code}")
        if decision.preempted:
            event("preempted")
        if decision.reservations:
            event("reserved")
        # admissions use free, healthy, existing devices in legal shapes
        held = {
            (node, d)
            for a in self.allocations.values()
            for node, ids in a.placement.items()
            for d in ids
        }
        for admit in decision.admitted:
            workload = self.queue.pop(admit.workload_id)
            assert legal_placement(
                workload.device_type, workload.nodes, workload.devices_per_node, admit.placement
            )
            for node, ids in admit.placement.items():
                for d in ids:
                    assert (node, d) not in held
                    held.add((node, d))
            self.allocations[workload.id] = Allocation(
                workload.id,
                workload.owner,
                workload.vc,
                workload.device_type,
                dict(admit.placement),
                workload.preemptible,
                self.now,
            )
        # victims are running preemptible borrowers of other VCs
        for preempt in decision.preempted:
            beneficiary = self.requests[preempt.for_workload]
            assert not beneficiary.preemptible
            for victim_id in preempt.victims:
                victim = self.allocations[victim_id]
                assert victim.preemptible and not victim.stopping and victim.vc != beneficiary.vc
                self.allocations[victim_id] = Allocation(
                    victim.workload_id,
                    victim.owner,
                    victim.vc,
                    victim.device_type,
                    victim.placement,
                    True,
                    victim.start_time,
                    stopping=True,
                )

    @precondition(lambda self: self.allocations)
    @rule(data=st.data())
    def stop(self, data) -> None:
        workload_id = data.draw(st.sampled_from(sorted(self.allocations)))
        if self.allocations[workload_id].stopping:
            self.requeue(workload_id)  # a preempted workload goes back to the queue
        else:
            del self.allocations[workload_id]

    @rule(node=st.sampled_from(NODES), data=st.data())
    def device_health(self, node: Node, data) -> None:
        if self.unhealthy[node.name] and data.draw(st.booleans()):
            self.unhealthy[node.name].clear()  # repaired
            return
        device = data.draw(st.sampled_from(node.devices))
        self.unhealthy[node.name].add(device)
        for allocation in list(self.allocations.values()):  # the workload on it fails
            if device in allocation.placement.get(node.name, ()):
                del self.allocations[allocation.workload_id]

    @rule(
        vc=st.sampled_from(VC_NAMES),
        device_type=st.sampled_from([GPU, NPU]),
        quota=st.integers(0, 24),
    )
    def edit_quota(self, vc: str, device_type: str, quota: int) -> None:
        # the service refuses a quota below what the VC holds without preemption (V1)
        guaranteed = Usage.of(self.allocations.values()).guaranteed.get((vc, device_type), 0)
        old = self.vcs[vc]
        self.vcs[vc] = VirtualCluster(
            vc, {**old.quota, device_type: max(quota, guaranteed)}, old.user_max, old.max_hours
        )

    @rule()
    def restart(self) -> None:
        # everything the scheduler knows is rebuilt from the stored rows
        self.allocations = {
            a.workload_id: Allocation(
                a.workload_id,
                a.owner,
                a.vc,
                a.device_type,
                {node: list(ids) for node, ids in a.placement.items()},
                a.preemptible,
                a.start_time,
                a.stopping,
            )
            for a in self.allocations.values()
        }

    # -- invariants --------------------------------------------------------------------------------
    @invariant()
    def usage_is_the_sum_of_allocations(self) -> None:
        usage = Usage.of(self.allocations.values())
        total: dict[tuple[str, str], int] = {}
        for a in self.allocations.values():
            if a.device_type and a.placement:
                key = (a.vc, a.device_type)
                total[key] = total.get(key, 0) + sum(len(ids) for ids in a.placement.values())
        assert {k: v for k, v in usage.total.items() if v} == total

    @invariant()
    def quotas_and_caps_hold(self) -> None:
        usage = Usage.of(self.allocations.values())
        for (vc, device_type), used in usage.guaranteed.items():
            assert used <= self.vcs[vc].quota_of(device_type), (vc, device_type)
        for (vc, _owner, device_type), used in usage.user.items():
            cap = self.vcs[vc].cap_of(device_type)
            assert cap is None or used <= cap

    @invariant()
    def devices_exist_are_healthy_and_held_once(self) -> None:
        by_name = {n.name: n for n in NODES}
        held: set[tuple[str, int]] = set()
        for a in self.allocations.values():
            for node, ids in a.placement.items():
                assert by_name[node].device_type == a.device_type
                for d in ids:
                    assert d in by_name[node].devices and d not in self.unhealthy[node]
                    assert (node, d) not in held
                    held.add((node, d))
            request = self.requests[a.workload_id]
            assert legal_placement(
                a.device_type, request.nodes, request.devices_per_node, a.placement
            )


SchedulerLife.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSchedulerLife = SchedulerLife.TestCase
