"""The single writer in-process: submit, preempt and requeue, release, concurrent submits.

No hub here: :class:`Admission` runs against a real (migrated) SQLite database and a fixed
inventory; the effects it returns are what the reconciler would do on the hub.
"""

import asyncio
from datetime import UTC

import pytest
from sqlalchemy.orm import sessionmaker

from ytung_service import orm, vcs
from ytung_service.accounts import add_member, create_account
from ytung_service.admission import Admission
from ytung_service.db import make_engine
from ytung_service.errors import DomainError
from ytung_service.scheduling import HUAWEI_NPU, NVIDIA_GPU, Node

NODES = [Node("gpu-1", NVIDIA_GPU, tuple(range(4))), Node("npu-1", HUAWEI_NPU, tuple(range(8)))]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup(db_url):
    engine = make_engine(db_url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions() as s:
        vcs.create_vc(s, NODES, {"name": "a", "quota": {NVIDIA_GPU: 2, HUAWEI_NPU: 8}})
        vcs.create_vc(s, NODES, {"name": "b", "quota": {NVIDIA_GPU: 2}})
        for name in ("ann", "ben"):
            create_account(s, name, name, "Secret-pass-1")
        add_member(s, orm.Vc.find(s, "a"), "ann")
        add_member(s, orm.Vc.find(s, "b"), "ben")
        s.commit()

    async def nodes():
        return NODES

    clock = Clock()
    admission = Admission(sessions, nodes, clock=clock)
    yield admission, sessions, clock
    engine.dispose()


def user(sessions, name):
    with sessions() as s:
        u = orm.User.find(s, name)
        s.expunge_all()
        return u


def status(sessions, wid):
    with sessions() as s:
        return s.get(orm.Workload, wid).status


async def test_preemptible_borrows_and_is_preempted_then_requeued(setup):
    admission, sessions, clock = setup
    gpu = {"device_type": NVIDIA_GPU, "devices_per_node": 2}
    # ann (VC a, quota 2) borrows b's idle GPUs with a preemptible workload
    own, _ = await admission.submit({"vc": "a", **gpu}, user(sessions, "ann"))
    borrower, effects = await admission.submit(
        {"vc": "a", "preemptible": True, **gpu}, user(sessions, "ann")
    )
    assert status(sessions, borrower) == "scheduling" and borrower in effects.start
    # ben wants b's GPUs back: the borrower is stopped
    clock.now += 10
    ben, effects = await admission.submit({"vc": "b", **gpu}, user(sessions, "ben"))
    assert status(sessions, ben) == "queued"
    assert effects.stop == [borrower]
    assert status(sessions, borrower) == "stopping"
    # the borrower's server is gone: requeued with its place, and ben is admitted
    effects = await admission.release(borrower)
    assert status(sessions, borrower) == "queued"
    assert status(sessions, ben) == "scheduling" and ben in effects.start
    assert status(sessions, own) == "scheduling"
    with sessions() as s:
        held = [(d.node, d.device_id) for d in s.query(orm.DeviceAllocation)]
    assert len(held) == len(set(held)) == 4


async def test_release_is_idempotent_and_frees_at_once(setup):
    admission, sessions, _ = setup
    wid, _ = await admission.submit(
        {"vc": "a", "device_type": HUAWEI_NPU, "devices_per_node": 4}, user(sessions, "ann")
    )
    await admission.release(wid)
    await admission.release(wid)
    assert status(sessions, wid) == "closed"
    with sessions() as s:
        assert s.query(orm.DeviceAllocation).count() == 0


async def test_concurrent_submits_in_one_process_never_oversubscribe(setup):
    admission, sessions, _ = setup
    ann = user(sessions, "ann")
    body = {"vc": "a", "device_type": HUAWEI_NPU, "devices_per_node": 2}
    results = await asyncio.gather(*(admission.submit(dict(body), ann) for _ in range(50)))
    ids = [wid for wid, _ in results]
    with sessions() as s:
        admitted = [w for w in s.query(orm.Workload) if w.id in ids and w.status == "scheduling"]
        assert len(admitted) == 4
        assert s.query(orm.DeviceAllocation).count() == 8
        queued = sorted(w.position for w in s.query(orm.Workload) if w.status == "queued")
        assert queued == list(range(1, 47))


@pytest.mark.parametrize(
    "body, status_code",
    [
        ({"vc": "b"}, 403),  # ann is not a member of b
        ({"vc": "zzz"}, 404),
        ({"device_type": HUAWEI_NPU, "devices_per_node": 3}, 400),
        ({"device_type": HUAWEI_NPU, "devices_per_node": 16}, 400),
        ({"device_type": NVIDIA_GPU, "devices_per_node": 3}, 400),  # quota 2
        ({"nodes": 0}, 400),
        ({"nodes": True}, 400),
        ({"kind": "bitcoin"}, 400),
        ({"name": "../etc"}, 400),
        ({"preemptible": "yes"}, 400),
    ],
)
async def test_refusals_create_nothing(setup, body, status_code):
    admission, sessions, _ = setup
    with pytest.raises(DomainError) as e:
        await admission.submit({"vc": "a", **body}, user(sessions, "ann"))
    assert e.value.status == status_code
    with sessions() as s:
        assert s.query(orm.Workload).count() == 0


async def test_a_stopped_queued_workload_closes_and_never_starts(setup):
    admission, sessions, _ = setup
    ann = user(sessions, "ann")
    body = {"vc": "a", "device_type": NVIDIA_GPU, "devices_per_node": 2}
    first, _ = await admission.submit(body, ann)
    second, _ = await admission.submit(body, ann)
    assert status(sessions, second) == "queued"
    w, needs_stop = await admission.stop(second)
    assert not needs_stop and status(sessions, second) == "closed"
    await admission.release(first)
    assert status(sessions, second) == "closed"


async def test_extend_refuses_a_workload_that_does_not_run(setup):
    admission, sessions, _ = setup
    ann = user(sessions, "ann")
    body = {"vc": "a", "device_type": NVIDIA_GPU, "devices_per_node": 2}
    await admission.submit(body, ann)
    queued, _ = await admission.submit(body, ann)
    with pytest.raises(DomainError) as e:
        await admission.extend(queued, 1.0)
    assert e.value.status == 409 and "this one is queued" in str(e.value)


async def test_a_queued_workload_shows_when_it_starts_at_the_latest(setup):
    """X1: behind a workload with a 1-hour limit the estimate is that workload's deadline; behind
    one without a limit it is unknown, and says so."""
    from datetime import datetime

    from ytung_service.admission import workload_model

    admission, sessions, clock = setup
    with sessions() as s:
        orm.Vc.find(s, "a").max_hours = 1.0
        s.commit()
    ann = user(sessions, "ann")
    npu = {"vc": "a", "device_type": HUAWEI_NPU, "devices_per_node": 8}
    running, _ = await admission.submit(npu, ann)
    clock.now += 600
    waiting, _ = await admission.submit(npu, ann)
    preview = await admission.preview(npu, ann)
    # a third one would wait for the first to end and then for the second's hour
    assert preview["would"] == "queue"
    assert preview["estimated_start"] == datetime.fromtimestamp(1000.0 + 7200, UTC).isoformat()
    assert preview["estimate_reason"]["code"] == "estimate_time_limits"
    assert preview["estimate_reason"]["params"] == {"ended": 2}

    def queue_of(wid):
        with sessions() as s:
            w = s.get(orm.Workload, wid)
            model = workload_model(w, lambda m, **p: m.format(**p), None, clock.now)
            return model["queue"]

    # no pass estimates: a workload queued since the last estimate has none yet
    queue = queue_of(waiting)
    assert queue["position"] == 1
    assert queue["estimated_start"] is None and queue["estimate_reason"] is None
    assert await admission.estimate()
    queue = queue_of(waiting)
    assert queue["position"] == 1
    assert queue["estimated_start"] == datetime.fromtimestamp(1000.0 + 3600, UTC).isoformat()
    assert queue["estimate_reason"].startswith("no later than when 1 running workload(s)")
    assert queue_of(running) is None  # only a queued workload has a queue entry
    # the VC loses its limit: the next pass cannot tell any more
    with sessions() as s:
        orm.Vc.find(s, "a").max_hours = None
        s.commit()
    await admission.run_pass()
    queue = queue_of(waiting)
    assert queue["estimated_start"] is not None  # a pass keeps the last estimate …
    assert await admission.estimate(force=True)  # … until the next one
    queue = queue_of(waiting)
    assert queue["estimated_start"] is None
    assert queue["estimate_reason"] == "unknown: a workload ahead has no time limit"
    # an estimate never lies in the past when a pass is a little older than the reader
    with sessions() as s:
        orm.Vc.find(s, "a").max_hours = 1.0
        s.commit()
    await admission.run_pass()
    assert await admission.estimate(force=True)
    clock.now += 7200
    with sessions() as s:
        w = s.get(orm.Workload, waiting)
        model = workload_model(w, lambda m, **p: m.format(**p), None, clock.now)
    assert model["queue"]["estimated_start"] == datetime.fromtimestamp(clock.now, UTC).isoformat()


async def test_estimates_are_throttled_and_skipped_when_nothing_changed(setup):
    """X1: the queue is estimated at most every ``estimate_interval`` seconds, and not again while
    nothing it depends on changed."""
    admission, sessions, clock = setup
    admission.estimate_interval = 30.0
    with sessions() as s:
        orm.Vc.find(s, "a").max_hours = 1.0
        s.commit()
    ann = user(sessions, "ann")
    npu = {"vc": "a", "device_type": HUAWEI_NPU, "devices_per_node": 8}
    await admission.submit(npu, ann)
    waiting, _ = await admission.submit(npu, ann)
    assert await admission.estimate()
    clock.now += 10
    later, _ = await admission.submit(npu, ann)
    assert not await admission.estimate()  # too soon
    with sessions() as s:
        assert s.get(orm.Workload, later).reason["estimate"] is None  # not estimated yet
        kept = s.get(orm.Workload, waiting).reason["estimate"]
        assert kept["code"] == "estimate_time_limits"
    clock.now += 30
    assert await admission.estimate()
    with sessions() as s:
        assert s.get(orm.Workload, later).reason["estimate"]["start"] == 1000.0 + 2 * 3600
        assert s.get(orm.Workload, waiting).reason["estimate"] == kept
    clock.now += 30
    assert not await admission.estimate()  # due, but the same state: its estimates stand
    await admission.stop(waiting)
    assert await admission.estimate(force=True)
    with sessions() as s:
        assert s.get(orm.Workload, later).reason["estimate"]["start"] == 1000.0 + 3600


async def test_a_workload_no_longer_queued_keeps_no_estimate(setup):
    """Estimates computed on a snapshot are stored only for workloads still queued."""
    admission, sessions, clock = setup
    with sessions() as s:
        orm.Vc.find(s, "a").max_hours = 1.0
        s.commit()
    ann = user(sessions, "ann")
    npu = {"vc": "a", "device_type": HUAWEI_NPU, "devices_per_node": 8}
    await admission.submit(npu, ann)
    waiting, _ = await admission.submit(npu, ann)
    real = admission._estimate

    def meanwhile(*args):
        found = real(*args)
        assert found is not None and found[0][str(waiting)].start == 1000.0 + 3600
        with sessions() as s:  # after the snapshot, the second leaves the queue (a stop)
            w = s.get(orm.Workload, waiting)
            w.status, w.reason = orm.CLOSED, None
            s.commit()
        return found

    admission._estimate = meanwhile
    assert await admission.estimate()
    with sessions() as s:
        assert s.get(orm.Workload, waiting).reason is None
