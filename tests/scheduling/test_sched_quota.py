"""Quota bookkeeping: usage sums, borrowing, unassigned devices, time limits (V1, V4, V9)."""

from __future__ import annotations

from sched_factories import GPU, NPU, gpu_nodes, job, npu_nodes, running

from ytung_service.scheduling import (
    Allocation,
    ClusterState,
    Usage,
    VirtualCluster,
    capacity,
    overdue,
    schedule,
    time_left,
    unassigned,
)


def test_usage_sums_per_vc_guaranteed_and_user() -> None:
    allocations = [
        running("a", {"g1": (0, 1)}, owner="ada"),
        running("b", {"g1": (2,), "g2": (0,)}, owner="ada", preemptible=True),
        running("c", {"n1": (0, 1, 2, 3)}, device_type=NPU, owner="bob", vc="nlp"),
        running("cpu", {}, device_type=None),
    ]
    usage = Usage.of(allocations)
    assert usage.total == {("vision", GPU): 4, ("nlp", NPU): 4}
    assert usage.guaranteed == {("vision", GPU): 2, ("nlp", NPU): 4}
    assert usage.user == {("vision", "ada", GPU): 4, ("nlp", "bob", NPU): 4}
    vision = VirtualCluster("vision", quota={GPU: 3})
    assert usage.free_quota(vision, GPU) == 1
    assert usage.borrowed(vision, GPU) == 1
    assert usage.user_used("vision", "ada", GPU) == 4
    usage.add(allocations[1], sign=-1)
    assert usage.total[("vision", GPU)] == 2 and usage.borrowed(vision, GPU) == 0


def test_unassigned_devices_for_the_vc_form() -> None:
    nodes = gpu_nodes(2) + npu_nodes(1, devices=4)
    assert capacity(nodes) == {GPU: 16, NPU: 4}
    vcs = [VirtualCluster("a", quota={GPU: 10}), VirtualCluster("b", quota={GPU: 2, NPU: 4})]
    assert unassigned(nodes, vcs) == {GPU: 4, NPU: 0}


def test_time_left_and_overdue() -> None:
    limited = VirtualCluster("vision", max_hours=2)
    unlimited = VirtualCluster("free")
    a = Allocation("a", "ada", "vision", GPU, {"g1": (0,)}, start_time=1000.0)
    assert time_left(a, limited, now=1000.0 + 3600) == 3600.0
    assert time_left(a, limited, now=1000.0 + 3 * 3600) == 0.0
    assert time_left(a, unlimited, now=10**9) is None  # shown as "--"
    extended = Allocation(
        "a", "ada", "vision", GPU, {"g1": (0,)}, start_time=1000.0, deadline=99999.0
    )
    assert time_left(extended, limited, now=9000.0) == 90999.0
    vcs = {"vision": limited}
    assert overdue([a, extended], vcs, now=1000.0 + 3 * 3600) == ["a"]


def test_allocations_on_unknown_nodes_are_counted_but_harmless() -> None:
    ghost = running("ghost", {"gone": (0, 1)}, preemptible=True)
    vcs = [VirtualCluster("vision", quota={GPU: 8}), VirtualCluster("nlp", quota={GPU: 8})]
    queue = [job("a", 8, vc="nlp"), job("b", 8, submitted=1)]
    decision = schedule(ClusterState(gpu_nodes(1), vcs, [ghost], queue), now=5)
    assert [a.workload_id for a in decision.admitted] == ["a"]
    assert [q.workload_id for q in decision.queued] == ["b"]
