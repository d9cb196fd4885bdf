"""Approval of workloads in VCs that need it (the manual's 未批准), in-process.

:class:`Admission` runs against a real (migrated) SQLite database and a fixed inventory, as in
``test_admission.py``. VC ``a`` needs approval: ``ann`` and ``carl`` are plain members,
``vic`` is an admin of ``a``, ``bea`` an admin of ``b`` only; ``admin`` is the preset System
Admin (also a member of ``a``).
"""

import pytest
from sqlalchemy.orm import sessionmaker

from ytung_service import orm, vcs
from ytung_service.accounts import add_member, create_account
from ytung_service.admission import Admission, workload_model
from ytung_service.db import make_engine
from ytung_service.errors import DomainError
from ytung_service.i18n import translator
from ytung_service.scheduling import NVIDIA_GPU, Node

NODES = [Node("gpu-1", NVIDIA_GPU, tuple(range(4)))]
GPU2 = {"vc": "a", "device_type": NVIDIA_GPU, "devices_per_node": 2}


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
        vcs.create_vc(s, NODES, {"name": "a", "quota": {NVIDIA_GPU: 2}, "approval_required": True})
        vcs.create_vc(s, NODES, {"name": "b", "quota": {NVIDIA_GPU: 2}})
        for name in ("ann", "carl", "vic", "bea"):
            create_account(s, name, name, "Secret-pass-1")
        a, b = orm.Vc.find(s, "a"), orm.Vc.find(s, "b")
        for name in ("ann", "carl", "vic", "admin"):
            add_member(s, a, name)
        add_member(s, b, "bea")
        vcs.set_vc_admin(s, a, "vic", True)
        vcs.set_vc_admin(s, b, "bea", True)
        s.commit()

    async def nodes():
        return NODES

    clock = Clock()
    yield Admission(sessions, nodes, clock=clock), sessions, clock
    engine.dispose()


def user(sessions, name):
    with sessions() as s:
        u = orm.User.find(s, name)
        s.expunge_all()
        return u


def get(sessions, wid) -> orm.Workload:
    with sessions() as s:
        w = s.get(orm.Workload, wid)
        w.devices  # noqa: B018 (load them before the session closes)
        s.expunge_all()
        return w


def model(sessions, wid, lang="en"):
    return workload_model(get(sessions, wid), translator(lang), None, 0.0)


async def test_unapproved_is_outside_the_queue_and_holds_no_quota(setup):
    admission, sessions, clock = setup
    wid, effects = await admission.submit(GPU2, user(sessions, "ann"))
    w = get(sessions, wid)
    assert w.status == orm.UNAPPROVED and w.devices == [] and effects.start == []
    assert model(sessions, wid)["reason"] == {
        "code": "unapproved",
        "text": "Waiting for approval by an admin of a",
    }
    assert model(sessions, wid)["queue"] is None
    with sessions() as s:
        assert vcs.usage(s, "a") == {}
    # the VC's admin needs no approval, and gets the whole quota: ann's request holds none
    vic, effects = await admission.submit(GPU2, user(sessions, "vic"))
    assert get(sessions, vic).status == orm.SCHEDULING and effects.start == [vic]
    # approved while vic holds the quota: queued; admitted when vic's devices are free
    clock.now += 10
    effects = await admission.approve(wid, user(sessions, "vic"), False, "vic")
    w = get(sessions, wid)
    assert w.status == orm.QUEUED and w.position == 1 and effects.start == []
    assert w.approved_at == 1010.0 and w.reviewed_by == "vic"
    effects = await admission.release(vic)
    assert get(sessions, wid).status == orm.SCHEDULING and effects.start == [wid]
    assert len(get(sessions, wid).devices) == 2


async def test_system_admins_and_vcs_without_approval_skip_it(setup):
    admission, sessions, _ = setup
    own, _ = await admission.submit(GPU2, user(sessions, "admin"))
    assert get(sessions, own).status == orm.SCHEDULING
    # a hub admin without the role (admin=True from the handler) needs none either
    carl, _ = await admission.submit({"vc": "a"}, user(sessions, "carl"), admin=True)
    assert get(sessions, carl).status == orm.SCHEDULING
    bea, _ = await admission.submit({"vc": "b"}, user(sessions, "bea"))
    assert get(sessions, bea).status == orm.SCHEDULING
    # the form's preview says it will wait for approval
    preview = await admission.preview(GPU2, user(sessions, "ann"))
    assert preview["would"] == "approval" and preview["reason"]["code"] == "unapproved"


@pytest.mark.parametrize(
    "reviewer, admin, status",
    [
        ("ann", False, 403),  # the owner, a plain user
        ("carl", False, 404),  # another plain member: it does not exist for him
        ("bea", False, 404),  # an admin of another VC
    ],
)
async def test_who_may_not_decide(setup, reviewer, admin, status):
    admission, sessions, _ = setup
    wid, _ = await admission.submit(GPU2, user(sessions, "ann"))
    for decide in (
        admission.approve(wid, user(sessions, reviewer), admin, reviewer),
        admission.reject(wid, user(sessions, reviewer), admin, reviewer, "no"),
    ):
        with pytest.raises(DomainError) as e:
            await decide
        assert e.value.status == status
    assert get(sessions, wid).status == orm.UNAPPROVED


