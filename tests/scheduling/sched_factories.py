"""Small builders for scheduling tests: nodes, workloads, allocations, and applying a decision.

Imported by the ``test_sched_*`` modules next to it (the name is unique so that it cannot clash with
helpers of other test folders).
"""

from __future__ import annotations

from collections.abc import Iterable

from ytung_service.scheduling import (
    HUAWEI_NPU,
    NVIDIA_GPU,
    Allocation,
    ClusterState,
    Decision,
    Node,
    Workload,
)

GPU = NVIDIA_GPU
NPU = HUAWEI_NPU


def gpu_nodes(count: int, prefix: str = "g", devices: int = 8) -> list[Node]:
    return [Node(f"{prefix}{i}", GPU, tuple(range(devices))) for i in range(1, count + 1)]


def npu_nodes(count: int, prefix: str = "n", devices: int = 8) -> list[Node]:
    return [Node(f"{prefix}{i}", NPU, tuple(range(devices))) for i in range(1, count + 1)]


def job(
    id: str,
    per_node: int = 1,
    *,
    nodes: int = 1,
    device_type: str | None = GPU,
    vc: str = "vision",
    owner: str = "ada",
    priority: int = 0,
    preemptible: bool = False,
    submitted: float = 0.0,
) -> Workload:
    return Workload(
        id,
        owner=owner,
        vc=vc,
        device_type=device_type,
        nodes=nodes,
        devices_per_node=per_node,
        priority=priority,
        preemptible=preemptible,
        submit_time=submitted,
    )


def running(
    id: str,
    placement: dict[str, Iterable[int]],
    *,
    device_type: str | None = GPU,
    vc: str = "vision",
    owner: str = "ada",
    preemptible: bool = False,
    started: float = 0.0,
    stopping: bool = False,
) -> Allocation:
    return Allocation(
        id,
        owner=owner,
        vc=vc,
        device_type=device_type,
        placement={node: tuple(ids) for node, ids in placement.items()},
        preemptible=preemptible,
        start_time=started,
        stopping=stopping,
    )


def apply(state: ClusterState, decision: Decision, now: float) -> ClusterState:
    """The state after the service carried out *decision*: admitted workloads run, victims stop."""
    by_id = {w.id: w for w in state.queue}
    victims = {v for p in decision.preempted for v in p.victims}
    allocations = [
        Allocation(
            a.workload_id,
            a.owner,
            a.vc,
            a.device_type,
            a.placement,
            a.preemptible,
            a.start_time,
            stopping=a.stopping or a.workload_id in victims,
        )
        for a in state.allocations
    ]
    for admit in decision.admitted:
        w = by_id[admit.workload_id]
        allocations.append(
            Allocation(
                w.id, w.owner, w.vc, w.device_type, dict(admit.placement), w.preemptible, now
            )
        )
    admitted = {a.workload_id for a in decision.admitted}
    return ClusterState(
        state.nodes, state.vcs, allocations, [w for w in state.queue if w.id not in admitted]
    )


def without(state: ClusterState, *workload_ids: str) -> ClusterState:
    """The state after the workloads *workload_ids* stopped."""
    return ClusterState(
        state.nodes,
        state.vcs,
        [a for a in state.allocations if a.workload_id not in workload_ids],
        state.queue,
    )
