"""``YtungKubeSpawner`` through the real KubeSpawner code path against ``tests/k8s_fake.py``.

The hub and the service are left out (``tests/e2e/test_kubernetes.py`` has them): the spawner
gets its admitted workload as ``ytung_bind`` would give it, and reports to a recorder.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

import pytest
from kubespawner import KubeSpawner

from tests.k8s_fake import JOBS, PODS, SERVICES, FakeCluster, node_object
from ytung_spawner.kube import YtungKubeSpawner, save_image, to_dict

NODES = [
    node_object("gpu-1", {"nvidia.com/gpu": "8"}),
    node_object("gpu-2", {"nvidia.com/gpu": "8"}),
]
pytestmark = pytest.mark.timeout(60)

SERVER = [sys.executable, "-m", "http.server", "8888", "--bind", "0.0.0.0"]


@dataclass
class Recorder:
    """Stands in for the service: records the events a spawner reports."""

    events: list[tuple[int, str, str]] = field(default_factory=list)

    async def workload_event(self, workload_id, event, message=""):
        self.events.append((workload_id, event, message))


@pytest.fixture
async def cluster(tmp_path, monkeypatch):
    async with FakeCluster(
        tmp_path / "k8s", nodes=NODES, claims={"ytung-data": tmp_path / "data"}
    ) as c:
        c.point_clients_here(monkeypatch)
        yield c
        await KubeSpawner._stop_all_reflectors()
        await c.close_clients()


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def make_spawner(cluster, recorder):
    def make(workload: dict | None = None, **traits) -> YtungKubeSpawner:
        traits.setdefault("cmd", SERVER)
        traits.setdefault("start_timeout", 20)
        spawner = YtungKubeSpawner(_mock=True, k8s_api_host=cluster.url, **traits)
        spawner.ytung_client = lambda: recorder
        if workload is not None:
            spawner.ytung_workload_id = workload["id"]
            spawner._ytung_admitted = True
            spawner.ytung_bind(workload)
        return spawner

    return make


def workload(wid: int = 7, placement=None, **extra) -> dict:
    return {
        "id": wid,
        "kind": "devenv",
        "owner": "ada",
        "vc": "vision",
        "device_type": "nvidia_gpu_amd64",
        "devices_per_node": 2,
        "placement": placement if placement is not None else {"gpu-2": [4, 5]},
        **extra,
    }


async def wait_for(predicate, timeout=20):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.1)


async def test_pod_manifest_is_kubespawners_plus_the_workload(make_spawner):
    spawner = make_spawner(
        workload(user_options={"devenv": {"privileged": True}}),
        data_pvc="ytung-data",
        data_root="/srv/ytung",
        resource_limits={"nvidia_gpu_amd64": {"mem_limit": "64Gi", "cpu_limit": "16"}},
    )
    pod = to_dict(await spawner.get_pod_manifest())
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {
        "cpu": "16",
        "memory": "64Gi",
        "nvidia.com/gpu": "2",
    }
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "400Mi"}
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["gpu-2"]
    assert container["securityContext"]["privileged"] is True
    assert container["securityContext"]["runAsUser"] == 0
    assert "--allow-root" in container["args"]
    assert pod["metadata"]["labels"]["ytung.io/workload-id"] == "7"
    assert pod["metadata"]["labels"]["component"] == "singleuser-server"  # the hub still finds it
    # a dev environment: its owner's home and the models; no other user's jobs or datasets
    assert {m["mountPath"] for m in container["volumeMounts"]} == {
        "/home/ada",
        "/srv/ytung/home/ada",
        "/srv/ytung/models",
    }
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["YTUNG_WORKLOAD_ID"] == "7" and env["YTUNG_DEVICE_IDS"] == "4,5"
    assert "CUDA_VISIBLE_DEVICES" not in env


async def test_privilege_only_from_the_service(make_spawner):
    spawner = make_spawner(workload())
    # a user may put anything in their own user_options through the hub API: ignored
    spawner.user_options = {"devenv": {"privileged": True}}
    pod = to_dict(await spawner.get_pod_manifest())
    assert pod["spec"]["containers"][0]["securityContext"].get("privileged") is not True
    assert "--allow-root" not in pod["spec"]["containers"][0]["args"]


async def test_start_poll_stop_through_the_fake(make_spawner, cluster, recorder):
    spawner = make_spawner(workload())
    url = await spawner._start()
    pod = cluster.api.get(PODS, "default", spawner.pod_name)
    assert url == f"http://{pod['status']['podIP']}:8888"
    assert pod["spec"]["nodeName"] == "gpu-2"  # the placement, not the first node
    assert await spawner.poll() is None
    await spawner.stop(now=True)
    assert cluster.api.get(PODS, "default", spawner.pod_name) is None
    assert cluster.kubelet.procs == {}


async def test_oom_killed_is_reported_failed_with_the_reason(make_spawner, cluster, recorder):
    spawner = make_spawner(workload(), resource_limits={"default": {"mem_limit": "1Gi"}})
    await spawner._start()
    cluster.kubelet.oom_kill("default", spawner.pod_name)
    status = None
    async with asyncio.timeout(20):
        while status is None:
            await asyncio.sleep(0.1)
            status = await spawner.poll()
    assert status == 137
    (event,) = recorder.events
    assert event[:2] == (7, "failed")
    assert event[2].startswith("OOMKilled: out of memory, the workload's limit is 1Gi")


def after(trigger, code: str) -> list[str]:
    """A container command that runs ``code`` once ``trigger`` exists (so the pod is seen
    Running first, as a server would be)."""
    wait = f"import os, time\nwhile not os.path.exists({str(trigger)!r}): time.sleep(0.05)\n"
    return [sys.executable, "-c", wait + code]


async def test_memory_over_the_limit_is_oom_killed_by_the_kubelet(
    make_spawner, cluster, recorder, tmp_path
):
    hog = after(tmp_path / "go", "x = bytearray(300 * 2**20)\ntime.sleep(60)")
    spawner = make_spawner(
        workload(),
        cmd=hog,
        resource_limits={"default": {"mem_limit": "200Mi", "mem_guarantee": "100Mi"}},
    )
    await spawner._start()
    (tmp_path / "go").touch()
    status = None
    async with asyncio.timeout(30):
        while status is None:
            await asyncio.sleep(0.2)
            status = await spawner.poll()
    assert status == 137
    assert recorder.events[-1][2].startswith("OOMKilled")


async def test_a_clean_exit_is_not_a_failure(make_spawner, cluster, recorder, tmp_path):
    spawner = make_spawner(workload(), cmd=after(tmp_path / "go", "pass"))
    await spawner._start()
    (tmp_path / "go").touch()
    status = None
    async with asyncio.timeout(20):
        while status is None:
            await asyncio.sleep(0.1)
            status = await spawner.poll()
    assert status == 0
    assert recorder.events == [(7, "stopped", "")]


async def test_distributed_workers_and_service_created_and_deleted(make_spawner, cluster):
    spawner = make_spawner(
        workload(
            12,
            placement={"gpu-1": [0, 1], "gpu-2": [2, 3]},
            user_options={"worker_command": "sleep 30"},
        )
    )
    await spawner._start()
    service = cluster.api.get(SERVICES, "default", "ytung-12")
    assert service["spec"]["clusterIP"] == "None"
    worker = cluster.api.get(PODS, "default", "ytung-12-worker-1")
    assert worker["spec"]["nodeName"] == "gpu-2"
    assert worker["spec"]["containers"][0]["command"] == ["sh", "-c", "sleep 30"]
    master = cluster.api.get(PODS, "default", spawner.pod_name)
    assert master["spec"]["nodeName"] == "gpu-1"
    for pod, rank in ((master, "0"), (worker, "1")):
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["RANK"] == rank and env["WORLD_SIZE"] == "2"
        assert env["MASTER_ADDR"] == "ytung-12-0.ytung-12.default.svc"
        assert env["MASTER_PORT"] == "29500"
    await wait_for(lambda: ("default", "ytung-12-worker-1") in cluster.kubelet.procs)
    await spawner.stop(now=True)
    assert cluster.pods("ytung.io/workload-id=12") == []
    assert cluster.api.get(SERVICES, "default", "ytung-12") is None


async def test_stop_after_a_hub_restart_still_deletes_the_workers(make_spawner, cluster):
    first = make_spawner(workload(13, placement={"gpu-1": [0], "gpu-2": [0]}))
    await first._start()
    state = first.get_state()
    second = make_spawner()  # a new hub: only the saved state
    second.load_state(state)
    assert second.ytung_workload["id"] == 13 and await second.poll() is None
    await second.stop(now=True)
    assert cluster.pods("ytung.io/workload-id=13") == []


async def test_a_failed_worker_creation_leaves_no_worker_and_no_service(
    make_spawner, cluster, monkeypatch
):
    """The second worker cannot be created (quota, API error): the first worker and the
    headless service go at once, not only when somebody calls stop."""
    spawner = make_spawner(
        workload(14, placement={"gpu-1": [0], "gpu-2": [0], "gpu-3": [0]}, devices_per_node=1)
    )
    create = spawner.api.create_namespaced_pod

    async def failing(namespace, body, *args, **kwargs):
        if body["metadata"]["name"] == "ytung-14-worker-2":
            raise RuntimeError("exceeded quota")
        return await create(namespace, body, *args, **kwargs)

    monkeypatch.setattr(spawner.api, "create_namespaced_pod", failing)  # a shared client
    with pytest.raises(RuntimeError, match="quota"):
        await spawner._start()
    assert cluster.pods("ytung.io/workload-id=14") == []
    assert cluster.api.get(SERVICES, "default", "ytung-14") is None


async def test_workers_go_even_when_the_masters_stop_fails(make_spawner, cluster):
    spawner = make_spawner(workload(15, placement={"gpu-1": [0], "gpu-2": [0]}), start_timeout=3)
    await spawner._start()
    assert len(cluster.pods("ytung.io/workload-id=15,component=ytung-worker")) == 1
    await cluster.api.patch(
        PODS, "default", spawner.pod_name, {"metadata": {"finalizers": ["x/y"]}}
    )
    with pytest.raises(TimeoutError):
        await spawner.stop(now=True)
    assert cluster.pods("ytung.io/workload-id=15,component=ytung-worker") == []
    assert cluster.api.get(SERVICES, "default", "ytung-15") is None
    await cluster.api.patch(PODS, "default", spawner.pod_name, {"metadata": {"finalizers": None}})


def training(wid: int, data_path: str | None = None, **extra) -> dict:
    job = {"id": 40 + wid, "data_path": data_path, "job_dir": f"/srv/ytung/jobs/{40 + wid}"}
    return workload(
        wid,
        kind="training",
        placement={"gpu-1": [0], "gpu-2": [1]},
        devices_per_node=1,
        job=job,
        user_options={"job": job},
        **extra,
    )


async def test_a_training_jobs_worker_pods_run_the_job_runner_of_their_node(make_spawner, cluster):
    """T3 on Kubernetes: each worker pod runs its node's ranks (``--node-rank K`` from the
    pod's env, expanded by the kubelet); the master learns it runs node 0 of 2."""
    assert YtungKubeSpawner.job_worker_cmd.default() == [
        "python", "-m", "ytung_server_ext.jobrunner", "--node-rank", "$(YTUNG_NODE_RANK)",
    ]  # fmt: skip
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    spawner = make_spawner(training(16), job_worker_cmd=[*sleeper, "$(YTUNG_NODE_RANK)"])
    await spawner._start()
    worker = cluster.api.get(PODS, "default", "ytung-16-worker-1")
    assert worker["spec"]["containers"][0]["command"] == [*sleeper, "$(YTUNG_NODE_RANK)"]
    master = cluster.api.get(PODS, "default", spawner.pod_name)
    for pod, node in ((master, "0"), (worker, "1")):
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["YTUNG_RUNTIME"] == "kubernetes"
        assert (env["YTUNG_NODE_RANK"], env["YTUNG_NODE_COUNT"]) == (node, "2")
        assert env["YTUNG_WORKLOAD_KIND"] == "training" and '"id": 56' in env["YTUNG_JOB"]
    key = ("default", "ytung-16-worker-1")
    await wait_for(lambda: key in cluster.kubelet.procs)
    import psutil

    assert psutil.Process(cluster.kubelet.procs[key].pid).cmdline()[-1] == "1"
    await spawner.stop(now=True)
    assert cluster.pods("ytung.io/workload-id=16") == []