async def test_system_admin_decides_any_and_only_once(setup):
    admission, sessions, _ = setup
    wid, _ = await admission.submit({"vc": "a"}, user(sessions, "ann"))
    # a System Admin (the handler passes admin=True) who is no VC admin
    effects = await admission.approve(wid, user(sessions, "admin"), True, "admin")
    assert get(sessions, wid).status == orm.SCHEDULING and effects.start == [wid]
    for decide in (
        admission.approve(wid, user(sessions, "admin"), True, "admin"),
        admission.reject(wid, user(sessions, "vic"), False, "vic"),
    ):
        with pytest.raises(DomainError) as e:
            await decide
        assert e.value.status == 409
    with pytest.raises(DomainError) as e:
        await admission.approve(9999, user(sessions, "admin"), True, "admin")
    assert e.value.status == 404


async def test_reject_reason_reaches_the_owner(setup):
    admission, sessions, clock = setup
    wid, _ = await admission.submit(GPU2, user(sessions, "ann"))
    with pytest.raises(DomainError) as e:
        await admission.reject(wid, user(sessions, "vic"), False, "vic", "x" * 1001)
    assert e.value.status == 400
    with pytest.raises(DomainError):
        await admission.reject(wid, user(sessions, "vic"), False, "vic", {"not": "text"})
    clock.now += 5
    w = await admission.reject(wid, user(sessions, "vic"), False, "vic", " no budget this month ")
    assert w.status == orm.CLOSED and w.ended_at == 1005.0
    assert model(sessions, wid)["reason"] == {
        "code": "rejected",
        "text": "Rejected by vic: no budget this month",
    }
    zh = model(sessions, wid, "zh_CN")["reason"]["text"]
    assert "vic" in zh and "no budget this month" in zh and zh.startswith("已被")
    # without a reason
    other, _ = await admission.submit(GPU2, user(sessions, "ann"))
    await admission.reject(other, user(sessions, "vic"), False, "vic")
    assert model(sessions, other)["reason"]["text"] == "Rejected by vic"


async def test_owner_stops_an_unapproved_one(setup):
    admission, sessions, _ = setup
    wid, _ = await admission.submit(GPU2, user(sessions, "ann"))
    w, needs_stop = await admission.stop(wid)
    assert not needs_stop and get(sessions, wid).status == orm.CLOSED
    assert get(sessions, wid).reason is None  # no longer "waiting for approval"
    with pytest.raises(DomainError) as e:
        await admission.approve(wid, user(sessions, "vic"), False, "vic")
    assert e.value.status == 409


async def test_queue_place_counts_from_the_approval(setup):
    """Documented choice: an approved workload queues behind what was queued before it was
    approved, even if it was submitted earlier."""
    admission, sessions, clock = setup
    running, _ = await admission.submit(GPU2, user(sessions, "vic"))
    early, _ = await admission.submit(GPU2, user(sessions, "ann"))  # t=1000, unapproved
    clock.now += 10
    later, _ = await admission.submit(GPU2, user(sessions, "vic"))  # t=1010, queued #1
    clock.now += 10
    await admission.approve(early, user(sessions, "vic"), False, "vic")  # t=1020
    assert (get(sessions, later).position, get(sessions, early).position) == (1, 2)
    await admission.release(running)
    assert get(sessions, later).status == orm.SCHEDULING
    assert get(sessions, early).status == orm.QUEUED


def test_vc_settings(db):
    vc = vcs.create_vc(db, NODES, {"name": "x", "approval_required": True})
    assert vcs.vc_model(db, vc)["approval_required"] is True
    vcs.update_vc(db, NODES, vc, {"approval_required": False})
    assert vcs.vc_model(db, vc)["approval_required"] is False
    with pytest.raises(DomainError) as e:
        vcs.update_vc(db, NODES, vc, {"approval_required": "yes"})
    assert e.value.status == 400
    # VC admins are members marked admin
    create_account(db, "zoe", "Zoe", "Secret-pass-1")
    with pytest.raises(DomainError) as e:
        vcs.set_vc_admin(db, vc, "zoe", True)
    assert e.value.status == 404
    add_member(db, vc, "zoe")
    vcs.set_vc_admin(db, vc, "zoe", True)
    zoe = orm.User.find(db, "zoe")
    assert vcs.is_vc_admin(zoe, vc) and vcs.administered_vcs(zoe) == ["x"]
    assert vcs.vc_model(db, vc)["admins"] == ["zoe"]
    with pytest.raises(DomainError):
        vcs.set_vc_admin(db, vc, "zoe", "no")
    vcs.set_vc_admin(db, vc, "zoe", False)
    assert not vcs.is_vc_admin(zoe, vc) and vcs.administered_vcs(zoe) == []
