"""One scheduling pass: order, quota, per-user cap, gangs, NPU shapes, reservations, preemption,
never-fits checks and the reasons, positions and counts a queued user sees."""

from __future__ import annotations

import random

import pytest
from sched_factories import GPU, NPU, apply, gpu_nodes, job, npu_nodes, running, without

from ytung_service.scheduling import (
    MESSAGES,
    Admit,
    ClusterState,
    Node,
    Policy,
    Queue,
    Reason,
    VirtualCluster,
    never_fits,
    preview,
    schedule,
)
from ytung_service.scheduling.messages import _

VISION = VirtualCluster("vision", quota={GPU: 8, NPU: 16}, user_max={})


def state(nodes, queue=(), allocations=(), vcs=(VISION,)) -> ClusterState:
    return ClusterState(list(nodes), list(vcs), list(allocations), list(queue))


def admitted(decision) -> dict[str, dict[str, tuple[int, ...]]]:
    return {a.workload_id: dict(a.placement) for a in decision.admitted}


def queued(decision) -> dict[str, Queue]:
    return {q.workload_id: q for q in decision.queued}


# -- basics ---------------------------------------------------------------------------------------
def test_cpu_only_is_admitted_without_devices() -> None:
    decision = schedule(state(gpu_nodes(1), [job("cpu", 0, device_type=None, nodes=3)]), now=0)
    assert decision.admitted == [Admit("cpu", {})]


def test_gpu_bin_packing_fills_the_busiest_node_first() -> None:
    busy = running("busy", {"g1": range(5)})
    decision = schedule(state(gpu_nodes(2), [job("a", 2)], [busy]), now=0)
    assert admitted(decision) == {"a": {"g1": (5, 6)}}


def test_unhealthy_devices_are_never_allocated() -> None:
    nodes = [Node("g1", GPU, tuple(range(8)), unhealthy=frozenset({0, 1}))]
    decision = schedule(state(nodes, [job("a", 2), job("b", 6, submitted=1)]), now=0)
    assert admitted(decision) == {"a": {"g1": (2, 3)}}
    assert queued(decision)["b"].reason.code == "no_fitting_node"


def test_same_input_same_decision_whatever_the_input_order() -> None:
    nodes = gpu_nodes(3) + npu_nodes(2)
    jobs = [job(f"j{i}", random.Random(i).choice([1, 2, 4, 8]), submitted=i) for i in range(12)]
    jobs += [job(f"n{i}", 4, device_type=NPU, submitted=i) for i in range(5)]
    first = schedule(state(nodes, jobs), now=50)
    shuffled = list(jobs)
    random.Random(7).shuffle(shuffled)
    assert schedule(state(reversed(nodes), shuffled), now=50) == first


# -- order ----------------------------------------------------------------------------------------
def test_order_non_preemptible_then_priority_then_submit_time_then_id() -> None:
    jobs = [
        job("preemptible-urgent", 8, preemptible=True, priority=9, submitted=0),
        job("late", 8, submitted=30),
        job("b-early", 8, submitted=10),
        job("a-early", 8, submitted=10),
        job("important", 8, priority=1, submitted=50),
    ]
    decision = schedule(state(gpu_nodes(1), jobs), now=60)
    assert list(admitted(decision)) == ["important"]
    assert [q.workload_id for q in decision.queued] == [
        "a-early",
        "b-early",
        "late",
        "preemptible-urgent",
    ]
    assert [(q.position, q.ahead) for q in decision.queued] == [(1, 0), (2, 1), (3, 2), (4, 3)]


def test_a_small_later_job_backfills_around_a_blocked_big_one() -> None:
    busy = running("busy", {"g1": range(4)})
    vc = VirtualCluster("vision", quota={GPU: 16})
    jobs = [job("big", 8), job("small", 2, submitted=5)]
    decision = schedule(state(gpu_nodes(1), jobs, [busy], [vc]), now=10)
    assert list(admitted(decision)) == ["small"]
    assert queued(decision)["big"].reason.code == "no_fitting_node"