async def test_a_dataset_no_pod_can_mount_fails_the_start_with_the_reason(make_spawner, cluster):
    """A dataset registered under a server path that no configured volume holds: nothing is
    created (no worker holds a node's devices) and the reason names the setting to change."""
    settings = {
        "data_pvc": "ytung-data",
        "data_root": "/srv/ytung",
        "dataset_path_volumes": {"/mnt/nfs": {}},
    }
    spawner = make_spawner(training(17, "/mnt/other/digits"), **settings)
    with pytest.raises(ValueError, match="dataset_path_volumes") as e:
        await spawner._start()
    assert "/mnt/other/digits" in str(e.value)
    assert cluster.pods("ytung.io/workload-id=17") == []
    assert cluster.api.get(SERVICES, "default", "ytung-17") is None
    # under a configured root: the pods mount it
    spawner = make_spawner(training(18, "/mnt/nfs/digits"), **settings)
    pod = to_dict(await spawner.get_pod_manifest())
    mount = pod["spec"]["containers"][0]["volumeMounts"][-1]
    assert (mount["mountPath"], mount["subPath"], mount["readOnly"]) == (
        "/mnt/nfs/digits",
        "digits",
        True,
    )


@pytest.mark.parametrize(
    "value",
    [{"relative/path": {}}, {"/d": {"hostPath": {}, "nfs": {}}}, {"/d": "pvc-name"}],
)
def test_dataset_path_volumes_are_checked(value):
    from traitlets import TraitError

    with pytest.raises(TraitError, match="dataset_path_volumes"):
        YtungKubeSpawner(_mock=True, dataset_path_volumes=value)


