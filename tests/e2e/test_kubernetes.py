"""The kubernetes runtime end to end: the real hub, proxy and service with
``YTUNG_RUNTIME=kubernetes``, the real KubeSpawner, against ``tests/k8s_fake.py``.

The fake cluster has two GPU nodes; its kubelet runs every pod's ``jupyterhub-singleuser`` as a
local process on a loopback address of its own, with the data root as the ``ytung-data`` PVC.
A training job on two nodes runs rank 0 in the master pod (the job's server) and rank 1 in the
worker pod (``python -m ytung_server_ext.jobrunner --node-rank 1``), over gloo on CPU.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.harness import ADMIN_PASSWORD, RunningPlatform, free_port
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
c.YtungKubeSpawner.rendezvous_port = {rendezvous_port}
c.YtungKubeSpawner.dataset_path_volumes = {{{mounted!r}: {{}}}}
c.Spawner.poll_interval = 1
"""
PRESET = Path(__file__).parent.parent.parent / "ytung_service" / "presets" / "digits_cnn"


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
    # server directories datasets are registered from: the pods mount only the first (hostPath)
    mounted, unmounted = root / "srv", root / "srv-unmounted"
    mounted.mkdir()
    unmounted.mkdir()
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
        extra.write_text(
            EXTRA_CONFIG.format(
                singleuser=singleuser,
                args=args,
                rendezvous_port=free_port(),
                mounted=str(mounted),
            )
        )
        platform = RunningPlatform(
            data,
            extra_env={
                "YTUNG_RUNTIME": "kubernetes",
                "KUBECONFIG": str(cluster.kubeconfig),
                "YTUNG_EXTRA_CONFIG": str(extra),
                "YTUNG_RECONCILE_INTERVAL": "1",
                "YTUNG_DATASET_PATH_ROOTS": f"{mounted}:{unmounted}",
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
            cluster.srv = {"mounted": mounted, "unmounted": unmounted}
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


# --- training on two nodes: a pod per node -----------------------------------------------------
CRASH_ON_NODE_1 = """\
import os, time
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "on", os.environ["NODE_RANK"])
if os.environ["RANK"] == "1":
    raise RuntimeError("the loss is NaN on the worker")
time.sleep(600)
"""


def wait_job(platform, token, job_id, timeout=300) -> dict:
    return wait(
        lambda: (
            (j := platform.api("GET", f"jobs/{job_id}", token).json())["status"]
            in ("completed", "failed", "closed", "error")
            and j
        ),
        timeout=timeout,
        what=f"job {job_id} ended:\n{platform.log_tail()}",
    )


def job_form(**changes) -> dict:
    return {
        "name": "ddp_k8s",
        "engine": "pytorch",
        "code_dir": "/home/kim/code",
        "start_file": "train.py",
        "output_path": "/home/kim/out/ddp",
        "params": {"epochs": "2", "batch_size": "32"},
        "distributed": True,
        "nodes": 2,
        "devices_per_node": 1,
        "device_type": GPU,
        "vc": "vision",
        **changes,
    }


def register(platform, token, folder: Path) -> int:
    r = platform.api(
        "POST", "datasets", token, json={"name": folder.name, "path": str(folder), "labeled": True}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


class PodWatch:
    """Records the pods of the cluster while a job runs (they are deleted when it ends)."""

    def __init__(self, cluster):
        self.cluster, self.seen, self.running = cluster, {}, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for pod in self.cluster.pods("ytung.io/kind=training"):
                self.seen[pod["metadata"]["name"]] = json.loads(json.dumps(pod))
                if (pod.get("status") or {}).get("phase") == "Running":
                    self.running.add(pod["metadata"]["name"])
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def test_a_two_node_training_job_runs_a_rank_in_each_pod(k8s):
    """T3 on Kubernetes for real: the digits CNN over gloo on CPU, rank 0 in the master pod and
    rank 1 in the worker pod, reading a dataset registered from a server path (S1) that the pods
    mount read-only; the job completes with the logs of both nodes."""
    import numpy as np
    from sklearn.datasets import load_digits

    cluster, platform, admin, tokens = k8s
    token = tokens["kim"]
    code = platform.data_dir / "home" / "kim" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "train.py").write_text((PRESET / "train.py").read_text())
    folder = cluster.srv["mounted"] / "digits_srv"
    folder.mkdir()
    digits = load_digits()
    np.savez(folder / "digits.npz", X=digits.data, y=digits.target)
    dataset = register(platform, token, folder)

    with PodWatch(cluster) as pods:
        r = platform.api("POST", "jobs", token, json=job_form(dataset={"id": dataset}))
        assert r.status_code == 201, r.text
        done = wait_job(platform, token, r.json()["id"])
    assert done["status"] == "completed", (done, platform.log_tail())
    workload = done["workload"]

    # two pods, one per node of the placement; the worker ran its node's job runner
    master = next(p for n, p in pods.seen.items() if "worker" not in n)
    worker = pods.seen[f"ytung-{workload}-worker-1"]
    assert {master["metadata"]["name"], worker["metadata"]["name"]} <= pods.running
    assert master["spec"]["nodeName"] != worker["spec"]["nodeName"]
    assert worker["spec"]["containers"][0]["command"][1:] == [
        "-m", "ytung_server_ext.jobrunner", "--node-rank", "$(YTUNG_NODE_RANK)",
    ]  # fmt: skip
    # one start: both pods share its attempt, and the nodes' status files are that start's
    attempts = {env_of(pod).get("YTUNG_RUN_ATTEMPT") for pod in (master, worker)}
    assert len(attempts) == 1 and None not in attempts, attempts
    nodes_dir = platform.data_dir / "jobs" / str(done["id"]) / "nodes"
    assert [p.name for p in nodes_dir.iterdir()] == [f"run-1-{attempts.pop()}"]
    for pod in (master, worker):  # the registered dataset, read-only at its own path
        assert {
            "name": pod["spec"]["volumes"][-1]["name"],
            "mountPath": str(folder),
            "subPath": "digits_srv",
            "readOnly": True,
        } in pod["spec"]["containers"][0]["volumeMounts"]
        assert pod["spec"]["volumes"][-1]["hostPath"]["path"] == str(cluster.srv["mounted"])

    # the logs of both nodes, tagged per node and rank, in the one log view
    page = platform.api("GET", f"jobs/{done['id']}/logs?limit=5000", token).json()
    assert page["ranks"] == [0, 1]
    for rank in (0, 1):
        lines = [x for x in page["lines"] if x["rank"] == rank]
        assert {x.get("node") for x in lines} == {rank}
        texts = [x["text"] for x in lines]
        assert any(t.startswith(f"rank {rank}/2:") and str(folder) in t for t in texts), texts
        assert any(t.startswith("epoch 2/2") for t in texts)
        assert texts[-1] == "exited with code 0"
    metrics = platform.api("GET", f"jobs/{done['id']}/metrics", token).json()
    assert [(r["rank"], r["node"]) for r in metrics["ranks"]] == [(0, 0), (1, 1)]
    out = platform.data_dir / "home" / "kim" / "out" / "ddp"
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
    # the job's server and both pods are gone, the devices free
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={workload}"), what="pods deleted")


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}


SLEEP_ON_EVERY_NODE = """\
import os, time
print("rank", os.environ["RANK"], "is training", flush=True)
time.sleep(600)
"""


def test_a_deleted_worker_pod_fails_the_job_with_the_reason(k8s):
    """docs/kubernetes.md: a worker pod deleted (evicted, preempted) while the job runs fails
    the job — its job runner gets SIGTERM, stops its rank and says so; the master stops too."""
    cluster, platform, admin, tokens = k8s
    token = tokens["kim"]
    code = platform.data_dir / "home" / "kim" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "sleep.py").write_text(SLEEP_ON_EVERY_NODE)
    r = platform.api(
        "POST", "jobs", token, json=job_form(name="evicted_k8s", start_file="sleep.py", params={})
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    def training_on(rank):
        page = platform.api("GET", f"jobs/{job_id}/logs?rank={rank}&limit=1000", token).json()
        return any(x["text"] == f"rank {rank} is training" for x in page["lines"])

    wait(lambda: training_on(0) and training_on(1), what="both ranks training")
    workload = platform.api("GET", f"jobs/{job_id}", token).json()["workload"]
    worker = f"ytung-{workload}-worker-1"
    deleted = requests.delete(f"{cluster.url}/api/v1/namespaces/default/pods/{worker}", timeout=30)
    assert deleted.status_code in (200, 202), deleted.text
    done = wait_job(platform, token, job_id)
    assert done["status"] == "failed" and done["exit_code"] == 143, done
    assert done["reason"]["text"] == (
        "The job failed with exit code 143: the pod of node 1 got SIGTERM "
        "(deleted, evicted or preempted)"
    ), done["reason"]
    zh = platform.api("GET", f"jobs/{job_id}", token, cookies={"ytung-lang": "zh_CN"}).json()
    assert (
        zh["reason"]["text"]
        == "任务失败，退出码 143：节点 1 的 Pod 收到 SIGTERM（被删除、驱逐或抢占）"
    )
    page = platform.api("GET", f"jobs/{job_id}/logs?rank=1&limit=1000", token).json()
    assert "the pod got signal SIGTERM" in [x["text"] for x in page["lines"]]
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={workload}"), what="pods gone")
    # a report's reason must be one of the service's: a pod cannot make up the job's message
    for bad in ({"id": "made_up", "params": {}}, {"id": "node_lost", "params": {"node": "1"}}):
        report = {"event": "failed", "exit_code": 1, "workload": workload, "reason": bad}
        r = platform.api("POST", f"jobs/{job_id}/events", token, json=report)
        assert r.status_code == 400, r.text


def test_a_crashing_rank_in_the_worker_pod_fails_the_job_with_its_reason(k8s):
    cluster, platform, admin, tokens = k8s
    token = tokens["kim"]
    code = platform.data_dir / "home" / "kim" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "crash.py").write_text(CRASH_ON_NODE_1)
    r = platform.api(
        "POST", "jobs", token, json=job_form(name="crash_k8s", start_file="crash.py", params={})
    )
    assert r.status_code == 201, r.text
    done = wait_job(platform, token, r.json()["id"])
    assert done["status"] == "failed" and done["exit_code"] == 1, done
    assert "[node 1] [rank 1] RuntimeError: the loss is NaN on the worker" in done["stderr_tail"]
    assert "the loss is NaN on the worker" in done["reason"]["text"]
    # rank 0, in the master pod, was stopped because of it
    page = platform.api("GET", f"jobs/{done['id']}/logs?rank=0&limit=1000", token).json()
    texts = [x["text"] for x in page["lines"]]
    assert "rank 0 of 2 on 0" in texts
    assert "node 1 failed: stopping the ranks of every node" in texts
    wait(lambda: not cluster.pods(f"ytung.io/workload-id={done['workload']}"), what="pods gone")


def test_a_dataset_the_pods_cannot_mount_fails_the_job_with_the_reason(k8s):
    """A server path the service allows but no pod volume holds: the run does not start, and
    the job says which setting an admin must change."""
    cluster, platform, admin, tokens = k8s
    token = tokens["kim"]
    folder = cluster.srv["unmounted"] / "elsewhere"
    folder.mkdir()
    (folder / "README").write_text("x")
    dataset = register(platform, token, folder)
    code = platform.data_dir / "home" / "kim" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "noop.py").write_text("print('never runs')\n")
    r = platform.api(
        "POST",
        "jobs",
        token,
        json=job_form(name="unmounted", start_file="noop.py", dataset={"id": dataset}),
    )
    assert r.status_code == 201, r.text
    done = wait_job(platform, token, r.json()["id"])
    assert done["status"] == "failed", done
    assert str(folder) in done["reason"]["text"]
    assert "dataset_path_volumes" in done["reason"]["text"]
    assert not cluster.pods(f"ytung.io/workload-id={done['workload']}")