# -- quota and per-user cap -----------------------------------------------------------------------
def test_vc_quota_bounds_guaranteed_usage() -> None:
    vc = VirtualCluster("vision", quota={GPU: 4})
    busy = running("busy", {"g1": range(2)})
    decision = schedule(
        state(gpu_nodes(1), [job("a", 4), job("b", 2, submitted=1)], [busy], [vc]), now=2
    )
    assert admitted(decision) == {"b": {"g1": (2, 3)}}
    reason = queued(decision)["a"].reason
    assert reason.code == "vc_quota"
    assert str(reason) == (
        "VC 'vision' has 2 of 4 nvidia_gpu_amd64 free, this workload needs 4; 0 workloads ahead"
    )


def test_preemptible_workloads_do_not_use_quota_but_idle_devices() -> None:
    vc = VirtualCluster("vision", quota={GPU: 2})
    jobs = [job("steady", 2), job("extra", 4, preemptible=True, submitted=1)]
    decision = schedule(state(gpu_nodes(1), jobs, vcs=[vc]), now=2)
    assert set(admitted(decision)) == {"steady", "extra"}


def test_per_user_cap_counts_all_of_the_users_devices() -> None:
    vc = VirtualCluster("vision", quota={GPU: 16}, user_max={GPU: 4})
    mine = running("mine", {"g1": range(3)}, owner="ada", preemptible=True)
    jobs = [job("ada-2", 2, owner="ada"), job("bob-4", 4, owner="bob", submitted=1)]
    decision = schedule(state(gpu_nodes(2), jobs, [mine], [vc]), now=5)
    assert list(admitted(decision)) == ["bob-4"]
    reason = queued(decision)["ada-2"].reason
    assert reason.code == "user_cap"
    assert str(reason) == (
        "User 'ada' uses 3 of the 4 nvidia_gpu_amd64 allowed per user in VC 'vision', "
        "this workload needs 2; 0 workloads ahead"
    )


def test_usage_admitted_in_a_pass_counts_for_later_workloads() -> None:
    vc = VirtualCluster("vision", quota={GPU: 4}, user_max={GPU: 3})
    jobs = [
        job("a", 2, submitted=0),
        job("b", 2, submitted=1),
        job("c", 2, owner="bob", submitted=2),
    ]
    decision = schedule(state(gpu_nodes(1), jobs, vcs=[vc]), now=3)
    assert list(admitted(decision)) == ["a", "c"]
    assert queued(decision)["b"].reason.code == "user_cap"


# -- gangs and NPU shapes -------------------------------------------------------------------------
def test_gang_is_admitted_on_all_nodes_or_none() -> None:
    busy = running("busy", {"g3": range(4)})
    vc = VirtualCluster("vision", quota={GPU: 32})
    decision = schedule(state(gpu_nodes(3), [job("gang", 8, nodes=3)], [busy], [vc]), now=0)
    assert decision.admitted == []
    assert str(queued(decision)["gang"].reason) == (
        "20 nvidia_gpu_amd64 are free, but only 2 of the 3 node(s) needed have 8 free; 0 workloads ahead"
    )
    decision = schedule(state(gpu_nodes(3), [job("gang", 8, nodes=2)], [busy], [vc]), now=0)
    assert admitted(decision) == {"gang": {"g1": tuple(range(8)), "g2": tuple(range(8))}}


def test_sixteen_npus_are_two_whole_nodes() -> None:
    decision = schedule(state(npu_nodes(2), [job("d", 8, nodes=2, device_type=NPU)]), now=0)
    assert admitted(decision) == {"d": {"n1": tuple(range(8)), "n2": tuple(range(8))}}


def test_npu_ring_fragmentation_is_explained() -> None:
    busy = [
        running("r0", {"n1": (0, 1)}, device_type=NPU),
        running("r1", {"n1": (6, 7)}, device_type=NPU),
    ]
    jobs = [job("four", 4, device_type=NPU), job("two", 2, device_type=NPU, submitted=1)]
    decision = schedule(state(npu_nodes(1), jobs, busy), now=2)
    assert admitted(decision) == {"two": {"n1": (2, 3)}}
    assert str(queued(decision)["four"].reason) == (
        "2 huawei_npu_arm64 are free, but no node has 4 of them inside one group (0-3 or 4-7); "
        "0 workloads ahead"
    )


