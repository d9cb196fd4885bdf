"""The kubernetes runtime end to end: the real hub, proxy and service with
``YTUNG_RUNTIME=kubernetes``, the real KubeSpawner, against ``tests/k8s_fake.py``.

The fake cluster has two GPU nodes; its kubelet runs every pod's ``jupyterhub-singleuser`` as a
local process on a loopback address of its own, with the data root as the ``ytung-data`` PVC.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.harness import ADMIN_PASSWORD, RunningPlatform
from tests.k8s_fake import SERVICES, FakeCluster, node_object

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PASSWORD = "Secret-pass-42"
GPU = "nvidia_gpu_amd64"
GPU_REQUEST = {"vc": "vision", "device_type": GPU, "devices_per_node": 1}

EXTRA_CONFIG = """
c.KubeSpawner.namespace = "default"
c.KubeSpawner.image = "registry.local/ytung/lab:test"
c.KubeSpawner.cmd = [{singleuser!r}]
c.KubeSpawner.args = {args!r}
c.KubeSpawner.events_enabled = False
c.YtungKubeSpawner.data_pvc = "ytung-data"
c.YtungKubeSpawner.resource_limits = {{"default": {{"mem_limit": "4Gi"}}}}
c.Spawner.poll_interval = 1
"""


def wait(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def k8s(tmp_path_factory):
    root = tmp_path_factory.mktemp("k8s")
    data = root / "data"
    data.mkdir()
    cluster = FakeCluster(
        root / "cluster",
        nodes=[
            node_object("gpu-1", {"nvidia.com/gpu": "2"}),
            node_object("gpu-2", {"nvidia.com/gpu": "2"}),
            node_object("cpu-1"),
        ],
        claims={"ytung-data": data},
    )
    with cluster.in_thread():
        extra = root / "kubernetes_config.py"
        singleuser = str(Path(sys.executable).parent / "jupyterhub-singleuser")
        args = ["--allow-root"] if os.geteuid() == 0 else []
        extra.write_text(EXTRA_CONFIG.format(singleuser=singleuser, args=args))
        platform = RunningPlatform(
            data,
            extra_env={
                "YTUNG_RUNTIME": "kubernetes",
                "KUBECONFIG": str(cluster.kubeconfig),
                "YTUNG_EXTRA_CONFIG": str(extra),
                "YTUNG_RECONCILE_INTERVAL": "1",
            },
        )
        platform.start()
        try:
            admin = platform.token("admin", ADMIN_PASSWORD)
            r = platform.api("POST", "vcs", admin, json={"name": "vision", "quota": {GPU: 4}})
            assert r.status_code == 201, r.text
            tokens = {}
            for name in ("kate", "kim"):
                assert platform.signup(name, name, PASSWORD).status_code == 302
                assert platform.api("POST", "vcs/vision/members", admin, json={"user": name}).ok
                tokens[name] = platform.token(name, PASSWORD)
            yield cluster, platform, admin, tokens
        finally:
            platform.stop()


def workload_of(platform, token, user, server=""):
    found = [
        w
        for w in platform.api("GET", "workloads", token).json()
        if w["owner"] == user and w["server_name"] == server
    ]
    return max(found, key=lambda w: w["id"]) if found else None


def test_node_objects_are_the_device_inventory(k8s):
    cluster, platform, admin, tokens = k8s
    devices = platform.api("GET", "devices", admin).json()
    assert devices["capacity"] == {GPU: 4}
    assert {n["name"] for n in devices["nodes"]} == {"gpu-1", "gpu-2"}  # cpu-1 has no devices


def test_spawn_proxy_restart_stop(k8s):
    cluster, platform, admin, tokens = k8s
    token = tokens["kate"]
    r = platform.hub_api("POST", "users/kate/server", token, json=GPU_REQUEST)
    assert r.status_code in (201, 202), r.text
    platform.wait_for_server("kate", token, timeout=120)

    # the pod: KubeSpawner's, with the workload's devices, node, limits, labels, storage
    workload = workload_of(platform, token, "kate")
    assert workload["status"] == "running"
    (node,) = workload["placement"]
    (pod,) = cluster.pods(f"ytung.io/workload-id={workload['id']}")
    assert pod["spec"]["nodeName"] == node
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "22", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "400Mi"}
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert pod["metadata"]["labels"]["ytung.io/owner"] == "kate"
    assert pod["metadata"]["labels"]["ytung.io/vc"] == "vision"
    assert {
        "name": "ytung-data",
        "mountPath": "/home/kate",
        "subPath": "home/kate",
        "readOnly": False,
    } in container["volumeMounts"]

    # the proxy reaches the pod's server on its own address
    r = requests.get(
        f"{platform.url}/user/kate/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    routes = platform.hub_api("GET", "users/kate", token).json()["servers"][""]["url"]
    assert routes == "/user/kate/"
    uid = pod["metadata"]["uid"]

    # the hub restarts (kill -9 of hub and service): the server is found again, not recreated
    platform.kill9()
    platform.start()
    token = platform.token("kate", PASSWORD)
    platform.wait_for_server("kate", token, timeout=60)
    (pod,) = cluster.pods(f"ytung.io/workload-id={workload['id']}")
    assert pod["metadata"]["uid"] == uid
    r = requests.get(
        f"{platform.url}/user/kate/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 200
    assert workload_of(platform, token, "kate")["status"] == "running"

    # stop: the pod is deleted and the device is free again
    r = platform.hub_api("DELETE", "users/kate/server", token)
    assert r.status_code in (202, 204)
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={workload['id']}"), what="pod deleted")
    wait(
        lambda: workload_of(platform, token, "kate")["status"] == "closed",
        what="workload closed",
    )
    devices = platform.api("GET", "devices", platform.token("admin", ADMIN_PASSWORD)).json()
    held = [d["held_by"] for n in devices["nodes"] for d in n["devices"] if d["held_by"]]
    assert all(h["workload"] != workload["id"] for h in held)


def test_oom_killed_workload_fails_with_the_reason(k8s):
    cluster, platform, admin, tokens = k8s
    token = tokens["kim"]
    r = platform.hub_api("POST", "users/kim/servers/big", token, json=GPU_REQUEST)
    assert r.status_code in (201, 202), r.text
    platform.wait_for_server("kim", token, name="big", timeout=120)
    workload = workload_of(platform, token, "kim", "big")
    (pod,) = cluster.pods(f"ytung.io/workload-id={workload['id']}")
    # the kernel kills the container at its memory limit
    cluster.kubelet.oom_kill("default", pod["metadata"]["name"])
    failed = wait(
        lambda: (w := workload_of(platform, token, "kim", "big"))["status"] == "failed" and w,
        what="workload failed",
    )
    assert "OOMKilled" in failed["reason"]["text"], failed["reason"]
    assert "4Gi" in failed["reason"]["text"]
    # the pod is gone and the hub no longer lists the server as running
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={workload['id']}"), what="pod deleted")
    servers = platform.hub_api("GET", "users/kim", token).json()["servers"]
    assert "big" not in servers or not servers["big"].get("ready")


def test_two_node_workload_gets_a_worker_pod_and_a_headless_service(k8s):
    cluster, platform, admin, tokens = k8s
    token = tokens["kate"]
    request = {"vc": "vision", "device_type": GPU, "devices_per_node": 2, "nodes": 2}
    r = platform.hub_api("POST", "users/kate/servers/dist", token, json=request)
    assert r.status_code in (201, 202), r.text
    platform.wait_for_server("kate", token, name="dist", timeout=120)
    workload = workload_of(platform, token, "kate", "dist")
    assert sorted(workload["placement"]) == ["gpu-1", "gpu-2"]
    pods = {
        p["metadata"]["labels"]["ytung.io/rank"]: p
        for p in cluster.pods(f"ytung.io/workload-id={workload['id']}")
    }
    assert set(pods) == {"0", "1"}
    master_node, worker_node = list(workload["placement"])
    assert pods["0"]["spec"]["nodeName"] == master_node
    assert pods["1"]["spec"]["nodeName"] == worker_node
    assert pods["1"]["metadata"]["labels"]["component"] == "ytung-worker"
    service = f"ytung-{workload['id']}"
    for rank, pod in pods.items():
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["RANK"] == rank and env["WORLD_SIZE"] == "2"
        assert env["MASTER_ADDR"] == f"{service}-0.{service}.default.svc"
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert cluster.api.get(SERVICES, "default", service)["spec"]["clusterIP"] == "None"

    r = platform.hub_api("DELETE", "users/kate/servers/dist", token)
    assert r.status_code in (202, 204)
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={workload['id']}"), what="pods deleted")
    wait(lambda: cluster.api.get(SERVICES, "default", service) is None, what="service deleted")
    wait(
        lambda: workload_of(platform, token, "kate", "dist")["status"] == "closed",
        what="workload closed",
    )
