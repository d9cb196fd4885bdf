"""VCs, quotas and the queue end to end, on the real hub with simulated devices (SPEC V1–V9)."""

import time

import pytest
import requests

from tests.harness import ADMIN_PASSWORD, RunningPlatform, execute_in_kernel

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
GPU, NPU = "nvidia_gpu_amd64", "huawei_npu_arm64"
DEVICES = (
    "gpu-node-1:nvidia_gpu_amd64=2;npu-node-1:huawei_npu_arm64=8;npu-node-2:huawei_npu_arm64=8"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A platform whose local runtime has 2 simulated GPUs and 2 nodes of 8 NPUs."""
    with RunningPlatform.running(
        tmp_path_factory.mktemp("cluster"),
        YTUNG_SIMULATED_DEVICES=DEVICES,
        YTUNG_RECONCILE_INTERVAL="1",
        # X1: estimates come from the periodic pass; every second here, not every 30
        YTUNG_ESTIMATE_INTERVAL="1",
    ) as p:
        yield p


@pytest.fixture(scope="module")
def admin(cluster):
    return cluster.token("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def users(cluster, admin):
    """Three members of VC `vision` (2 GPUs, at most 1 per user) and one outsider."""
    r = cluster.api(
        "POST",
        "vcs",
        admin,
        json={"name": "vision", "quota": {GPU: 2, NPU: 8}, "user_max": {GPU: 1}, "max_hours": 24},
    )
    assert r.status_code == 201, r.text
    tokens = {}
    for name in ("u1", "u2", "u3", "outsider"):
        assert cluster.signup(name, name.upper(), PASSWORD).status_code == 302
        if name != "outsider":
            r = cluster.api("POST", "vcs/vision/members", admin, json={"user": name})
            assert r.status_code == 201
        tokens[name] = cluster.token(name, PASSWORD)
    return tokens


def test_devices_are_listed(cluster, admin):
    devices = cluster.api("GET", "devices", admin).json()
    assert devices["capacity"] == {GPU: 2, NPU: 16}
    assert {n["name"] for n in devices["nodes"]} == {"gpu-node-1", "npu-node-1", "npu-node-2"}


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"device_type": NPU, "devices_per_node": 3}, 400, "1, 2, 4, 8"),
        ({"device_type": NPU, "devices_per_node": 5}, 400, "1, 2, 4, 8"),
        ({"device_type": GPU, "devices_per_node": 9}, 400, "between 0 and 8"),
        ({"device_type": GPU, "devices_per_node": 2}, 400, "at most 1"),
        ({"device_type": NPU, "devices_per_node": 8, "nodes": 3}, 400, "nodes"),
        ({"device_type": NPU, "devices_per_node": 8, "nodes": 2}, 400, "quota of 8"),
        ({"device_type": NPU, "devices_per_node": 4, "nodes": 2}, 400, "8 NPUs per node"),
        ({"device_type": GPU, "devices_per_node": -1}, 400, ""),
        ({"device_type": GPU, "devices_per_node": "two"}, 400, "whole number"),
        ({"device_type": "tpu", "devices_per_node": 1}, 400, "Unknown device type"),
        ({"vc": "nope", "device_type": GPU, "devices_per_node": 1}, 404, "nope"),
        ({"priority": 5}, 403, "administrators"),
    ],
)
def test_impossible_requests_are_refused_at_once(cluster, users, body, status, message):
    r = cluster.api("POST", "workloads", users["u1"], json={"vc": "vision", **body})
    assert r.status_code == status, r.text
    assert message in r.json()["message"]
    # nothing was queued
    assert all(w["status"] != "queued" for w in cluster.api("GET", "workloads", users["u1"]).json())


def test_outsiders_are_refused(cluster, users):
    r = cluster.api("POST", "workloads", users["outsider"], json={"vc": "vision"})
    # not a member of any VC at all
    assert r.status_code == 403


def test_vc_capacity_is_checked(cluster, admin, users):
    r = cluster.api("POST", "vcs", admin, json={"name": "greedy", "quota": {GPU: 1}})
    assert r.status_code == 400 and "unassigned" in r.json()["message"]
    r = cluster.api("POST", "vcs", admin, json={"name": "Bad Name"})
    assert r.status_code == 400
    r = cluster.api("POST", "vcs", admin, json={"name": "vision"})
    assert r.status_code == 409
    r = cluster.api("POST", "vcs", users["u1"], json={"name": "mine"})
    assert r.status_code == 403


def _spawn(cluster, user, token, **options):
    r = cluster.hub_api("POST", f"users/{user}/server", token, json=options)
    assert r.status_code in (201, 202), r.text


def _workload_of(cluster, token, user):
    found = [w for w in cluster.api("GET", "workloads", token).json() if w["owner"] == user]
    return found[0] if found else None


def _wait(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(what)


def _estimated(fetch, what):
    """The queue entry of the workload ``fetch()`` returns, once the periodic estimate (X1) gave it
    an estimated start."""

    def ready():
        queue = fetch()["queue"]
        return queue if queue and queue["estimated_start"] else None

    return _wait(ready, what=what)


async def test_two_gpus_two_users_third_queues_then_starts(cluster, admin, users):
    gpu = {"vc": "vision", "device_type": GPU, "devices_per_node": 1}
    _spawn(cluster, "u1", users["u1"], **gpu)
    _spawn(cluster, "u2", users["u2"], **gpu)
    cluster.wait_for_server("u1", users["u1"])
    cluster.wait_for_server("u2", users["u2"])
    w1, w2 = _workload_of(cluster, users["u1"], "u1"), _workload_of(cluster, users["u2"], "u2")
    assert {w1["status"], w2["status"]} <= {"scheduling", "running"}
    held = {tuple(w1["placement"]["gpu-node-1"]), tuple(w2["placement"]["gpu-node-1"])}
    assert held == {(0,), (1,)}
    # the devices are bound in the workload's environment
    out = await execute_in_kernel(
        f"{cluster.url}/user/u1/",
        users["u1"],
        "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])",
    )
    assert out.strip() == str(w1["placement"]["gpu-node-1"][0])

    # the third request queues with position 1 and a reason
    _spawn(cluster, "u3", users["u3"], **gpu)
    w3 = _wait(lambda: _workload_of(cluster, users["u3"], "u3"), what="u3 workload")
    assert w3["status"] == "queued"
    assert w3["queue"]["position"] == 1 and w3["queue"]["ahead"] == 0
    assert "vision" in w3["queue"]["reason"] and GPU in w3["queue"]["reason"]
    # the hub's spawn progress (what the spawn-pending page shows) says it too
    events = cluster.spawn_progress("u3", users["u3"], until="Estimated start:")
    assert any("Queued at position 1" in m and "vision" in m for m in events), events
    # … with when it starts at the latest, once the periodic estimate has run: u1 and u2 run
    # under vision's 24 h limit (X1)
    assert any("Estimated start:" in m and " UTC, no later than" in m for m in events), events
    _estimated(lambda: _workload_of(cluster, users["u3"], "u3"), "u3's estimate")
    mine = cluster.api("GET", "me/vcs", users["u3"]).json()
    assert mine["queued"][0]["position"] == 1
    vision = next(vc for vc in mine["vcs"] if vc["name"] == "vision")
    gpu_row = next(d for d in vision["devices"] if d["device_type"] == GPU)
    assert gpu_row == {
        "device_type": GPU,
        "quota": 2,
        "user_max": 1,
        "used": 2,
        "my_used": 0,
        "queued": 1,
    }
    # the same reason in Chinese for a Chinese reader
    zh = requests.get(
        f"{cluster.url}/services/ytung/api/v1/workloads/{w3['id']}",
        headers={"Authorization": f"token {users['u3']}", "Accept-Language": "zh-CN"},
        timeout=10,
    ).json()
    assert "虚拟集群" in zh["queue"]["reason"]
    # a busy VC cannot shrink or go away; the refusal names the workloads
    r = cluster.api("PATCH", "vcs/vision", admin, json={"quota": {GPU: 1}})
    assert r.status_code == 409 and len(r.json()["workloads"]) == 3
    r = cluster.api("DELETE", "vcs/vision", admin)
    assert r.status_code == 409
    # … but it may grow its description
    assert cluster.api("PATCH", "vcs/vision", admin, json={"description": "CV team"}).ok

    # u1 stops: u3 starts by itself on the freed GPU
    assert cluster.hub_api("DELETE", "users/u1/server", users["u1"]).status_code in (202, 204)
    cluster.wait_for_server("u3", users["u3"], timeout=120)
    w3 = cluster.api("GET", f"workloads/{w3['id']}", users["u3"]).json()
    assert w3["placement"] == {"gpu-node-1": w1["placement"]["gpu-node-1"]}

    devices = cluster.api("GET", "devices", admin).json()
    holders = {
        d["held_by"]["owner"] for n in devices["nodes"] for d in n["devices"] if d["held_by"]
    }
    assert holders == {"u2", "u3"}
    # other users see that devices are held but not by whom
    devices_u2 = cluster.api("GET", "devices", users["u2"]).json()
    owners = [
        d["held_by"].get("owner") for n in devices_u2["nodes"] for d in n["devices"] if d["held_by"]
    ]
    assert sorted(o for o in owners if o) == ["u2"]


def test_preview_says_whether_a_request_would_queue(cluster, users):
    """X1: the form's warning before submission; nothing is created."""
    before = len(cluster.api("GET", "workloads", users["u1"]).json())
    gpu = {"vc": "vision", "device_type": GPU, "devices_per_node": 1}
    r = cluster.api("GET", "workloads/preview", users["u1"], params=gpu)
    assert r.status_code == 200, r.text
    # u2 and u3 hold both GPUs of vision by now
    assert r.json()["would"] == "queue" and r.json()["position"] == 1
    assert "vision" in r.json()["reason"]["text"]
    r = cluster.api("GET", "workloads/preview", users["u1"], params={"vc": "vision"})
    assert r.json()["would"] == "start"
    bad = {"vc": "vision", "device_type": NPU, "devices_per_node": 3}
    r = cluster.api("GET", "workloads/preview", users["u1"], params=bad)
    assert r.status_code == 400 and "1, 2, 4, 8" in r.json()["message"]
    r = cluster.api("GET", "workloads/preview", users["u1"], params={"nodes": "x"})
    assert r.status_code == 400
    assert len(cluster.api("GET", "workloads", users["u1"]).json()) == before


def test_other_users_workloads_are_invisible(cluster, users):
    w = _workload_of(cluster, users["u2"], "u2")
    assert cluster.api("GET", f"workloads/{w['id']}", users["u3"]).status_code == 404
    assert cluster.api("DELETE", f"workloads/{w['id']}", users["u3"]).status_code == 404
    assert _workload_of(cluster, users["u3"], "u2") is None


def test_concurrent_submissions_never_oversubscribe(cluster, admin, users):
    """100 requests at once against the running service: admitted NPUs never exceed the quota."""
    from concurrent.futures import ThreadPoolExecutor

    r = cluster.api("POST", "vcs", admin, json={"name": "burst", "quota": {NPU: 8}})
    assert r.status_code == 201, r.text
    members = ["u1", "u2", "u3"]
    for name in members:
        assert cluster.api("POST", "vcs/burst/members", admin, json={"user": name}).ok

    def submit(i):
        user = members[i % 3]
        body = {"vc": "burst", "name": f"burst{i}", "device_type": NPU, "devices_per_node": 2}
        return cluster.api("POST", "workloads", users[user], json=body)

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(submit, range(100)))
    assert all(a.status_code == 201 for a in answers), {a.status_code for a in answers}
    created = [a.json() for a in answers]
    admitted = [w for w in created if w["status"] != "queued"]
    assert len(admitted) == 4
    # every queued one knows its place: positions 1..96, each once
    queued = [w for w in created if w["status"] == "queued"]
    ids = [w["id"] for w in queued]
    positions = sorted(
        cluster.api("GET", f"workloads/{i}", admin).json()["queue"]["position"] for i in ids
    )
    assert positions == list(range(1, 97))
    devices = cluster.api("GET", "devices", admin).json()
    burst = {w["id"] for w in admitted}
    holders = [
        d["held_by"]["workload"]
        for n in devices["nodes"]
        for d in n["devices"]
        if d["held_by"] and d["held_by"]["workload"] in burst
    ]
    assert len(holders) == 8 and set(holders) == burst
    # and every pair sits inside one NPU group (0-3 or 4-7) of one node
    for w in admitted:
        [(node, ids_)] = w["placement"].items()
        assert len(ids_) == 2 and ids_[0] // 4 == ids_[1] // 4

    # clean up: the queue first (so nothing else is admitted), then the running ones
    for i in ids:
        assert cluster.api("DELETE", f"workloads/{i}", admin).json()["status"] == "closed"
    for w in admitted:
        # closed at once, or stopping until the hub says the server is gone (D7)
        status = cluster.api("DELETE", f"workloads/{w['id']}", admin).json()["status"]
        assert status in ("stopping", "closed")
    for w in admitted:
        _wait(
            lambda w=w: (
                cluster.api("GET", f"workloads/{w['id']}", admin).json()["status"] == "closed"
            ),
            what=f"workload {w['id']} closed",
        )
    devices = cluster.api("GET", "devices", admin).json()
    assert not [
        d
        for n in devices["nodes"]
        for d in n["devices"]
        if d["held_by"] and d["held_by"]["workload"] in burst
    ]