# --- D8 ------------------------------------------------------------------------------------
async def test_save_image_creates_the_commit_job_on_the_pods_node(make_spawner, cluster):
    spawner = make_spawner(
        workload(), image_save_tool_image="reg.local/tools/nerdctl:2.1", image_registry_secret="reg"
    )
    await spawner._start()
    job = await save_image(spawner, "reg.local/ada/env:v1", wait=False)
    stored = cluster.api.get(JOBS, "default", job["metadata"]["name"])
    pod = cluster.api.get(PODS, "default", spawner.pod_name)
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
    spec = stored["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"][2] == (
        f"nerdctl --namespace k8s.io commit {container_id} reg.local/ada/env:v1"
        " && nerdctl --namespace k8s.io push reg.local/ada/env:v1"
    )
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["gpu-2"]
    assert spec["volumes"][1]["secret"]["secretName"] == "reg"


async def test_save_image_waits_for_the_job(make_spawner, cluster):
    spawner = make_spawner(workload(), image_save_tool_image="t:1")
    await spawner._start()

    async def job_finishes(result: str):
        known = {j["metadata"]["name"] for j in cluster.api.items(JOBS)}
        await wait_for(lambda: {j["metadata"]["name"] for j in cluster.api.items(JOBS)} - known)
        (name,) = {j["metadata"]["name"] for j in cluster.api.items(JOBS)} - known
        await cluster.api.patch(JOBS, "default", name, {"status": {result: 1}})

    finisher = asyncio.create_task(job_finishes("succeeded"))
    done = await save_image(spawner, "reg/ada/env:v1", poll_interval=0.1)
    await finisher
    assert done["status"]["succeeded"] == 1

    finisher = asyncio.create_task(job_finishes("failed"))
    with pytest.raises(RuntimeError, match="saving reg/ada/env:v2 failed"):
        await save_image(spawner, "reg/ada/env:v2", poll_interval=0.1)
    await finisher