def test_npu_one_two_four_eight_on_one_node() -> None:
    jobs = [
        job("one", 1, device_type=NPU, submitted=0),
        job("two", 2, device_type=NPU, submitted=1),
        job("four", 4, device_type=NPU, submitted=2),
        job("eight", 8, device_type=NPU, submitted=3),
    ]
    vc = VirtualCluster("vision", quota={NPU: 32})
    decision = schedule(state(npu_nodes(2), jobs, vcs=[vc]), now=5)
    placed = admitted(decision)
    assert placed["one"] == {"n1": (0,)}
    assert placed["two"] == {"n1": (4, 5)}
    assert placed["four"] == {"n2": (0, 1, 2, 3)}
    assert queued(decision)["eight"].reason.code == "no_fitting_node"


# -- reservations ---------------------------------------------------------------------------------
def _starving(now: float) -> ClusterState:
    busy = [running(f"s{i}", {"g1": (i,)}, owner="bob") for i in range(7)]
    busy.append(running("full", {"g2": range(8)}, owner="bob"))
    vc = VirtualCluster("vision", quota={GPU: 32})
    jobs = [job("big", 8, submitted=0), job("small", 1, submitted=500)]
    return state(gpu_nodes(2), jobs, busy, [vc])


def test_young_big_job_lets_small_ones_backfill() -> None:
    decision = schedule(_starving(now=100), now=100, policy=Policy(reserve_after=600))
    assert list(admitted(decision)) == ["small"]
    assert decision.reservations == []


def test_old_big_job_reserves_the_node_closest_to_fitting() -> None:
    decision = schedule(_starving(now=700), now=700, policy=Policy(reserve_after=600))
    assert decision.admitted == []
    assert [(r.workload_id, dict(r.placement)) for r in decision.reservations] == [
        ("big", {"g1": (7,)})
    ]
    reason = queued(decision)["small"].reason
    assert reason.code == "reserved"
    assert str(reason) == (
        "The devices that would fit are reserved for the older workload big, waiting since 11 min; "
        "1 workloads ahead"
    )


def test_reservation_prevents_starvation_over_many_passes() -> None:
    now = 700.0
    current = _starving(now)
    finishing = [f"s{i}" for i in range(7)]
    for step in range(40):
        # a small job arrives every pass; one running small job ends every few passes
        current = ClusterState(
            current.nodes,
            current.vcs,
            current.allocations,
            [*current.queue, job(f"new{step}", 1, owner="cy", submitted=now)],
        )
        decision = schedule(current, now)
        current = apply(current, decision, now)
        if "big" in admitted(decision):
            break
        if step % 3 == 0 and finishing:
            current = without(current, finishing.pop(0))
        now += 60
    else:
        pytest.fail("the big job starved")
    assert admitted(decision)["big"] == {"g1": tuple(range(8))}


def test_old_quota_blocked_job_holds_its_vc_quota() -> None:
    vc = VirtualCluster("vision", quota={GPU: 4})
    busy = running("busy", {"g1": range(2)})
    jobs = [job("big", 4, submitted=0), job("small", 1, submitted=10)]
    young = schedule(state(gpu_nodes(1), jobs, [busy], [vc]), now=100)
    assert list(admitted(young)) == ["small"]
    old = schedule(state(gpu_nodes(1), jobs, [busy], [vc]), now=1000)
    assert old.admitted == []
    assert queued(old)["small"].reason.code == "quota_held"
    assert "older workload big" in str(queued(old)["small"].reason)


# -- preemption -----------------------------------------------------------------------------------
OWNER = VirtualCluster("owner", quota={GPU: 8})
BORROWER = VirtualCluster("borrower", quota={GPU: 0})


def _borrowed_node(**kw) -> list:
    return [
        running("p-big", {"g1": range(4)}, vc="borrower", preemptible=True, started=10, **kw),
        running("p-old", {"g1": (4, 5)}, vc="borrower", preemptible=True, started=20, **kw),
        running("p-new", {"g1": (6, 7)}, vc="borrower", preemptible=True, started=30, **kw),
    ]


def test_preempt_the_fewest_borrowers() -> None:
    current = state(gpu_nodes(1), [job("mine", 4, vc="owner")], _borrowed_node(), [OWNER, BORROWER])
    decision = schedule(current, now=100)
    assert [(p.victims, p.for_workload) for p in decision.preempted] == [(("p-big",), "mine")]
    assert str(decision.preempted[0].reason) == (
        "Preempted: VC 'owner' needs its nvidia_gpu_amd64 back for workload mine"
    )
    assert queued(decision)["mine"].reason.code == "waiting_for_preemption"