def test_a_queued_workload_shows_its_estimated_start(cluster, admin, users):
    """X1: behind a workload of a VC with a 1-hour limit, the estimate is that workload's deadline."""
    from datetime import datetime

    # the NPU quota of the burst test's VC (idle by now) goes to a VC with a 1-hour limit
    assert cluster.api("DELETE", "vcs/burst", admin).status_code in (200, 204, 404)
    r = cluster.api(
        "POST", "vcs", admin, json={"name": "hourly", "quota": {NPU: 8}, "max_hours": 1}
    )
    assert r.status_code == 201, r.text
    for name in ("u1", "u2"):
        assert cluster.api("POST", "vcs/hourly/members", admin, json={"user": name}).ok
    npu = {"vc": "hourly", "device_type": NPU, "devices_per_node": 8}
    first = cluster.api("POST", "workloads", users["u1"], json={**npu, "name": "first"}).json()
    assert first["status"] in ("scheduling", "running"), first
    second = cluster.api("POST", "workloads", users["u2"], json={**npu, "name": "second"}).json()
    assert second["status"] == "queued", second
    deadline = first["admitted"] + 3600
    assert second["queue"]["position"] == 1
    # the estimate comes with the next periodic estimate (not with the submit)
    queue = _estimated(
        lambda: cluster.api("GET", f"workloads/{second['id']}", users["u2"]).json(),
        "the second's estimate",
    )
    assert queue["position"] == 1
    assert abs(datetime.fromisoformat(queue["estimated_start"]).timestamp() - deadline) < 1
    assert "time limit" in queue["estimate_reason"]
    # the Lab's list of my queued workloads shows the same
    mine = cluster.api("GET", "me/vcs", users["u2"]).json()["queued"]
    [entry] = [q for q in mine if q["id"] == second["id"]]
    assert entry["estimated_start"] == queue["estimated_start"]
    # and the form's preview for one more: after both hours
    r = cluster.api("GET", "workloads/preview", users["u1"], params=npu).json()
    assert r["would"] == "queue"
    assert abs(datetime.fromisoformat(r["estimated_start"]).timestamp() - deadline - 3600) < 120
    assert cluster.api("DELETE", f"workloads/{second['id']}", users["u2"]).json()["status"] == (
        "closed"
    )
    cluster.api("DELETE", f"workloads/{first['id']}", users["u1"])
    _wait(
        lambda: (
            cluster.api("GET", f"workloads/{first['id']}", users["u1"]).json()["status"] == "closed"
        ),
        what="first closed",
    )