async def test_save_image_refuses_bad_input(make_spawner, cluster):
    spawner = make_spawner(workload())
    with pytest.raises(ValueError, match="not an image reference"):
        await save_image(spawner, "no tag here")
    with pytest.raises(ValueError, match="image_save_tool_image"):
        await save_image(spawner, "reg/ada/env:v1")
    spawner.image_save_tool_image = "t:1"
    from kubernetes_asyncio.client import ApiException

    with pytest.raises(ApiException):  # no pod at all
        await save_image(spawner, "reg/ada/env:v1")
    assert cluster.api.items(JOBS) == []


# --- D8 from the service: KubernetesInventory.save_image --------------------------------------
@pytest.fixture
async def inventory(cluster, monkeypatch):
    from kubernetes_asyncio import client

    from ytung_service.runtimes import KubernetesInventory

    monkeypatch.setenv("YTUNG_IMAGE_REGISTRY", "registry.local:5000/ytung/")
    monkeypatch.setenv("YTUNG_IMAGE_SAVE_TOOL", "registry.local:5000/tools/nerdctl:2.1")
    monkeypatch.setenv("YTUNG_K8S_NAMESPACE", "default")
    api = client.ApiClient(client.Configuration(host=cluster.url))
    yield KubernetesInventory(lambda: client.CoreV1Api(api))
    await api.close()