def test_preempt_the_most_recently_started_when_counts_tie() -> None:
    current = state(gpu_nodes(1), [job("mine", 2, vc="owner")], _borrowed_node(), [OWNER, BORROWER])
    decision = schedule(current, now=100)
    assert [p.victims for p in decision.preempted] == [("p-new",)]


def test_preempted_workload_starts_once_the_victims_are_gone() -> None:
    current = state(gpu_nodes(1), [job("mine", 4, vc="owner")], _borrowed_node(), [OWNER, BORROWER])
    first = schedule(current, now=100)
    current = apply(current, first, now=100)  # p-big is now stopping
    second = schedule(current, now=110)
    assert second.preempted == [] and second.admitted == []
    assert str(queued(second)["mine"].reason) == (
        "Waiting for 1 preempted or stopping workload(s) to free their devices; 0 workloads ahead"
    )
    third = schedule(without(current, "p-big"), now=120)
    assert admitted(third) == {"mine": {"g1": (0, 1, 2, 3)}}


def test_waiting_workload_keeps_its_devices_from_later_ones() -> None:
    jobs = [
        job("mine", 4, vc="owner"),
        job("other", 2, vc="borrower", preemptible=True, submitted=5),
    ]
    stopping = _borrowed_node(stopping=True)
    decision = schedule(state(gpu_nodes(1), jobs, stopping, [OWNER, BORROWER]), now=100)
    assert decision.admitted == [] and decision.preempted == []


def test_no_preemption_of_borrowers_within_their_quota_or_of_the_own_vc() -> None:
    lender = VirtualCluster("borrower", quota={GPU: 8})
    current = state(gpu_nodes(1), [job("mine", 4, vc="owner")], _borrowed_node(), [OWNER, lender])
    assert schedule(current, now=100).preempted == []
    own = [
        running("own", {"g1": range(8)}, vc="owner", preemptible=True),
    ]
    current = state(gpu_nodes(1), [job("mine", 4, vc="owner")], own, [OWNER, BORROWER])
    decision = schedule(current, now=100)
    assert decision.preempted == []
    assert queued(decision)["mine"].reason.code == "no_fitting_node"


def test_preemptible_workloads_never_preempt() -> None:
    jobs = [job("mine", 4, vc="owner", preemptible=True)]
    decision = schedule(state(gpu_nodes(1), jobs, _borrowed_node(), [OWNER, BORROWER]), now=100)
    assert decision.preempted == []


def test_gang_preempts_on_every_node_it_needs() -> None:
    vcs = [VirtualCluster("owner", quota={NPU: 16}), VirtualCluster("borrower", quota={NPU: 4})]
    borrowers = [
        running(
            "b1", {"n1": range(4)}, device_type=NPU, vc="borrower", preemptible=True, started=1
        ),
        running(
            "b2", {"n2": range(4, 8)}, device_type=NPU, vc="borrower", preemptible=True, started=2
        ),
    ]
    jobs = [job("dist", 8, nodes=2, device_type=NPU, vc="owner")]
    decision = schedule(state(npu_nodes(2), jobs, borrowers, vcs), now=100)
    # borrower holds 8 with a quota of 4: only one of the two may be taken back
    assert decision.preempted == []
    vcs[1] = VirtualCluster("borrower", quota={NPU: 0})
    decision = schedule(state(npu_nodes(2), jobs, borrowers, vcs), now=100)
    assert sorted(v for p in decision.preempted for v in p.victims) == ["b1", "b2"]


# -- never fits -----------------------------------------------------------------------------------
CAPPED = VirtualCluster("vision", quota={GPU: 8, NPU: 8}, user_max={GPU: 4})


