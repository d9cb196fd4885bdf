"""The estimated start of queued workloads (X1): "no later than", from the running workloads' time
limits, through the scheduler's own passes (gangs, NPU rings, quotas, caps)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_factories import GPU, NPU, gpu_nodes, job, npu_nodes, running

from ytung_service.scheduling import (
    MESSAGES,
    Allocation,
    ClusterState,
    Policy,
    VirtualCluster,
    end_bound,
    estimate,
    estimate_starts,
    fingerprint,
    never_fits,
    schedule,
)

HOUR = 3600.0
NOW = 10 * HOUR
LIMITED = VirtualCluster("vision", quota={GPU: 16, NPU: 16}, max_hours=1)
UNLIMITED = VirtualCluster("vision", quota={GPU: 16, NPU: 16})


def state(nodes, queue=(), allocations=(), vcs=(LIMITED,)) -> ClusterState:
    return ClusterState(list(nodes), list(vcs), list(allocations), list(queue))


def test_queued_behind_a_limited_workload_starts_at_its_deadline():
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 8, submitted=NOW)],
        allocations=[running("run", {"g1": range(8)}, started=NOW - 0.25 * HOUR)],
    )
    est = estimate_starts(s, NOW)["wait"]
    assert est.start == NOW + 0.75 * HOUR
    assert est.reason.code == "estimate_time_limits"
    assert est.reason.params == {"ended": 1}


def test_deadlines_are_released_in_order_until_it_fits():
    # three 2-GPU workloads end at +10, +20 and +30 min; 6 GPUs are needed
    allocations = [
        running(f"r{i}", {"g1": (2 * i, 2 * i + 1)}, started=NOW - HOUR + 600 * (i + 1))
        for i in range(3)
    ] + [running("r3", {"g1": (6, 7)}, started=NOW - 0.9 * HOUR)]
    s = state(gpu_nodes(1), queue=[job("wait", 6, submitted=NOW)], allocations=allocations)
    starts = sorted(end_bound(a, LIMITED, NOW) for a in allocations)
    est = estimate_starts(s, NOW)["wait"]
    assert est.start == starts[2]  # the third end frees the sixth GPU
    assert est.reason.params == {"ended": 3}


def test_an_admin_extension_counts_not_the_vc_limit():
    extended = replace(running("run", {"g1": range(8)}, started=NOW), deadline=NOW + 5 * HOUR)
    s = state(gpu_nodes(1), queue=[job("wait", 1)], allocations=[extended])
    assert estimate_starts(s, NOW)["wait"].start == NOW + 5 * HOUR


def test_an_unlimited_blocker_makes_it_unknown():
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 4)],
        allocations=[running("run", {"g1": range(8)}, started=NOW)],
        vcs=[UNLIMITED],
    )
    est = estimate_starts(s, NOW)["wait"]
    assert est.start is None
    assert est.reason.code == "estimate_unlimited"
    assert str(est.reason) == "unknown: a workload ahead has no time limit"


def test_an_unlimited_workload_elsewhere_does_not_matter():
    other = VirtualCluster("other", quota={GPU: 8})  # no time limit, but on another node
    s = state(
        gpu_nodes(2),
        queue=[job("wait", 8)],
        allocations=[
            running("run", {"g1": range(8)}, started=NOW),
            running("forever", {"g2": range(8)}, vc="other", owner="bob", started=0.0),
        ],
        vcs=[LIMITED, other],
    )
    assert estimate_starts(s, NOW)["wait"].start == NOW + HOUR


def test_workloads_ahead_run_their_own_time_limit_first():
    # "first" is ahead and takes the node when "run" ends; "second" starts when "first" ends
    s = state(
        gpu_nodes(1),
        queue=[job("first", 8, submitted=1.0), job("second", 8, submitted=2.0)],
        allocations=[running("run", {"g1": range(8)}, started=NOW)],
    )
    est = estimate_starts(s, NOW)
    assert est["first"].start == NOW + HOUR
    assert est["second"].start == NOW + 2 * HOUR
    assert est["second"].reason.params == {"ended": 2}


def test_gangs_wait_for_whole_nodes():
    # a 2×8 gang needs both nodes whole: the later of the two ends
    s = state(
        gpu_nodes(2),
        queue=[job("gang", 8, nodes=2)],
        allocations=[
            running("a", {"g1": (0,)}, started=NOW - 0.5 * HOUR),
            running("b", {"g2": (3,)}, started=NOW - 0.2 * HOUR),
        ],
    )
    assert estimate_starts(s, NOW)["gang"].start == NOW + 0.8 * HOUR


def test_npu_ring_shapes_count():
    # 4 NPUs must sit in one ring: ring 0 frees at +0.5 h, ring 1 only partly
    s = state(
        npu_nodes(1),
        queue=[job("ring", 4, device_type=NPU)],
        allocations=[
            running("low", {"n1": (0, 1)}, device_type=NPU, started=NOW - 0.5 * HOUR),
            running("high", {"n1": (4,)}, device_type=NPU, started=NOW - 0.9 * HOUR),
        ],
    )
    # "high" ends first (+0.1 h) and frees ring 1 whole
    assert estimate_starts(s, NOW)["ring"].start == NOW + 0.1 * HOUR


def test_the_vc_quota_counts():
    small = VirtualCluster("vision", quota={GPU: 4}, max_hours=2)
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 4)],
        allocations=[running("mine", {"g1": (0, 1, 2, 3)}, started=NOW)],  # quota used up
        vcs=[small],
    )
    est = estimate_starts(s, NOW)["wait"]
    assert schedule(s, NOW).queued[0].reason.code == "vc_quota"
    assert est.start == NOW + 2 * HOUR


def test_the_per_user_cap_counts():
    capped = VirtualCluster("vision", quota={GPU: 8}, user_max={GPU: 2}, max_hours=1)
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 2)],
        allocations=[running("mine", {"g1": (0, 1)}, started=NOW - 0.5 * HOUR)],
        vcs=[capped],
    )
    assert estimate_starts(s, NOW)["wait"].start == NOW + 0.5 * HOUR


def test_other_device_types_are_left_out():
    s = state(
        gpu_nodes(1) + npu_nodes(1),
        queue=[job("npu", 8, device_type=NPU)],
        allocations=[running("gpu", {"g1": range(8)}, started=NOW)],
        vcs=[UNLIMITED],
    )
    assert estimate_starts(s, NOW)["npu"].start == NOW  # the GPU node does not block it


def test_a_request_that_can_never_fit_is_unknown():
    shrunk = VirtualCluster("vision", quota={GPU: 2}, max_hours=1)
    s = state(gpu_nodes(1), queue=[job("big", 4)], vcs=[shrunk])
    est = estimate_starts(s, NOW)["big"]
    assert est.start is None and est.reason.code == "estimate_never_fits"


def test_stopping_workloads_free_their_devices_now():
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 8)],
        allocations=[running("going", {"g1": range(8)}, started=NOW, stopping=True)],
        vcs=[UNLIMITED],
    )
    est = estimate_starts(s, NOW)["wait"]
    assert est.start == NOW and est.reason.params == {"ended": 1}


def test_the_budget_caps_the_simulation():
    allocations = [
        running(f"r{i}", {f"g{i + 1}": range(8)}, started=NOW - HOUR + i) for i in range(6)
    ]
    queue = [job(f"q{i}", 8, nodes=6, submitted=float(i)) for i in range(3)]
    big = VirtualCluster("vision", quota={GPU: 48}, max_hours=1)
    s = state(gpu_nodes(6), queue=queue, allocations=allocations, vcs=[big])
    est = estimate_starts(s, NOW, Policy(estimate_passes=2))
    assert est["q0"].start is not None
    assert est["q1"].start is None and est["q1"].reason.code == "estimate_too_far"
    assert est["q1"].reason.params == {"passes": 2}
    # with enough passes each gang waits for the one ahead
    est = estimate_starts(s, NOW, Policy(estimate_passes=10))
    assert est["q1"].start == est["q0"].start + HOUR
    assert est["q2"].start == est["q1"].start + HOUR


def test_a_coarse_budget_rounds_up_not_down():
    # ten 1-GPU workloads end one minute apart; with 2 passes the ends are released in halves
    allocations = [
        running(f"r{i}", {"g1": (i,)}, started=NOW - HOUR + 60 * (i + 1)) for i in range(8)
    ]
    s = state(gpu_nodes(1), queue=[job("wait", 1)], allocations=allocations)
    exact = estimate_starts(s, NOW, Policy(estimate_passes=20))["wait"].start
    coarse = estimate_starts(s, NOW, Policy(estimate_passes=2))["wait"].start
    assert exact == NOW + 60
    assert coarse is not None and coarse >= exact


def test_the_first_decision_is_reused(monkeypatch):
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 8)],
        allocations=[running("run", {"g1": range(8)}, started=NOW)],
    )
    first = schedule(s, NOW)
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[1])  # the time of the pass
        return schedule(*args, **kwargs)

    monkeypatch.setattr(estimate, "schedule", counting)
    without = estimate_starts(s, NOW)
    assert calls == [NOW, NOW + HOUR]
    calls.clear()
    assert estimate_starts(s, NOW, first=first) == without
    assert calls == [NOW + HOUR]  # the pass at NOW is the one given


def _borrowed(vcs_quota_other: int = 0) -> list[VirtualCluster]:
    return [LIMITED, VirtualCluster("other", quota={GPU: vcs_quota_other}, max_hours=1)]


def test_a_preempted_workload_queues_again_with_its_place():
    """The service requeues a victim with its original submit time (V9): when devices free up it goes
    before a later workload, which waits for the next end instead."""
    mine = running("mine", {"g1": range(4)}, started=NOW - 0.5 * HOUR)  # ends at +0.5 h
    borrower = replace(
        running("borrower", {"g1": range(4, 8)}, vc="other", owner="bob", preemptible=True),
        start_time=NOW - 0.1 * HOUR,
        queued_since=1.0,
    )
    s = state(
        gpu_nodes(1),
        queue=[
            job("urgent", 4, priority=1, submitted=5.0),  # preempts the borrower now
            job("later", 4, vc="other", owner="bob", preemptible=True, submitted=10.0),
        ],
        allocations=[mine, borrower],
        vcs=_borrowed(),
    )
    assert schedule(s, NOW).preempted[0].victims == ("borrower",)
    est = estimate_starts(s, NOW)
    assert est["urgent"].start == NOW
    # at +0.5 h the requeued borrower (queued since 1.0) takes "mine"'s devices; "later" waits
    # for "urgent" to end
    assert est["later"].start == NOW + HOUR


def test_a_stopping_workload_that_requeues_goes_first_again():
    mine = running("mine", {"g1": range(4)}, started=NOW - 0.5 * HOUR)
    going = replace(
        running("going", {"g1": range(4, 8)}, vc="other", owner="bob", preemptible=True),
        start_time=NOW,
        stopping=True,
        requeue=True,
        queued_since=1.0,
    )
    later = job("later", 4, vc="other", owner="bob", preemptible=True, submitted=10.0)
    s = state(gpu_nodes(1), queue=[later], allocations=[mine, going], vcs=_borrowed())
    assert estimate_starts(s, NOW)["later"].start == NOW + 0.5 * HOUR
    # stopping for good (a user's stop, a time limit): its devices are the later one's now
    gone = replace(going, requeue=False)
    s = state(gpu_nodes(1), queue=[later], allocations=[mine, gone], vcs=_borrowed())
    assert estimate_starts(s, NOW)["later"].start == NOW


def test_targets_limit_the_answer():
    s = state(gpu_nodes(1), queue=[job("a", 1), job("b", 1)])
    assert set(estimate_starts(s, NOW, targets=["b"])) == {"b"}


def test_every_estimate_message_is_a_template():
    for code in (
        "estimate_now",
        "estimate_time_limits",
        "estimate_unlimited",
        "estimate_never_fits",
        "estimate_too_far",
    ):
        assert code in MESSAGES


# -- properties ------------------------------------------------------------------------------------

shapes = st.sampled_from([(1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (2, 4)])


@st.composite
def clusters(draw, limited: bool = True):
    node_count = draw(st.integers(1, 3))
    nodes = gpu_nodes(node_count)
    hours = draw(st.sampled_from([0.5, 1, 3]))
    vcs = [
        VirtualCluster(
            "vision",
            quota={GPU: draw(st.integers(1, 8 * node_count))},
            user_max={GPU: draw(st.integers(1, 16))} if draw(st.booleans()) else {},
            max_hours=hours if limited else None,
        ),
        VirtualCluster("other", quota={GPU: 8}, max_hours=hours if limited else 2),
    ]
    allocations: list[Allocation] = []
    for node in nodes:
        free = list(node.devices)
        while free and draw(st.booleans()):
            take = free[: draw(st.integers(1, len(free)))]
            free = free[len(take) :]
            allocations.append(
                running(
                    f"run{len(allocations)}",
                    {node.name: take},
                    vc=draw(st.sampled_from(["vision", "other"])),
                    owner=draw(st.sampled_from(["ada", "bob"])),
                    preemptible=draw(st.booleans()),
                    started=NOW - draw(st.floats(0, HOUR / 2)),
                )
            )
    queue = []
    for i in range(draw(st.integers(1, 5))):
        n, k = draw(shapes)
        queue.append(
            job(
                f"q{i}",
                k,
                nodes=n,
                vc=draw(st.sampled_from(["vision", "other"])),
                owner=draw(st.sampled_from(["ada", "bob"])),
                preemptible=draw(st.booleans()),
                submitted=NOW - draw(st.floats(0, HOUR)),
            )
        )
    return ClusterState(nodes, vcs, allocations, queue)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_estimates_are_never_before_now_and_known_when_everything_ends(s):
    """With every VC time-limited and budget enough, whatever fits the empty cluster gets an estimate,
    never earlier than now; the same state gives the same estimates."""
    policy = Policy(estimate_passes=len(s.allocations) + len(s.queue) + 2)
    est = estimate_starts(s, NOW, policy)
    assert est == estimate_starts(s, NOW, policy)
    vcs = {vc.name: vc for vc in s.vcs}
    for w in s.queue:
        e = est[w.id]
        if never_fits(w, s.nodes, vcs[w.vc]) is not None:
            assert e.start is None and e.reason.code == "estimate_never_fits"
            continue
        assert e.start is not None, e.reason
        assert e.start >= NOW
        ends = [end_bound(a, vcs[a.vc], NOW) for a in s.allocations]
        # it never waits longer than everything running plus everything queued (and every preempted
        # workload, queued again) running in turn
        assert e.start <= max(ends, default=NOW) + (len(s.queue) + len(s.allocations)) * 3 * HOUR


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_what_a_pass_admits_now_is_estimated_now(s):
    decision = schedule(s, NOW)
    est = estimate_starts(s, NOW)
    for admit in decision.admitted:
        assert est[admit.workload_id].start == NOW
    for queued in decision.queued:
        start = est[queued.workload_id].start
        assert start is None or start >= NOW


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(limited=False))
def test_without_time_limits_a_blocked_workload_is_unknown(s):
    """The VC "vision" has no time limit: with budget enough, an estimate is a time, or unknown because of
    that (or because the request never fits) — never cut off by the budget."""
    est = estimate_starts(s, NOW, Policy(estimate_passes=len(s.allocations) + len(s.queue) + 2))
    unlimited = any(a.vc == "vision" for a in s.allocations) or any(
        w.vc == "vision" for w in s.queue
    )
    for w in s.queue:
        e = est[w.id]
        if e.start is None:
            assert e.reason.code in ("estimate_unlimited", "estimate_never_fits")
            assert e.reason.code == "estimate_never_fits" or unlimited
        else:
            assert e.start >= NOW


def test_the_fingerprint_changes_with_what_estimates_depend_on():
    """The service skips an estimate when the fingerprint is the last one's: it must change with the
    state, and with a queued workload coming to reserve devices as time passes."""
    s = state(
        gpu_nodes(1),
        queue=[job("wait", 8, submitted=NOW)],
        allocations=[running("run", {"g1": range(8)}, started=NOW)],
    )
    policy = Policy(reserve_after=600)
    same = fingerprint(s, NOW, policy)
    assert fingerprint(replace(s), NOW + 10, policy) == same
    longer = replace(s, allocations=[replace(s.allocations[0], deadline=NOW + 5 * HOUR)])
    assert fingerprint(longer, NOW, policy) != same
    assert fingerprint(replace(s, queue=[]), NOW, policy) != same
    assert fingerprint(s, NOW + 600, policy) != same  # "wait" may reserve now