async def test_inventory_saves_the_servers_image(make_spawner, cluster, inventory):
    spawner = make_spawner(workload())
    await spawner._start()

    async def job_succeeds():
        await wait_for(lambda: cluster.api.items(JOBS))
        (job,) = cluster.api.items(JOBS)
        await cluster.api.patch(
            JOBS, "default", job["metadata"]["name"], {"status": {"succeeded": 1}}
        )

    finisher = asyncio.create_task(job_succeeds())
    saved = await inventory.save_image(
        owner="mock@name", server_name="", name="MyEnv", version="v1"
    )
    await finisher
    assert saved["image"] == "registry.local:5000/ytung/mock-name/myenv:v1"
    (job,) = cluster.api.items(JOBS)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert f"commit {objects_container(cluster, spawner)} {saved['image']}" in command
    assert job["metadata"]["labels"]["ytung.io/workload-id"] == "7"
    assert saved["start_command"][0] == SERVER[0]


def objects_container(cluster, spawner) -> str:
    pod = cluster.api.get(PODS, "default", spawner.pod_name)
    return pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]


@pytest.mark.parametrize(
    "owner, name, path",
    [
        ("mock@name", "MyEnv", "mock-name/myenv"),
        ("张三", "环境", None),  # nothing left: a hash, never an empty part
        ("a..b", "x__y", "a-b/x-y"),
    ],
)
def test_image_paths_are_valid_for_any_user_name(owner, name, path):
    from ytung_service.runtimes.kubernetes import image_path
    from ytung_spawner.objects import valid_image_ref

    got = image_path(owner, name)
    assert got == path if path else got.startswith("u-") and got != image_path("李四", "环境")
    assert valid_image_ref(f"registry.local:5000/ytung/{got}:v1")


async def test_inventory_save_image_refusals(make_spawner, cluster, inventory, monkeypatch):
    from ytung_service.errors import DomainError

    with pytest.raises(DomainError) as e:
        await inventory.save_image(owner="ada", server_name="devenv-1", name="x", version="1")
    assert e.value.status == 409  # no such running server
    spawner = make_spawner(workload())
    await spawner._start()

    async def job_fails():
        await wait_for(lambda: cluster.api.items(JOBS))
        (job,) = cluster.api.items(JOBS)
        await cluster.api.patch(JOBS, "default", job["metadata"]["name"], {"status": {"failed": 1}})

    # a tag the registry would refuse: a clear 400, no Job (not a 500)
    with pytest.raises(DomainError) as e:
        await inventory.save_image(owner="mock@name", server_name="", name="x", version="a b")
    assert e.value.status == 400 and "Cannot save the image" in str(e.value)
    assert cluster.api.items(JOBS) == []

    finisher = asyncio.create_task(job_fails())
    with pytest.raises(DomainError) as e:
        await inventory.save_image(owner="mock@name", server_name="", name="x", version="1")
    await finisher
    assert e.value.status == 502 and "see Job ytung-save-" in str(e.value)
    monkeypatch.delenv("YTUNG_IMAGE_SAVE_TOOL")
    with pytest.raises(DomainError) as e:
        await inventory.save_image(owner="mock@name", server_name="", name="x", version="1")
    assert e.value.status == 501


async def test_a_pod_stuck_terminating_fails_the_stop_in_the_launch_timeout(
    make_spawner, cluster, recorder
):
    spawner = make_spawner(workload(), start_timeout=3)
    assert spawner._ytung_launch_timeout == 3  # the mixin keeps it; start_timeout is stretched
    await spawner._start()
    # a finalizer nobody removes: the pod stays Terminating, as on a node that went away
    await cluster.api.patch(
        PODS, "default", spawner.pod_name, {"metadata": {"finalizers": ["x/y"]}}
    )
    with pytest.raises(TimeoutError):
        await spawner.stop(now=True)
    assert recorder.events == []  # nothing reported: the devices stay held
    assert spawner.start_timeout > 3  # restored
    await cluster.api.patch(PODS, "default", spawner.pod_name, {"metadata": {"finalizers": None}})


@pytest.mark.parametrize("origin, expected", [("service", "ytung/pytorch:cpu"), ("hub", "lab:1")])
async def test_only_service_started_environments_change_the_image(make_spawner, origin, expected):
    """D1 engines come from the service; a server started from the hub's own spawn page runs
    the spawner's image (its dev environment records that image)."""
    spawner = make_spawner(image="lab:1")
    spawner.ytung_bind(
        workload(origin=origin, user_options={"devenv": {"id": 1, "image": "ytung/pytorch:cpu"}})
    )
    assert spawner.image == expected