def test_time_limit_stops_the_workload_and_admin_can_extend(cluster, admin, users):
    """V4: remaining run time on every workload; stopped when it runs out; admins extend."""
    r = cluster.api("POST", "vcs", admin, json={"name": "short", "max_hours": 0.002})
    assert r.status_code == 201, r.text
    for name in ("u1", "u2"):
        assert cluster.api("POST", "vcs/short/members", admin, json={"user": name}).ok
    w1 = cluster.api("POST", "workloads", users["u1"], json={"vc": "short", "name": "brief"}).json()
    w2 = cluster.api("POST", "workloads", users["u2"], json={"vc": "short", "name": "kept"}).json()
    assert w1["status"] in ("scheduling", "running") and 0 < w1["time_left"] <= 8, w1
    assert (
        cluster.api(
            "POST", f"workloads/{w2['id']}/extend", users["u2"], json={"hours": 1}
        ).status_code
        == 403
    )
    r = cluster.api("POST", f"workloads/{w2['id']}/extend", admin, json={"hours": 1})
    assert r.status_code == 200 and r.json()["time_left"] > 3600
    assert (
        cluster.api("POST", f"workloads/{w2['id']}/extend", admin, json={"hours": -1}).status_code
        == 400
    )

    def ended():
        w = cluster.api("GET", f"workloads/{w1['id']}", users["u1"]).json()
        return w if w["status"] == "closed" else None

    w = _wait(ended, timeout=60, what="time limit")
    assert w["reason"]["code"] == "time_limit" and "0.002" in w["reason"]["text"]
    assert cluster.api("GET", f"workloads/{w2['id']}", users["u2"]).json()["status"] in (
        "scheduling",
        "running",
    )
    assert cluster.api("DELETE", f"workloads/{w2['id']}", users["u2"]).json()["status"] in (
        "stopping",
        "closed",
    )
    # with no limit, the remaining time is "--" (null)
    r = cluster.api("POST", "workloads", users["u1"], json={"vc": "vision", "name": "free"}).json()
    assert r["time_left"] is not None  # vision has max_hours 24
    cluster.api("DELETE", f"workloads/{r['id']}", users["u1"])


def test_users_cannot_forge_user_options(cluster, users):
    """user_options reach the spawner as trusted facts (a privileged pod, a job's command):
    a user's own submission never carries them."""
    forged = {"devenv": {"privileged": True}, "job": {"command": ["sh", "-c", "id"]}}
    r = cluster.api(
        "POST",
        "workloads",
        users["outsider"],
        json={"vc": "vision", "device_type": NPU, "devices_per_node": 8, "user_options": forged},
    )
    assert r.status_code == 403  # not a member: refused before anything else
    r = cluster.api(
        "POST",
        "workloads",
        users["u3"],
        json={
            "vc": "vision",
            "device_type": NPU,
            "devices_per_node": 8,
            "nodes": 2,
            "preemptible": True,
            "user_options": forged,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["user_options"] == {}
    wid = r.json()["id"]
    cluster.api("DELETE", f"workloads/{wid}", users["u3"])
    _wait(
        lambda: cluster.api("GET", f"workloads/{wid}", users["u3"]).json()["status"] == "closed",
        what="the forged workload to close",
    )