@pytest.mark.parametrize(
    ("workload", "code"),
    [
        (job("x", 1, vc="nope"), "unknown_vc"),
        (job("x", 3, device_type=NPU), "bad_npu_count"),
        (job("x", 9), "bad_gpu_count"),
        (job("x", -1), "bad_gpu_count"),
        (job("x", 1, nodes=0), "bad_nodes"),
        (job("x", 1, nodes=3), "too_many_nodes"),
        (job("x", 8, device_type=NPU), "no_node_can_hold"),  # the NPU node has only 4 devices
        (job("x", 2, device_type=NPU, nodes=2), "npu_distributed_needs_8"),
        (job("x", 8, nodes=2, owner="ada"), "exceeds_quota"),
        (job("x", 8), "exceeds_user_cap"),
        (job("x", 8, preemptible=True), "exceeds_user_cap"),
    ],
)
def test_never_fits(workload, code: str) -> None:
    nodes = [*gpu_nodes(2), Node("n-small", NPU, (0, 1, 2, 3))]
    why = never_fits(workload, nodes, CAPPED if workload.vc == "vision" else None)
    assert why is not None and why.code == code
    assert str(why)


def test_never_fits_accepts_what_can_wait() -> None:
    nodes = gpu_nodes(2)
    assert never_fits(job("x", 4), nodes, CAPPED) is None
    assert never_fits(job("x", 0, device_type=None, nodes=5), nodes, CAPPED) is None
    no_quota = VirtualCluster("vision", quota={})
    assert never_fits(job("x", 2), nodes, no_quota).code == "no_quota"
    assert (
        never_fits(job("x", 2, preemptible=True), nodes, no_quota) is None
    )  # borrows idle devices


def test_a_queued_workload_that_became_impossible_says_why() -> None:
    vc = VirtualCluster("vision", quota={GPU: 2})  # lowered after submission
    decision = schedule(state(gpu_nodes(1), [job("a", 4)], vcs=[vc]), now=0)
    assert queued(decision)["a"].reason.code == "exceeds_quota"


# -- reasons --------------------------------------------------------------------------------------
def test_positions_count_per_vc_and_device_type() -> None:
    vcs = [VirtualCluster("vision", quota={GPU: 1, NPU: 1}), VirtualCluster("nlp", quota={GPU: 1})]
    jobs = [
        job("v1", 1, submitted=0),
        job("v2", 1, submitted=1),
        job("v3", 1, submitted=2),
        job("n1", 1, vc="nlp", submitted=3),
        job("n2", 1, vc="nlp", submitted=4),
        job("p1", 1, device_type=NPU, submitted=5),
        job("p2", 1, device_type=NPU, submitted=6),
    ]
    decision = schedule(state(gpu_nodes(1) + npu_nodes(1), jobs, vcs=vcs), now=10)
    assert set(admitted(decision)) == {"v1", "n1", "p1"}
    got = {q.workload_id: (q.position, q.ahead) for q in decision.queued}
    assert got == {"v2": (1, 0), "v3": (2, 1), "n2": (1, 0), "p2": (1, 0)}
    assert str(queued(decision)["v3"].reason) == (
        "VC 'vision' has 0 of 1 nvidia_gpu_amd64 free, this workload needs 1; 1 workloads ahead"
    )


def test_every_message_formats_and_is_marked() -> None:
    for code, template in MESSAGES.items():
        assert _(template) is template
        fields = {
            name
            for _text, name, _spec, _conv in __import__("string").Formatter().parse(template)
            if name
        }
        assert str(Reason(code, template, {name: "x" for name in fields}))


def test_reason_to_dict() -> None:
    reason = Reason(
        "vc_quota",
        MESSAGES["vc_quota"],
        {"vc": "v", "free": 0, "quota": 8, "device_type": GPU, "needed": 1, "ahead": 2},
    )
    data = reason.to_dict()
    assert data["code"] == "vc_quota" and data["message"] == MESSAGES["vc_quota"]
    assert (
        data["text"]
        == "VC 'v' has 0 of 8 nvidia_gpu_amd64 free, this workload needs 1; 2 workloads ahead"
    )
    assert reason.with_params(ahead=0).params["ahead"] == 0


def test_preview_warns_that_a_workload_will_queue() -> None:
    current = state(gpu_nodes(1), allocations=[running("busy", {"g1": range(8)})])
    action = preview(current, job("new", 1), now=0)
    assert isinstance(action, Queue) and action.reason.code == "vc_quota"
    action = preview(state(gpu_nodes(1)), job("new", 1), now=0)
    assert isinstance(action, Admit)
